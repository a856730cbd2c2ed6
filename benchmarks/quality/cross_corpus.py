"""Cross-corpus quality: train on one corpus, test on another, with each adaptation option.

The question of issue 17: does a model trained on corpus A work on corpus B? For two corpora
given as ``--corpus A:DIR --corpus B:DIR``, both directions (A → B, B → A), on one label space
(``--classes``, default the classes both hold), each *system* with each *adaptation option*:

- systems: the issue's anchor, openSMILE ComParE_2016 + linear SVM (C tuned on the source
  corpus by grouped CV; the SVM's own labels, no calibration, as the anchor was measured);
  ``recommended-audio`` (its two pooled blocks and two linear SVMs as shipped);
  ``recommended-cross-corpus`` as shipped (its own adaptation, one row);
- options: ``normalization = "none"`` (the scaler fitted on the source only), ``"corpus"``
  (each corpus standardised with its own statistics), ``"speaker"`` (each speaker's; reads
  the test speakers' unlabelled rows) and ``adaptation = "coral"``.

Every cell goes through the product path, ``run_cv(spec, source, test_sets={target: ...})``
(what ``emoclassic cv --corpus A:DIR --test-corpus B:DIR --classes ...`` runs): the in-corpus
nested CV on the source (its UA is the *in-corpus* column), then one model tuned by folds
grouped by speaker on the whole source and scored once on the target (the *cross* column).

    .venv/bin/python benchmarks/quality/cross_corpus.py --corpus emodb:/work/shared/data/emodb \\
        --corpus emovo:/work/shared/data/emovo \\
        --classes anger,disgust,fear,happiness,neutral,sadness --cache artifacts/cache \\
        --out docs-table
    .venv/bin/python benchmarks/quality/cross_corpus.py --smoke   # two pseudo-corpora, seconds

``--out docs-table`` writes the section ``## Quality: across corpora`` of docs/benchmarks.md
(notes under the marker are kept); ``--out FILE.json`` saves the rows (each with its full
``cross_corpus`` metrics and best parameters). ``--systems``/``--options`` run a subset.
``--smoke`` cuts two pseudo-corpora (different speakers) from a generated demo corpus, swaps
the openSMILE block for a pooled one when opensmile is not installed, keeps the first value
of every grid list, runs only the anchor and the shipped spec, without and with CORAL
(``--systems``/``--options`` to change), and writes the docs section into a temporary copy.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from benchmarks import _common as bench  # noqa: E402

logger = logging.getLogger("cross_corpus")

#: the issue's anchor: openSMILE ComParE_2016 functionals, standardised, into a linear SVM
#: whose C is tuned on the source corpus by speaker-grouped CV
ANCHOR = {
    "name": "compare-linear-svm",
    "description": "openSMILE ComParE_2016 + linear SVM: the issue's anchor",
    "fusion": "early",
    "scoring": "balanced_accuracy",
    "features": {"audio": {"type": "opensmile", "feature_set": "ComParE_2016"}},
    "classifier": {"name": "linear_svc_kernel", "class_weight": "balanced",
                   "calibration": "none"},
    "grid": {"classifier.C": [0.0001, 0.0003, 0.001, 0.003, 0.01]},
    "cv": {"scheme": "group", "n_splits": 5, "groups": "speaker"},
}

#: system name -> where its spec comes from (a dict, or a shipped spec's name)
SYSTEMS = {
    "anchor": ANCHOR,
    "recommended-audio": "recommended-audio",
    "recommended-audio-speaker-norm": "recommended-audio-speaker-norm",
    "recommended-cross-corpus": "recommended-cross-corpus",
}
#: the label of each system in the table
SYSTEM_LABELS = {
    "anchor": "openSMILE ComParE_2016 + linear SVM (anchor)",
    "recommended-audio": "`recommended-audio` blocks and classifiers",
    "recommended-audio-speaker-norm": "`recommended-audio-speaker-norm`'s block and classifier",
    "recommended-cross-corpus": "**`recommended-cross-corpus`** (as shipped)",
}
#: adaptation option -> the spec keys it sets
OPTIONS = {
    "none": {"normalization": "none", "adaptation": "none"},
    "corpus": {"normalization": "corpus", "adaptation": "none"},
    "speaker": {"normalization": "speaker", "adaptation": "none"},
    "coral": {"normalization": "none", "adaptation": "coral"},
}
#: systems run only as shipped (their own option)
AS_SHIPPED = ("recommended-cross-corpus",)

#: the issue's anchor figures (ComParE + linear SVM, measured elsewhere), by option
ISSUE_ANCHOR = {("emodb", "emovo"): {"none": 0.363, "corpus": 0.409, "speaker": 0.443},
                ("emovo", "emodb"): {"none": 0.538, "corpus": 0.574, "speaker": 0.612}}

#: what ``--smoke`` runs unless told (seconds, not minutes)
SMOKE_SYSTEMS = "anchor,recommended-cross-corpus"
SMOKE_OPTIONS = "none,coral"

SECTION = "across corpora"
NOTES_MARKER = "<!-- quality: notes below are kept when the table is rewritten -->"


# --------------------------------------------------------------------------- specs
def system_spec(system: str, option: str | None, *, smoke: bool = False) -> dict:
    """The spec dict of ``system`` with ``option``'s keys (None: as shipped)."""
    from emoclassic.spec import load_spec

    source = SYSTEMS[system]
    spec = copy.deepcopy(source) if isinstance(source, dict) else load_spec(source).to_dict()
    if option is not None:
        spec.pop("speaker_normalization", None)
        for block in (spec.get("features") or {}).values():
            for key in ("normalization", "adaptation", "speaker_normalization"):
                block.pop(key, None)
        spec.update(OPTIONS[option])
        spec["name"] = f"{spec.get('name', system)}+{option}"
    return smoke_spec(spec) if smoke else spec


