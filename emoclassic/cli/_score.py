"""``emoclassic score``: a saved model on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import _examples, app
from ._options import DataArgs, ExtraOpt, ModelOpt, RunArgs, Trust, extra_files, shared_options
from ._output import _HEADLINE, _headline, _mean, _partial, _print_csv, _print_json, _say, _tell


@app.command(
    epilog=_examples(
        "emoclassic score --model artifacts/emodb.joblib --corpus ravdess:data/ravdess "
        "--out artifacts/emodb_on_ravdess.json",
        "emoclassic score --model artifacts/demo/model.joblib "
        "--manifest artifacts/demo/corpus/manifest.csv --format json",
    )
)
@shared_options("jobs", "cache", "fmt", "progress")
def score(
    model: ModelOpt,
    data: DataArgs,
    split: Annotated[str | None, typer.Option(help="Score only this split (e.g. test).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the report here (JSON).",
                                             metavar="REPORT.json")] = None,
    extra: ExtraOpt = None,
    trust: Trust = False,
    *,
    run: RunArgs,
) -> int:
    """Score a saved model on labelled data, across corpora too (labels mapped, drops listed).

    `--format json` prints the score report (the same document `--out` writes), with the
    expected calibration error of the model's probabilities (`calibration.ece`).
    """
    from .._atomic import atomic_write_json
    from ..artifacts import _jsonable, check_writable, load_model
    from ..evaluation import score_model

    extras = extra_files(extra)
    if out is not None:
        check_writable(out)
    estimator, _info = load_model(model, trust=trust)
    rows = data.load()
    _say(f"scoring {model} on {len(rows)} utterances ...")
    report = score_model(estimator, rows, split=split, cache=run.cache_dir, n_jobs=run.jobs,
                         progress=run.bars, extra=extras)
    if out is not None:
        atomic_write_json(out, _jsonable(report))
    rdata = report.get("data") or {}
    ece = (report.get("calibration") or {}).get("ece")
    dropped = rdata.get("dropped_labels") or {}
    if run.fmt == "json":
        _print_json(report)
    elif run.fmt == "csv":
        metrics = report.get("metrics") or {}
        _print_csv(["model", "n_items", *_HEADLINE, "ece", "n_failed"],
                   [[str(model), rdata.get("n_items"), *(_mean(metrics.get(k)) for k in _HEADLINE),
                     ece, len(rdata.get("failed") or [])]])
    else:
        calib = "" if ece is None else f" ece={ece:.3f}"
        typer.echo(f"{model.name}: {_headline(report.get('metrics'))}{calib}")
    if dropped:
        _tell(
            "left out (labels the model does not know): "
            + ", ".join(f"{k} ({v})" for k, v in dropped.items())
        )
    if out is not None:
        _tell(f"wrote {out}")
    return _partial(rdata.get("failed") or [])
