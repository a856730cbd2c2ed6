"""``emoclassic info``: a saved model's card, without loading the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import EXIT_OK, _examples, app
from ._options import RunArgs, shared_options
from ._output import _headline, _print_csv, _print_json


@app.command(epilog=_examples("emoclassic info artifacts/demo/model.joblib",
                              "emoclassic info artifacts/demo/model.joblib --format json"))
@shared_options("fmt", "as_json")
def info(
    model: Annotated[Path, typer.Argument(help="Model file (.joblib).", metavar="MODEL.joblib")],
    *,
    run: RunArgs,
) -> int:
    """Show a model's card (MODEL.json) and check its sha256, without loading the .joblib."""
    from ..artifacts import inspect_model
    from ..exceptions import ModelError

    data = inspect_model(model)
    if run.fmt == "json":
        _print_json(data)
    elif run.fmt == "csv":
        _print_csv(["field", "value"], _info_rows(data))
    else:
        typer.echo(_info_text(data))
    if not data["sha256_ok"]:
        raise ModelError(
            f"{data['model_path']}: sha256 does not match its model card: the file was altered or "
            "is corrupt; re-copy it or re-create it with `emoclassic fit`"
        )
    return EXIT_OK


def _info_rows(d: dict) -> list[list[Any]]:
    """The card's scalar fields, and lists joined by ';', as field/value rows."""
    rows: list[list[Any]] = []
    for key, value in d.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            rows.append([key, value])
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            rows.append([key, ";".join(value)])
    return rows


def _info_text(d: dict) -> str:
    lines = [
        f"model:        {d['model_path']}",
        f"name:         {d.get('name')}",
        f"created:      {d.get('created')}",
        f"sha256:       {d.get('sha256')} ({'ok' if d.get('sha256_ok') else 'MISMATCH'})",
        f"estimator:    {d.get('estimator')}",
        f"modalities:   {', '.join(d.get('modalities') or [])}",
        f"labels:       {', '.join(d.get('labels') or [])}",
    ]
    if d.get("speaker_normalization"):
        lines.append("speaker normalisation: yes (needs several utterances per speaker)")
    if "corpus" in str(d.get("normalization")) or d.get("adaptation") not in (None, "none"):
        lines.append(f"adaptation:   normalization {d.get('normalization')}, adaptation "
                     f"{d.get('adaptation')} (adapts to a new corpus's batch of 10 or more items)")
    notes = {k: (old, new) for k, old, new in d.get("version_notes") or []}
    vers = d.get("versions") or {}
    lines.append("versions:     " + ", ".join(
        f"{k} {v}" + (f" (installed: {notes[k][1]})" if k in notes else "")
        for k, v in vers.items() if v is not None
    ))
    for feat in d.get("features") or []:
        cls = feat.get("class", "?")
        extras = [f"{k}={feat[k]}" for k in ("preset", "layer", "pooling") if k in feat]
        if isinstance(feat.get("text_model"), dict):
            tm = feat["text_model"]
            extras.append(f"text model {tm.get('name')} (sha256 {str(tm.get('sha256'))[:12]})")
        if isinstance(feat.get("weights"), dict):
            w = feat["weights"]
            extras.append("pretrained weights" if w.get("pretrained") else
                          f"random weights (seed {w.get('seed')})")
        lines.append(f"feature:      {cls}" + (f" ({'; '.join(extras)})" if extras else ""))
    train = d.get("training_data") or {}
    if train:
        lines.append(f"trained on:   {train.get('n_utterances')} utterances; per class "
                     + ", ".join(f"{k}={v}" for k, v in (train.get("per_class") or {}).items()))
        if train.get("per_speaker"):
            lines.append(f"speakers:     {len(train['per_speaker'])}")
    if d.get("cv_metrics"):
        lines.append(f"cv metrics:   {_headline(d['cv_metrics'])}")
    lines.append(f"out of distribution: {_ood_text(d.get('out_of_distribution'))}")
    return "\n".join(lines)


def _ood_text(ood: dict | None) -> str:
    """The card's detector summary in one line (what `predict` flags, and how it was set)."""
    if not ood:
        return "no detector (saved before emoclassic had one); predictions carry no flag"
    cal = ood.get("calibration") or {}
    mods = ", ".join(f"{m} ({', '.join(v.get('blocks') or [])})"
                     for m, v in (ood.get("modalities") or {}).items())
    rate = cal.get("flag_rate")
    return (f"{ood.get('method')} over {mods or 'no block'}; threshold set to flag "
            f"{ood.get('target_rate')} of out-of-fold training items"
            + (f" (flagged {rate})" if rate is not None else ""))