def _opensmile_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("opensmile") is not None


def smoke_spec(spec: dict) -> dict:
    """Seconds instead of minutes: the first value of every grid list, and a pooled block in
    place of openSMILE when it is not installed."""
    spec = copy.deepcopy(spec)
    spec["grid"] = {k: v[:1] if isinstance(v, list) else v
                    for k, v in (spec.get("grid") or {}).items()}  # fmt: skip
    if not _opensmile_installed():
        for block in (spec.get("features") or {}).values():
            if block.get("type") == "opensmile":
                block.clear()
                block.update({"type": "pooled", "preset": "compact"})
    return spec


# --------------------------------------------------------------------------- runs
def run_cell(spec: dict, source, target_name: str, target, *, cache, n_jobs) -> dict:
    """One system, option and direction: in-corpus and cross-corpus figures."""
    from emoclassic.evaluation import run_cv

    t = bench.timed(run_cv, spec, source, cache=cache, n_jobs=n_jobs,
                    test_sets={target_name: target})  # fmt: skip
    rep = t.result
    cross = rep["cross_corpus"][target_name]
    return {
        "in_corpus": dict(rep["metrics"]),
        "cross": dict(cross["metrics"]),
        "per_class": {k: v.get("recall") for k, v in cross["per_class"].items()},
        "n_test": cross["n"],
        "n_dropped": cross["n_dropped"],
        "best_params": cross["best_params"],
        "protocol": {k: rep["protocol"].get(k) for k in ("normalization", "adaptation")},
        "seconds": round(t.wall, 1),
    }


def run(corpora: dict, classes, *, systems, options, cache, n_jobs, smoke=False,
        on_row=None) -> list[dict]:  # fmt: skip
    """Every (system, option, direction) cell; ``corpora``: name -> (inputs kwargs).
    ``on_row(rows)`` after each cell (a long run saves what it has)."""
    from emoclassic.data import load_inputs, load_test_sets

    names = list(corpora)
    train, test = {}, {}
    for name in names:
        train[name], _ = load_inputs(classes=classes, **corpora[name])
        test[name] = next(iter(load_test_sets(**corpora[name]).values()))
    rows = []
    for system in systems:
        opts = [None] if system in AS_SHIPPED else list(options)
        for option in opts:
            spec = system_spec(system, option, smoke=smoke)
            for src, tgt in ((names[0], names[1]), (names[1], names[0])):
                cell = run_cell(spec, train[src], tgt, test[tgt], cache=cache, n_jobs=n_jobs)
                row = {"system": system, "option": option or "as shipped", "source": src,
                       "target": tgt, **cell}  # fmt: skip
                rows.append(row)
                logger.info("%-26s %-10s %s -> %s: cross UA %.3f, in-corpus UA %.3f (%.0f s, "
                            "load %.1f)", system, row["option"], src, tgt, cell["cross"]["ua"],
                            cell["in_corpus"]["ua"], cell["seconds"], bench.load1())  # fmt: skip
                if on_row is not None:
                    on_row(rows)
    return rows


