"""``emoclassic cv``: cross-validation of a pipeline spec, with its reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import _examples, app
from ._options import DEFAULT_OUT, DataArgs, GroupsOpt, PipelineOpt, RunArgs, shared_options
from ._output import _HEADLINE, _headline, _mean, _partial, _print_csv, _say, _tell


@app.command(
    epilog=_examples(
        "emoclassic cv --corpus emodb:data/emodb --pipeline recommended-audio "
        "--cv logo --ablation --out artifacts/cv/emodb",
        "emoclassic cv --manifest my.csv --pipeline my-spec.toml --format json > report.json",
    )
)
@shared_options("jobs", "cache", "backend", "scheduler", "fmt", "progress")
def cv(
    pipeline: PipelineOpt,
    data: DataArgs,
    groups: GroupsOpt = None,
    scheme: Annotated[
        str | None,
        typer.Option(
            "--cv",
            help="auto | group | groupkfold | logo | split | stratified (default: the spec's).",
            metavar="SCHEME",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder.", metavar="DIR")] = DEFAULT_OUT
    / "cv",
    ablation: Annotated[
        bool, typer.Option("--ablation", help="Also score each modality alone.")
    ] = False,
    *,
    run: RunArgs,
) -> int:
    """Cross-validate a pipeline spec (nested grid search), write cv_report.json/.md/.html.

    `--format json` prints the cv_report itself (the content of cv_report.json).
    """
    from ..artifacts import check_writable
    from ..evaluation import run_cv, write_reports
    from ..spec import load_spec

    check_writable(out / "cv_report.json")  # fail now, not after the cross-validation
    spec = load_spec(pipeline)
    rows = data.load()
    _say(f"cross-validating {getattr(spec, 'name', pipeline)} on {len(rows)} utterances ...")
    report = run_cv(
        spec, rows, scheme=scheme, groups=groups, n_jobs=run.jobs, ablation=ablation,
        cache=run.cache_dir, progress=run.bars, backend=run.backend, scheduler=run.scheduler,
    )
    paths = write_reports(report, out) or {}
    if run.fmt == "json":  # the report exactly as written to cv_report.json
        typer.echo(Path(paths["json"]).read_text(encoding="utf-8").rstrip("\n"))
    elif run.fmt == "csv":
        _print_csv(["run", *_HEADLINE], _cv_rows(report))
    else:
        typer.echo(_cv_summary(report))
    for key, value in paths.items():
        _tell(f"{key:>12}: {value}")
    # the run finished without the failed items
    return _partial((report.get("data") or {}).get("failed") or [])


def _cv_rows(report: dict) -> list[list[Any]]:
    """One CSV row per run: the pipeline, then each ablation."""
    runs = [(report.get("name", "pipeline"), report.get("metrics"))]
    for name, entry in (report.get("ablation") or {}).items():
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        runs.append((name, metrics if metrics else entry))
    return [[name, *(_mean((m or {}).get(k)) for k in _HEADLINE)] for name, m in runs]


def _cv_summary(report: dict) -> str:
    lines = [f"{report.get('name', 'pipeline')}: {_headline(report.get('metrics'))}"]
    ablation = report.get("ablation") or {}
    for name, entry in ablation.items():
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        lines.append(f"  {name:>12}: {_headline(metrics if metrics else entry)}")
    return "\n".join(lines)
