"""``emoclassic cv``: cross-validation of a pipeline spec, with its reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import _examples, app
from ._options import DEFAULT_OUT, DataArgs, GroupsOpt, PipelineOpt, RunArgs, shared_options
from ._output import _HEADLINE, _headline, _mean, _partial, _print_csv, _say, _tell

#: --test-corpus / --test-manifest: train on the data, score these once (cross-corpus)
TestCorpusOpt = Annotated[
    list[str] | None,
    typer.Option("--test-corpus", help="Train on --corpus/--manifest only, then score this "
                 "corpus once (NAME:DIR; repeat for several): the report's cross_corpus. The "
                 "in-corpus CV still runs.", metavar="NAME:DIR"),
]
TestManifestOpt = Annotated[
    list[Path] | None,
    typer.Option("--test-manifest", help="As --test-corpus, for a manifest file (named by its "
                 "corpus column, else its file stem).", metavar="M"),
]


@app.command(
    epilog=_examples(
        "emoclassic cv --corpus emodb:data/emodb --pipeline recommended-audio "
        "--cv logo --ablation --out artifacts/cv/emodb",
        "emoclassic cv --corpus emodb:data/emodb --test-corpus emovo:data/emovo "
        "--pipeline pooled-svm --classes shared --out artifacts/cv/emodb-to-emovo",
        "emoclassic cv --corpus emodb:data/emodb --corpus emovo:data/emovo --cv corpus "
        "--pipeline pooled-svm --out artifacts/cv/loco",
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
            help="auto | group | groupkfold | logo | split | stratified | corpus (leave one "
            "corpus out; needs several corpora) (default: the spec's).",
            metavar="SCHEME",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder.", metavar="DIR")] = DEFAULT_OUT
    / "cv",
    ablation: Annotated[
        bool, typer.Option("--ablation", help="Also score each modality alone.")
    ] = False,
    test_corpus: TestCorpusOpt = None,
    test_manifest: TestManifestOpt = None,
    *,
    run: RunArgs,
) -> int:
    """Cross-validate a pipeline spec (nested grid search), write cv_report.json/.md/.html.

    With `--test-corpus`/`--test-manifest`, also fit on the training data and score each test
    set once (cross-corpus). `--format json` prints the cv_report itself (the content of
    cv_report.json).
    """
    from ..artifacts import check_writable
    from ..evaluation import run_cv, write_reports
    from ..spec import load_spec

    check_writable(out / "cv_report.json")  # fail now, not after the cross-validation
    spec = load_spec(pipeline)
    tests = _test_sets(data, test_corpus, test_manifest)
    rows = data.load(other_manifests=bool(test_manifest))
    _say(f"cross-validating {getattr(spec, 'name', pipeline)} on {len(rows)} utterances"
         + (f", then testing on {', '.join(tests)}" if tests else "") + " ...")
    report = run_cv(
        spec, rows, scheme=scheme, groups=groups, n_jobs=run.jobs, ablation=ablation,
        cache=run.cache_dir, progress=run.bars, backend=run.backend, scheduler=run.scheduler,
        test_sets=tests or None,
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
    # the run finished without the failed items (training or test)
    failed = list((report.get("data") or {}).get("failed") or [])
    for entry in (report.get("cross_corpus") or {}).values():
        failed += entry.get("failed") or []
    return _partial(failed)


def _test_sets(data: DataArgs, corpora: list[str] | None, manifests: list[Path] | None
               ) -> dict[str, Any]:  # fmt: skip
    """The test sets of --test-corpus/--test-manifest, read with the training data's label
    map and column names; {} without any."""
    if not corpora and not manifests:
        return {}
    from ..data import load_test_sets

    return load_test_sets(
        manifests or (), corpora or (), label_map=data.label_map,
        label_column=data.label_column, text_column=data.text_column,
        path_column=data.path_column, speaker_column=data.speaker_column,
    )


def _cv_rows(report: dict) -> list[list[Any]]:
    """One CSV row per run: the pipeline, then each ablation, then each test set
    (``cross_corpus:NAME``)."""
    runs = [(report.get("name", "pipeline"), report.get("metrics"))]
    for name, entry in (report.get("ablation") or {}).items():
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        runs.append((name, metrics if metrics else entry))
    for name, entry in (report.get("cross_corpus") or {}).items():
        runs.append((f"cross_corpus:{name}", entry.get("metrics")))
    return [[name, *(_mean((m or {}).get(k)) for k in _HEADLINE)] for name, m in runs]


def _cv_summary(report: dict) -> str:
    lines = [f"{report.get('name', 'pipeline')}: {_headline(report.get('metrics'))}"]
    ablation = report.get("ablation") or {}
    for name, entry in ablation.items():
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        lines.append(f"  {name:>12}: {_headline(metrics if metrics else entry)}")
    in_corpus = _mean((report.get("metrics") or {}).get("ua"))
    for name, entry in (report.get("cross_corpus") or {}).items():
        ref = "" if in_corpus is None else f"; in-corpus ua={in_corpus:.3f}"
        lines.append(f"  test {name}: {_headline(entry.get('metrics'))} (n={entry.get('n')}, "
                     f"{entry.get('n_dropped', 0)} dropped{ref})")
    return "\n".join(lines)