# --------------------------------------------------------------------------- the table
def _f(x) -> str:
    return "" if x is None else f"{x:.3f}"


def table(rows: list[dict]) -> str:
    """One line per system and option: cross UA both ways, in-corpus UA of each source, and
    the issue's anchor figure for the same option where it has one."""
    dirs = list(dict.fromkeys((r["source"], r["target"]) for r in rows))
    cells = {(r["system"], r["option"], r["source"], r["target"]): r for r in rows}
    head = ["system", "adaptation"]
    head += [f"{s} → {t} UA" for s, t in dirs] + [f"{s} → {t} macro F1" for s, t in dirs]
    head += [f"in-corpus UA {s}" for s, _ in dirs]
    head += [f"issue's anchor {s} → {t}" for s, t in dirs]
    out = []
    for system, option in dict.fromkeys((r["system"], r["option"]) for r in rows):
        got = [cells.get((system, option, s, t)) for s, t in dirs]
        line = [SYSTEM_LABELS.get(system, system), option]
        line += [_f(g["cross"]["ua"]) if g else "" for g in got]
        line += [_f(g["cross"]["macro_f1"]) if g else "" for g in got]
        line += [_f(g["in_corpus"]["ua"]) if g else "" for g in got]
        line += [_f(ISSUE_ANCHOR.get(d, {}).get(option)) if system == "anchor" else ""
                 for d in dirs]  # fmt: skip
        out.append(line)
    return bench.markdown_table(head, out)


def params_table(rows: list[dict]) -> str:
    head = ["system", "adaptation", "direction", "best params (cross model)", "run s"]
    out = [[SYSTEM_LABELS.get(r["system"], r["system"]), r["option"],
            f"{r['source']} → {r['target']}",
            ", ".join(f"{k.split('.')[-1]}={v}" for k, v in (r["best_params"] or {}).items()),
            f"{r['seconds']:.0f}"] for r in rows]  # fmt: skip
    return bench.markdown_table(head, out)


def docs_section(rows: list[dict], command: str, classes, loads) -> str:
    n = {(r["source"], r["target"]): (r["n_test"], r["n_dropped"]) for r in rows}
    sizes = "; ".join(f"{s} → {t}: {a} test items ({b} of other classes dropped)"
                      for (s, t), (a, b) in n.items())  # fmt: skip
    intro = (
        "Script: `benchmarks/quality/cross_corpus.py`. Each cell is one `run_cv(spec, source, "
        "test_sets={target: ...})` (what `emoclassic cv --corpus A:DIR --test-corpus B:DIR "
        "--classes ...` runs): the in-corpus nested CV on the source (5 speaker-grouped outer "
        "folds, the spec's grid tuned on grouped inner folds), then one model tuned on the "
        "whole source by speaker-grouped folds and scored once on the target. "
        f"Classes: {', '.join(classes) if classes else 'shared'}; {sizes}. "
        + (f"{bench.describe_machine()}; 1-minute load {loads[0]} at the start, {loads[1]} at "
           "the end." if loads[0] is not None else "Rows merged from the runs named below.")
    )
    import textwrap

    return (f"## Quality: {SECTION}\n\n{textwrap.fill(intro, width=96)}\n\n```\n{command}\n```\n\n"
            f"{table(rows)}\n\n{params_table(rows)}\n")  # fmt: skip


