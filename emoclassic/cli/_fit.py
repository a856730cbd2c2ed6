"""``emoclassic fit``: the final model, saved with its model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._app import _examples, app
from ._options import DEFAULT_OUT, DataArgs, GroupsOpt, PipelineOpt, RunArgs, shared_options
from ._output import _partial, _print_csv, _print_json, _say


def _params_from(path: Path) -> tuple[dict | None, dict | None]:
    """Best parameters and metrics of a cv_report.json."""
    from ..exceptions import ConfigError

    if path.is_dir():
        path = path / "cv_report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg}); give a cv_report.json") from exc
    if not isinstance(report, dict):
        raise ConfigError(f"{path}: not a cv_report.json (no object at top level)")
    params = report.get("best_params")
    if params is None:
        params = (report.get("final") or {}).get("best_params")
    if params is None:
        raise ConfigError(
            f"{path}: has no 'best_params'; run `emoclassic cv` on a spec with a grid, or drop "
            "--params-from"
        )
    return params, report.get("metrics")


def _select_splits(data, split: str | None):
    if not split:
        return data
    from ..exceptions import DataError

    wanted = [s.strip() for s in split.split(",") if s.strip()]
    if "split" not in data.columns:
        raise DataError(f"--split {split}: the data has no 'split' column; drop --split")
    chosen = data[data["split"].astype(str).isin(wanted)]
    if not len(chosen):
        have = sorted(data["split"].dropna().astype(str).unique())
        raise DataError(f"--split {split}: no rows; the data has splits {have}")
    return chosen.reset_index(drop=True)


@app.command(
    epilog=_examples(
        "emoclassic fit --corpus emodb:data/emodb --pipeline recommended-audio "
        "--params-from artifacts/cv/emodb/cv_report.json --out artifacts/emodb.joblib",
    )
)
@shared_options("jobs", "cache", "backend", "scheduler", "fmt", "progress")
def fit(
    pipeline: PipelineOpt,
    data: DataArgs,
    out: Annotated[Path, typer.Option(help="Model file to write (.joblib; its model card "
                                      ".json is written beside it).", metavar="MODEL.joblib")] =
    DEFAULT_OUT / "model.joblib",
    params_from: Annotated[
        Path | None, typer.Option(help="Use the best parameters of this cv_report.json.",
                                  metavar="REPORT")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Train only on these splits, e.g. train or train,dev.")
    ] = None,
    groups: GroupsOpt = None,
    *,
    run: RunArgs,
) -> int:
    """Fit the final model on all (or some splits of the) data and save it with its model card.

    The model card is MODEL.json beside MODEL.joblib; `--format json` prints it.
    """
    from ..artifacts import check_writable, save_model
    from ..evaluation import fit_final
    from ..exceptions import ConfigError
    from ..spec import load_spec

    if out.suffix.lower() != ".joblib":
        raise ConfigError(f"--out {out}: a model file name must end in .joblib (model.joblib)")
    check_writable(out)  # fail now, not after the training
    spec = load_spec(pipeline)
    rows = _select_splits(data.load(), split)
    params, cv_metrics = _params_from(params_from) if params_from is not None else (None, None)
    _say(f"fitting {getattr(spec, 'name', pipeline)} on {len(rows)} utterances ...")
    estimator = fit_final(spec, rows, params=params, groups=groups, cache=run.cache_dir,
                          n_jobs=run.jobs, backend=run.backend, scheduler=run.scheduler,
                          progress=run.bars)
    fit_info = getattr(estimator, "emoclassic_fit_", None) or {}
    failed = fit_info.get("failed") or []
    info = save_model(
        estimator, out, spec=spec, train_manifest=rows, cv_metrics=cv_metrics,
        extra={"params": fit_info.get("best_params", params), "n_fitted": fit_info.get("n_items"),
               "n_failed": len(failed)},
    )
    if run.fmt == "json":
        _print_json(info)
    elif run.fmt == "csv":
        _print_csv(["model", "model_card", "name", "labels", "n_fitted", "n_failed"],
                   [[info["model_path"], info["card_path"], info.get("name"),
                     ";".join(info.get("labels") or []), fit_info.get("n_items"), len(failed)]])
    else:
        typer.echo(f"wrote {info['model_path']} and {info['card_path']}")
        typer.echo(f"labels: {', '.join(info.get('labels') or [])}")
    return _partial(failed)  # the model was fitted without these items
