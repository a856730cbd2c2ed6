"""Recognition quality on one corpus: baselines and the recommended audio specs, side by side.

Every row is a nested, speaker-grouped cross-validation through ``emoclassic.evaluation.run_cv``
(the grid is tuned inside each outer training part; the outer test speaker is predicted once),
leave-one-speaker-out by default. Rows:

- majority class (the harness's own baseline, on the same folds);
- plain log-mel mean/std (``logmel-meanstd`` preset, 128 dims) + RBF SVC: the bare librosa-style
  baseline, in both protocols;
- ``pipelines/pooled-svm.toml`` (the default preset + RBF SVC), both protocols;
- ``pipelines/recommended-audio.toml`` (inductive) and
  ``pipelines/recommended-audio-speaker-norm.toml`` (speaker-normalised);
- the audio / text / fused ablation of ``pipelines/early-pooled-text-svm.toml``
  (``run_cv(..., ablation=True)``; skip it with ``--no-ablation``).

    .venv/bin/python benchmarks/quality.py --corpus emodb:/work/shared/data/emodb
    .venv/bin/python benchmarks/quality.py --corpus emodb:/work/shared/data/emodb --out docs-table

``--out docs-table`` writes the table, with the command, into ``docs/benchmarks.md`` as the
section ``## Quality: <Corpus>`` (replacing that section only); ``--out FILE.json`` saves the rows.
Features go to ``--cache`` (default ``artifacts/cache``) so a rerun only refits the models.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import re
import sys
import textwrap
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emoclassic._atomic import atomic_write_text  # noqa: E402
from emoclassic.data import load_corpus  # noqa: E402
from emoclassic.evaluation import run_cv  # noqa: E402
from emoclassic.spec import load_spec  # noqa: E402

logger = logging.getLogger("quality")

#: the plain librosa-features baseline: log-mel band means and standard deviations, RBF SVC
LOGMEL_BASELINE = {
    "name": "logmel-meanstd-svm",
    "description": "log-mel mean/std (128 dims) + RBF SVM: the plain baseline",
    "fusion": "early",
    "scoring": "balanced_accuracy",
    "features": {"audio": {"type": "pooled", "preset": "logmel-meanstd"}},
    "classifier": {"name": "svc", "class_weight": "balanced"},
    "grid": {"classifier.C": [1.0, 10.0, 100.0], "classifier.gamma": ["scale", 0.003]},
    "cv": {"scheme": "group", "n_splits": 5, "groups": "speaker"},
}


def _with_speaker_norm(spec_dict: dict, on: bool) -> dict:
    out = dict(spec_dict)
    out["speaker_normalization"] = on
    out["name"] = f"{spec_dict.get('name', 'spec')}{'+spknorm' if on else ''}"
    return out


def _spec_dict(path: Path) -> dict:
    return load_spec(path).to_dict()


def _row(label: str, protocol: str, report: dict, key: str | None = None) -> dict:
    part = report if key is None else report["ablation"][key]
    m = part["metrics"]
    bp = part.get("best_params") or {}
    return {
        "row": label,
        "protocol": protocol,
        "ua": m["ua"],
        "wa": m["wa"],
        "macro_f1": m["macro_f1"],
        "best_params": ", ".join(f"{k.split('.')[-1]} {v}" for k, v in bp.items()),
        "cv_s": report["timing"]["cv"],
        "speaker_normalization": report["protocol"]["speaker_normalization"],
    }


def run(corpus: str, *, scheme: str, cache: str, n_jobs: int, ablation: bool) -> list[dict]:
    manifest = load_corpus(corpus)
    pipes = ROOT / "pipelines"
    plan: list[tuple[str, str, dict]] = [
        ("log-mel mean/std + RBF SVC", "inductive", _with_speaker_norm(LOGMEL_BASELINE, False)),
        ("log-mel mean/std + RBF SVC", "speaker-normalised",
         _with_speaker_norm(LOGMEL_BASELINE, True)),
        ("`pooled-svm.toml`", "inductive",
         _with_speaker_norm(_spec_dict(pipes / "pooled-svm.toml"), False)),
        ("`pooled-svm.toml`", "speaker-normalised",
         _with_speaker_norm(_spec_dict(pipes / "pooled-svm.toml"), True)),
        ("**`recommended-audio.toml`**", "inductive",
         _spec_dict(pipes / "recommended-audio.toml")),
        ("**`recommended-audio-speaker-norm.toml`**", "speaker-normalised",
         _spec_dict(pipes / "recommended-audio-speaker-norm.toml")),
    ]
    rows: list[dict] = []
    for label, protocol, spec in plan:
        t = time.perf_counter()
        rep = run_cv(spec, manifest, scheme=scheme, cache=cache, n_jobs=n_jobs)
        if not rows:  # the harness's majority baseline, on the same outer folds
            maj = rep["baselines"]["majority"]
            rows.append({"row": "majority class", "protocol": "-", "ua": maj["ua"],
                         "wa": maj["wa"], "macro_f1": maj["macro_f1"], "best_params": "",
                         "cv_s": 0.0, "speaker_normalization": False})
        rows.append(_row(label, protocol, rep))
        logger.info("%-45s %-18s UA %.3f (%.0f s)", label, protocol, rows[-1]["ua"],
                    time.perf_counter() - t)
    if ablation:
        rep = run_cv(pipes / "early-pooled-text-svm.toml", manifest, scheme=scheme, cache=cache,
                     n_jobs=n_jobs, ablation=True)
        for key in ("audio", "text"):
            rows.append(_row(f"`early-pooled-text-svm.toml` ablation: {key} only", "inductive",
                             rep, key) | {"cv_s": None})  # one run: its time is on the fused row
        rows.append(_row("`early-pooled-text-svm.toml` ablation: fused", "inductive", rep))
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| pipeline | protocol | UA | WA | macro F1 | best params (most frequent) | CV s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['row']} | {r['protocol']} | {r['ua']:.3f} | {r['wa']:.3f} | "
                     f"{r['macro_f1']:.3f} | {r['best_params']} | "
                     + ("" if r["cv_s"] is None else f"{r['cv_s']:.0f}") + " |")
    return "\n".join(lines)


def docs_section(title: str, rows: list[dict], command: str, scheme: str) -> str:
    n_cores = os.cpu_count()
    date = _dt.date.today().isoformat()
    intro = textwrap.fill(
        f"Script: `benchmarks/quality.py`. Nested speaker-grouped CV (`{scheme}` outer folds; the "
        "grid is tuned on grouped inner folds of each training part only, the outer test speaker "
        "is predicted once). UA = unweighted (balanced) accuracy, WA = accuracy. Inductive: "
        "nothing is learned from the test speaker. Speaker-normalised: each speaker's features "
        "are standardised with that speaker's own statistics (labels unused), the test speaker "
        f"included. Measured {date} on the project's {n_cores}-core shared machine "
        "(CV times are wall seconds with features cached, under load; the three ablation rows "
        "are one run).", width=96)
    return f"## Quality: {title}\n\n{intro}\n\n```\n{command}\n```\n\n{table(rows)}\n"


#: hand-written notes below this line in a section survive a rewrite of the table
NOTES_MARKER = "<!-- quality: notes below are kept when the table is rewritten -->"


def replace_section(md: str, title: str, section: str) -> str:
    """Swap the ``## Quality: <title>`` section (to the next ``## `` heading) or append it.

    Whatever follows :data:`NOTES_MARKER` in the old section (the analysis) is kept.
    """
    pat = re.compile(rf"^## Quality: {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    m = pat.search(md)
    if m is None:
        return md.rstrip("\n") + "\n\n" + section
    old = m.group(0)
    notes = old[old.index(NOTES_MARKER):].rstrip("\n") + "\n" if NOTES_MARKER in old else ""
    new = section.rstrip("\n") + "\n\n" + notes if notes else section
    return md[: m.start()] + new.rstrip("\n") + "\n" + ("\n" + md[m.end():].lstrip("\n")
                                                        if md[m.end():].strip() else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, help="NAME:DIR, e.g. emodb:/data/emodb")
    ap.add_argument("--cv", default="logo", help="outer scheme (default: leave one speaker out)")
    ap.add_argument("--cache", default="artifacts/cache")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-ablation", action="store_true", help="skip the audio/text/fused rows")
    ap.add_argument("--out", default=None,
                    help="'docs-table' (write docs/benchmarks.md) or a .json file for the rows")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("emoclassic",):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")

    rows = run(args.corpus, scheme=args.cv, cache=args.cache, n_jobs=args.jobs,
               ablation=not args.no_ablation)
    print(table(rows))
    if args.out == "docs-table":
        title = args.corpus.partition(":")[0].partition("[")[0]
        title = {"emodb": "EmoDB", "ravdess": "RAVDESS", "cremad": "CREMA-D",
                 "iemocap": "IEMOCAP"}.get(title.lower(), title)
        cmd = ".venv/bin/python benchmarks/quality.py " + " ".join(
            a if " " not in a else repr(a) for a in (sys.argv[1:] if argv is None else argv))
        docs = ROOT / "docs" / "benchmarks.md"
        atomic_write_text(docs, replace_section(docs.read_text(encoding="utf-8"), title,
                                                docs_section(title, rows, cmd, args.cv)))
        logger.info("wrote section 'Quality: %s' of %s", title, docs)
    elif args.out:
        atomic_write_text(Path(args.out), json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
