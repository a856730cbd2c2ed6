"""``emoclassic predict``: the emotion of new recordings, or of text alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import _examples, app
from ._options import (
    LOW_CONFIDENCE,
    AbstainBelow,
    DataArgs,
    ExtraOpt,
    LowConfidence,
    ModelOpt,
    RunArgs,
    Trust,
    cache_folder,
    extra_files,
    shared_options,
)
from ._output import _finish, _print_json, _say


def _read_text_file(path: Path) -> str:
    from ..exceptions import DataError

    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DataError(f"--text-file {path}: not UTF-8 text; save it as UTF-8") from exc
    if not text:
        raise DataError(f"--text-file {path}: the file is empty; write the transcript in it")
    return text


@app.command(
    epilog=_examples(
        "emoclassic predict --model artifacts/demo/model.joblib clip.wav "
        "--text \"I can't believe you did that\"",
        "emoclassic predict --model model.joblib recordings/ --format json > predictions.json",
        "emoclassic predict --model model.joblib --manifest new.csv --format csv",
        "emoclassic predict --model model.joblib long_call.wav --window 5",
        "emoclassic predict --model model.joblib call.wav --window 2 --hop 0.5 --smooth 3",
        "emoclassic predict --model model.joblib --manifest new.csv --extra face=new_face.csv",
    )
)
@shared_options("jobs", "fmt", "progress")
def predict(
    model: ModelOpt,
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Audio files or folders (searched recursively).",
                       metavar="FILE|DIR..."),
    ] = None,
    *,
    data: DataArgs,
    text: Annotated[str | None, typer.Option(help="Transcript of the one recording (or, with "
                                             "no FILE, text alone for a text model).")] = None,
    text_file: Annotated[Path | None, typer.Option(help="File holding the transcript.",
                                                   metavar="F")] = None,
    speaker: Annotated[str | None, typer.Option(help="Speaker id of all the given files (for "
                                                "speaker-normalised models).")] = None,
    window: Annotated[float | None, typer.Option(help="Window length in seconds: per-window "
                                                 "and whole-file results (files over 30 s are "
                                                 "windowed anyway).", metavar="SECONDS")] = None,
    hop: Annotated[float | None, typer.Option(help="Seconds from one window's start to the "
                                              "next (default: the window length; smaller "
                                              "overlaps windows). Needs --window.",
                                              metavar="SECONDS")] = None,
    smooth: Annotated[int | None, typer.Option(help="Average each window's probabilities "
                                               "with the K-1 windows before it (default: "
                                               "off).", metavar="K")] = None,
    cache: Annotated[str | None, typer.Option(help="Feature cache folder (default: a temporary "
                                              "one).", metavar="DIR")] = None,
    extra: ExtraOpt = None,
    low_confidence: LowConfidence = LOW_CONFIDENCE,
    abstain_below: AbstainBelow = None,
    trust: Trust = False,
    run: RunArgs,
) -> int:
    """Predict the emotion of new recordings (any sample rate, any channels).

    Prints per-class probabilities; bad files are listed on stderr and the others still
    predicted (exit 1). Each item is also flagged out_of_distribution when it lies outside the
    model's training data (silence, noise, music, unlike recordings; one warning on stderr)
    and low_confidence when its top probability is below --low-confidence; with
    --abstain-below P the label is "uncertain" when the top probability is below P.
    `--format json` is the stable machine-readable form (docs/cli.md).
    """
    from .._windows import check_windows
    from ..exceptions import ConfigError

    check_windows(window, hop, smooth)  # a bad option fails before the model is loaded
    extras = extra_files(extra)
    if text is not None and text_file is not None:
        raise ConfigError("give the transcript once: --text or --text-file, not both")
    if text_file is not None:
        text = _read_text_file(text_file)
    if data.given and inputs:
        raise ConfigError("give FILE|DIR arguments or --manifest/--corpus, not both")

    from ..artifacts import load_model
    from ..data import prediction_inputs
    from ..prediction import predict_manifest, probability_source

    rows = prediction_inputs(
        data.load(require_labels=False, check_files=False) if data.given else inputs,
        text=text, speaker=speaker,
    )
    estimator, info = load_model(model, trust=trust)
    _say(f"predicting {len(rows)} item(s) with {model.name} ...")
    result = predict_manifest(
        estimator, rows, info=info, window=window, hop=hop, smooth=smooth,
        cache=cache_folder(cache), n_jobs=run.jobs,
        progress=run.bars, extra=extras, low_confidence=low_confidence,
        abstain_below=abstain_below,
    )
    model_info = {
        "path": str(model),
        "name": info.get("name"),
        "sha256": info.get("sha256"),
        "labels": result.labels,
        "modalities": info.get("modalities"),
        "probabilities": probability_source(estimator),
    }
    if run.fmt == "json":
        _print_json(result.to_dict(model_info))
    elif run.fmt == "csv" and result.predictions:
        typer.echo(_predictions_csv(result), nl=False)
    elif result.predictions:
        typer.echo(_predictions_table(result))
    return _finish(result.failures, len(result.predictions))


def _flag_cells(p: dict) -> tuple[str, str]:
    """``(ood score, flags)`` cells of a prediction or window for the table."""
    score = "-" if p.get("ood_score") is None else f"{p['ood_score']:.2f}"
    flags = [name for key, name in (("out_of_distribution", "OOD"),
                                    ("low_confidence", "low-conf")) if p.get(key)]  # fmt: skip
    return score, ",".join(flags)


def _predictions_table(result) -> str:
    labels = result.labels
    id_width = min(60, max([len("id")] + [len(p["id"]) for p in result.predictions]))
    head = (f"{'id':<{id_width}}  {'label':<12}" + "".join(f"{lab[:9]:>10}" for lab in labels)
            + f"{'ood':>8}  flags")  # fmt: skip
    lines = [head]
    for p in result.predictions:
        ident = p["id"] if len(p["id"]) <= id_width else "..." + p["id"][-(id_width - 3):]
        probs = "".join(f"{p['probabilities'][lab]:>10.3f}" for lab in labels)
        score, flags = _flag_cells(p)
        lines.append(f"{ident:<{id_width}}  {p['label']:<12}{probs}{score:>8}  {flags}".rstrip())
        for w in p.get("windows") or []:
            span = f"  [{w['start']:.1f}-{w['end']:.1f} s]"
            wprobs = "".join(f"{w['probabilities'][lab]:>10.3f}" for lab in labels)
            score, flags = _flag_cells(w)
            lines.append(f"{span:<{id_width}}  {w['label']:<12}{wprobs}{score:>8}  {flags}"
                         .rstrip())  # fmt: skip
    return "\n".join(lines)


def _csv_flags(p: dict) -> list[str]:
    """The trust columns of a CSV row: true/false, the numbers, empty for null."""
    def cell(value):
        if value is None:
            return ""
        return ("true" if value else "false") if isinstance(value, bool) else f"{value:g}"

    return [cell(p.get(key)) for key in ("out_of_distribution", "ood_score", "ood_threshold",
                                         "low_confidence")]  # fmt: skip


def _predictions_csv(result) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "path", "window", "start", "end", "label",
                     *[f"p_{lab}" for lab in result.labels],
                     "out_of_distribution", "ood_score", "ood_threshold", "low_confidence"])
    for p in result.predictions:
        writer.writerow([p["id"], p["path"] or "", "", "", "", p["label"],
                         *[f"{p['probabilities'][lab]:.6f}" for lab in result.labels],
                         *_csv_flags(p)])
        for k, w in enumerate(p.get("windows") or []):
            writer.writerow([p["id"], p["path"] or "", k, f"{w['start']:.3f}", f"{w['end']:.3f}",
                             w["label"],
                             *[f"{w['probabilities'][lab]:.6f}" for lab in result.labels],
                             *_csv_flags(w)])
    return buf.getvalue()