def replace_section(md: str, section: str) -> str:
    """Swap the ``## Quality: across corpora`` section (to the next ``## ``) or append it,
    keeping whatever follows :data:`NOTES_MARKER` in the old one."""
    import re

    pat = re.compile(rf"^## Quality: {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    m = pat.search(md)
    if m is None:
        return md.rstrip("\n") + "\n\n" + section
    old = m.group(0)
    notes = old[old.index(NOTES_MARKER):].rstrip("\n") + "\n" if NOTES_MARKER in old else ""
    new = section.rstrip("\n") + "\n\n" + notes if notes else section
    rest = md[m.end():]
    return md[: m.start()] + new.rstrip("\n") + "\n" + ("\n" + rest.lstrip("\n")
                                                        if rest.strip() else "")  # fmt: skip


def report(rows: list[dict], out: str | None, docs: Path, command: str, classes, loads) -> None:
    from emoclassic._atomic import atomic_write_text

    print(table(rows))
    if out == "docs-table":
        atomic_write_text(docs, replace_section(docs.read_text(encoding="utf-8"),
                                                docs_section(rows, command, classes, loads)))
        logger.info("wrote section 'Quality: %s' of %s", SECTION, docs)
    elif out:
        bench.write_json(out, rows)


# --------------------------------------------------------------------------- smoke
def smoke_corpora(folder: Path) -> dict:
    """Two pseudo-corpora from one generated demo corpus: its speakers split in halves."""
    demo = bench.make_clips(folder / "demo", speakers=6, per_class=2, seconds=(0.5, 0.8))
    speakers = sorted(demo["speaker"].astype(str).unique())
    out = {}
    for name, half in (("demoa", speakers[::2]), ("demob", speakers[1::2])):
        part = demo[demo["speaker"].astype(str).isin(half)].copy()
        part["corpus"] = name
        part = part.drop(columns=[c for c in ("split",) if c in part.columns])
        path = folder / f"{name}.csv"
        part.to_csv(path, index=False)
        out[name] = {"manifests": [str(path)]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", action="append", default=[],
                    help="NAME:DIR, exactly twice (both directions are run)")
    ap.add_argument("--classes", default="shared",
                    help="label space: shared (default) or a comma-separated list")
    ap.add_argument("--systems", default=None,
                    help=f"comma-separated subset of {', '.join(SYSTEMS)} (default: all; "
                         f"--smoke: {SMOKE_SYSTEMS})")
    ap.add_argument("--options", default=None,
                    help=f"comma-separated subset of {', '.join(OPTIONS)} (default: all; "
                         f"--smoke: {SMOKE_OPTIONS})")
    ap.add_argument("--cache", default="artifacts/cache")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=None,
                    help="'docs-table' (write docs/benchmarks.md) or a .json file for the rows "
                         "(written after every cell)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="FILE.json",
                    help="no run: the table from rows saved by earlier runs (--out FILE.json)")
    args = bench.parse_args(ap, argv)
    if len(args.corpus) != 2 and not args.smoke and not args.merge:
        ap.error("give --corpus NAME:DIR exactly twice")
    if args.systems is None:
        args.systems = SMOKE_SYSTEMS if args.smoke else ",".join(SYSTEMS)
    if args.options is None:
        args.options = SMOKE_OPTIONS if args.smoke else ",".join(OPTIONS)
    systems = [s for s in args.systems.split(",") if s]
    options = [o for o in args.options.split(",") if o]
    unknown = [s for s in systems if s not in SYSTEMS] + [o for o in options if o not in OPTIONS]
    if unknown:
        ap.error(f"unknown system or option: {', '.join(unknown)}")
    classes = None if args.classes == "shared" else [c for c in args.classes.split(",") if c]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("emoclassic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    command = "nice -n 10 .venv/bin/python benchmarks/quality/cross_corpus.py " + " ".join(
        a if " " not in a else repr(a) for a in (sys.argv[1:] if argv is None else argv))
    docs = bench.ROOT / "docs" / "benchmarks.md"
    start = bench.load1()
    if args.merge:
        import json

        rows = [r for f in args.merge for r in json.loads(Path(f).read_text(encoding="utf-8"))]
        report(rows, args.out, docs, command, classes, (None, None))
        return 0
    if not args.smoke:
        corpora = {c.partition(":")[0].partition("[")[0]: {"corpora": [c]} for c in args.corpus}
        save = (lambda rows: bench.write_json(args.out, rows)) if args.out and \
            args.out.endswith(".json") else None
        rows = run(corpora, classes or "shared", systems=systems, options=options,
                   cache=args.cache, n_jobs=args.jobs, on_row=save)  # fmt: skip
        report(rows, args.out, docs, command, classes, (start, bench.load1()))
        return 0
    with bench.workdir(prefix="bench_cross_corpus_") as tmp:
        corpora = smoke_corpora(tmp)
        rows = run(corpora, classes or "shared", systems=systems, options=options,
                   cache=str(tmp / "cache"), n_jobs=1, smoke=True)  # fmt: skip
        smoke_docs = tmp / "benchmarks.md"
        smoke_docs.write_text(docs.read_text(encoding="utf-8"), encoding="utf-8")
        report(rows, "docs-table", smoke_docs, command, classes, (start, bench.load1()))
        assert f"## Quality: {SECTION}" in smoke_docs.read_text(encoding="utf-8")
        bench.write_json(tmp / "rows.json", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
