"""Recognition quality on one corpus: baselines and the recommended specs, side by side.

Every row is a nested cross-validation through ``emoclassic.evaluation.run_cv`` (the grid is
tuned on the training part only; the outer test part is predicted once). One command per corpus
gives the whole table; which rows run depends on what the corpus holds:

**Audio corpora** (rows have audio files), leave-one-speaker-out by default (``--cv``), UA first:

- majority class (the harness's own baseline, on the same folds);
- plain log-mel mean/std (``logmel-meanstd`` preset, 128 dims) + RBF SVC: the bare librosa-style
  baseline, in both protocols;
- ``pipelines/pooled-svm.toml`` (the default preset + RBF SVC), both protocols;
- ``pipelines/recommended-audio.toml`` (inductive) and
  ``pipelines/recommended-audio-speaker-norm.toml`` (speaker-normalised);
- ``pipelines/recommended-text.toml`` (transcripts only) and
  ``pipelines/recommended-fusion.toml`` (audio + text, inductive);
- the audio / text / fused ablation of ``recommended-fusion.toml`` (``run_cv(...,
  ablation=True)``; skip it with ``--no-ablation``).

**Text corpora** (no audio, e.g. ``--corpus meld:/work/shared/data/meld_text``), the corpus's
own split when it has one (tuned on dev, refitted on train+dev, scored once on test), weighted
F1 first:

- majority class;
- TF-IDF + logistic regression (``pipelines/split-text-tfidf-logreg.toml``);
- frozen all-MiniLM-L6-v2 (last layer, mean) + logistic regression: the issue's anchor recipe;
- ``pipelines/recommended-text.toml``;
- the context ablation in spec form (MiniLM + LR: no context, 1 past turn, 1 future turn, both;
  with and without speaker names; skip it with ``--no-ablation``).

    .venv/bin/python benchmarks/quality/corpus.py --corpus emodb:/work/shared/data/emodb
    .venv/bin/python benchmarks/quality/corpus.py --corpus meld:/work/shared/data/meld_text
    .venv/bin/python benchmarks/quality/corpus.py --smoke   # a tiny demo corpus, both modes

``--out docs-table`` writes the table, with the command, into ``docs/benchmarks.md`` as the
section ``## Quality: <Corpus>`` (replacing that section only, keeping the notes under
:data:`NOTES_MARKER`); ``--out FILE.json`` saves the rows. Features go to ``--cache`` (default
``artifacts/cache``) so a rerun only refits the models. ``--smoke`` runs every row of both
tables on a tiny generated demo corpus (audio + transcripts, then its transcripts alone) and
writes the docs sections into a temporary copy of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import logging
import os
import re
import sys
import textwrap
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
import numpy as np  # noqa: E402

from benchmarks import _common as bench  # noqa: E402
from emoclassic._atomic import atomic_write_text  # noqa: E402
from emoclassic.data import load_corpus  # noqa: E402
from emoclassic.evaluation import run_cv  # noqa: E402
from emoclassic.spec import load_spec  # noqa: E402

logger = logging.getLogger("quality")

PIPES = bench.ROOT / "pipelines"

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

#: the issue's text anchor: frozen all-MiniLM-L6-v2 sentence vectors (the model's own sentence
#: embedding: last layer, mean pooling), standardised, into logistic regression
MINILM_LR = {
    "name": "minilm-logreg",
    "description": "frozen all-MiniLM-L6-v2 (last layer, mean) + logistic regression",
    "fusion": "early",
    "scoring": "f1_weighted",
    "features": {"text": {"type": "text", "layer": "last", "pooling": "mean"}},
    "classifier": {"name": "logreg"},
    "grid": {"classifier.C": [0.003, 0.01, 0.03, 0.1, 0.3]},
    "cv": {"scheme": "auto", "n_splits": 5, "groups": "speaker"},
}

#: the context ablation (EmoBERTa's Table 1, frozen): (label, past, future)
CONTEXTS = (("no context", 0, 0), ("past 1", 1, 0), ("future 1", 0, 1),
            ("past 1 + future 1", 1, 1))  # fmt: skip

METRICS = ("ua", "wa", "macro_f1", "weighted_f1")
METRIC_NAMES = {"ua": "UA", "wa": "WA", "macro_f1": "macro F1", "weighted_f1": "weighted F1"}


# --------------------------------------------------------------------------- specs
def _spec_dict(path: Path) -> dict:
    return load_spec(path).to_dict()


def _with_speaker_norm(spec_dict: dict, on: bool) -> dict:
    out = dict(spec_dict)
    out["speaker_normalization"] = on
    out["name"] = f"{spec_dict.get('name', 'spec')}{'+spknorm' if on else ''}"
    return out


def _minilm_context(past: int, future: int, names: bool) -> dict:
    spec = copy.deepcopy(MINILM_LR)
    opts = spec["features"]["text"]
    opts.update(context_past=past, context_future=future, speaker_names=names)
    spec["name"] = f"minilm-logreg-p{past}f{future}{'-names' if names else ''}"
    return spec


# --------------------------------------------------------------------------- rows
def _row(label: str, protocol: str, report: dict, key: str | None = None,
         seconds: float | None = None) -> dict:  # fmt: skip
    part = report if key is None else report["ablation"][key]
    m = part["metrics"]
    bp = part.get("best_params") or {}
    inner = [f.get("best_score") for f in part.get("folds", report["folds"] if key is None
                                                     else [])]  # fmt: skip
    inner = [s for s in inner if s is not None]
    return {
        "row": label,
        "protocol": protocol,
        **{k: m.get(k) for k in METRICS},
        "inner": float(np.mean(inner)) if inner else None,
        "best_params": _params_text(bp),
        "cv_s": report["timing"]["cv"] if seconds is None else seconds,
        "speaker_normalization": report["protocol"]["speaker_normalization"],
        "scheme": report["protocol"]["scheme"],
    }


def _params_text(bp: dict) -> str:
    out = []
    for k, v in bp.items():
        if isinstance(v, dict):
            v = "/".join(f"{n} {x:g}" if isinstance(x, float) else f"{n} {x}"
                         for n, x in v.items())  # fmt: skip
        out.append(f"{k.split('.')[-1]} {v}")
    return ", ".join(out)


def _majority_row(report: dict) -> dict:
    maj = report["baselines"]["majority"]
    return {"row": "majority class", "protocol": "-", **{k: maj.get(k) for k in METRICS},
            "inner": None, "best_params": "", "cv_s": 0.0, "speaker_normalization": False,
            "scheme": report["protocol"]["scheme"]}  # fmt: skip


def _has_audio(manifest) -> bool:
    return "path" in manifest.columns and bool(manifest["path"].notna().any())


def _has_text(manifest) -> bool:
    if "text" not in manifest.columns:
        return False
    return bool(manifest["text"].fillna("").astype(str).str.strip().ne("").any())


def _has_split(manifest) -> bool:
    if "split" not in manifest.columns:
        return False
    return {"train", "test"} <= set(manifest["split"].dropna().astype(str).str.lower())


def _run_plan(plan, manifest, *, scheme, cache, n_jobs, rows) -> None:
    for label, protocol, spec in plan:
        t = bench.timed(run_cv, spec, manifest, scheme=scheme, cache=cache, n_jobs=n_jobs)
        rep = t.result
        if not rows:  # the harness's majority baseline, on the same outer folds
            rows.append(_majority_row(rep))
        rows.append(_row(label, protocol, rep))
        logger.info("%-50s %-18s UA %.3f wF1 %.3f (%.0f s, load %.1f)", label, protocol,
                    rows[-1]["ua"], rows[-1]["weighted_f1"], t.wall, bench.load1())  # fmt: skip


FUSED_LABEL = "**`recommended-fusion.toml`** (ablation: fused)"


def _fusion_ablation(manifest, *, scheme, cache, n_jobs, rows) -> None:
    """audio only / text only / fused for recommended-fusion.toml, on the same outer folds."""
    path = PIPES / "recommended-fusion.toml"
    label = "`recommended-fusion.toml` ablation"
    rep = run_cv(path, manifest, scheme=scheme, cache=cache, n_jobs=n_jobs, ablation=True)
    for key in ("audio", "text"):
        rows.append(_row(f"{label}: {key} only", "inductive", rep, key, seconds=None)
                    | {"cv_s": None})  # one run: its time is on the fused row
    rows.append(_row(FUSED_LABEL, "inductive", rep))


def run(manifest, *, scheme: str | None, cache: str, n_jobs: int, ablation: bool
        ) -> tuple[list[dict], str, str | None]:  # fmt: skip
    """The rows for ``manifest``, the mode (``audio`` / ``text``) and the outer scheme used."""
    rows: list[dict] = []
    if not _has_audio(manifest):
        scheme = scheme or ("split" if _has_split(manifest) else "group")
        proto = "official split" if scheme == "split" else scheme
        plan = [
            ("TF-IDF + LR (`split-text-tfidf-logreg.toml`)", proto,
             _spec_dict(PIPES / "split-text-tfidf-logreg.toml")),
            ("frozen MiniLM + LR (anchor recipe; ablation: no context)", proto, MINILM_LR),
            ("**`recommended-text.toml`**", proto, _spec_dict(PIPES / "recommended-text.toml")),
        ]  # fmt: skip
        if ablation:
            for name, past, future in CONTEXTS:
                for names in (False, True):
                    if (past, future, names) == (0, 0, False):
                        continue  # the anchor row
                    label = f"MiniLM + LR ablation: {name}" + (", speaker names" if names else "")
                    plan.append((label, proto, _minilm_context(past, future, names)))
        _run_plan(plan, manifest, scheme=scheme, cache=cache, n_jobs=n_jobs, rows=rows)
        return rows, "text", scheme

    scheme = scheme or ("split" if _has_split(manifest) else "logo")
    plan = [
        ("log-mel mean/std + RBF SVC", "inductive", _with_speaker_norm(LOGMEL_BASELINE, False)),
        ("log-mel mean/std + RBF SVC", "speaker-normalised",
         _with_speaker_norm(LOGMEL_BASELINE, True)),
        ("`pooled-svm.toml`", "inductive",
         _with_speaker_norm(_spec_dict(PIPES / "pooled-svm.toml"), False)),
        ("`pooled-svm.toml`", "speaker-normalised",
         _with_speaker_norm(_spec_dict(PIPES / "pooled-svm.toml"), True)),
        ("**`recommended-audio.toml`**", "inductive",
         _spec_dict(PIPES / "recommended-audio.toml")),
        ("**`recommended-audio-speaker-norm.toml`**", "speaker-normalised",
         _spec_dict(PIPES / "recommended-audio-speaker-norm.toml")),
    ]
    text = _has_text(manifest)
    if text:
        plan += [
            ("**`recommended-text.toml`**", "inductive",
             _spec_dict(PIPES / "recommended-text.toml")),
            ("**`recommended-fusion.toml`**", "inductive",
             _spec_dict(PIPES / "recommended-fusion.toml")),
        ]  # fmt: skip
    else:
        logger.warning("the corpus has no transcripts: no text or fusion rows")
    if ablation and text:
        plan = plan[:-1]  # the ablation's fused row is the recommended-fusion row
    _run_plan(plan, manifest, scheme=scheme, cache=cache, n_jobs=n_jobs, rows=rows)
    if ablation and text:
        _fusion_ablation(manifest, scheme=scheme, cache=cache, n_jobs=n_jobs, rows=rows)
    return rows, "audio", scheme


# --------------------------------------------------------------------------- output
def _fmt(v) -> str:
    return "" if v is None else f"{v:.3f}"


def table(rows: list[dict], mode: str = "audio") -> str:
    order = ("weighted_f1", "ua", "wa", "macro_f1") if mode == "text" else METRICS
    inner = "dev score" if mode == "text" else "inner CV"
    head = ["pipeline", "protocol", *(METRIC_NAMES[k] for k in order), inner,
            "best params (most frequent)", "CV s"]  # fmt: skip
    cells = [[r["row"], r["protocol"], *(_fmt(r[k]) for k in order), _fmt(r.get("inner")),
              r["best_params"], "" if r["cv_s"] is None else f"{r['cv_s']:.0f}"]
             for r in rows]  # fmt: skip
    return bench.markdown_table(head, cells)


def docs_section(title: str, rows: list[dict], command: str, scheme: str | None, mode: str,
                 load: tuple[float, float]) -> str:  # fmt: skip
    n_cores = os.cpu_count()
    date = _dt.date.today().isoformat()
    timing = (f"Measured {date} on the project's {n_cores}-core shared machine (CV times are "
              "wall seconds with features cached, under load from other jobs: 1-minute load "
              f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end)")
    if mode == "text":
        intro = (
            f"Script: `benchmarks/quality/corpus.py`. Every row is `run_cv` with the `{scheme}` "
            "scheme: " + ("the grid is tuned on `dev` alone (the single validation fold), the "
                          "chosen candidate is refitted on train+dev and scored once on `test`. "
                          if scheme == "split" else "speaker-grouped nested folds. ")
            + "Weighted F1 is the corpus's usual metric; UA = unweighted (balanced) accuracy, "
            "WA = accuracy. *dev score* = the chosen candidate's score on the validation fold "
            "(the spec's own scoring). The ablation rows are "
            "frozen MiniLM (last layer, mean over the target's tokens) + logistic regression "
            "with the dialogue context and speaker names of each row. " + timing + ".")
    else:
        intro = (
            f"Script: `benchmarks/quality/corpus.py`. Nested speaker-grouped CV (`{scheme}` outer "
            "folds; the grid is tuned on grouped inner folds of each training part only, the "
            "outer test speaker is predicted once). UA = unweighted (balanced) accuracy, WA = "
            "accuracy; *inner CV* = the mean over outer folds of the chosen candidate's inner "
            "score (the spec's own scoring: UA, weighted F1 for the text spec). Inductive: "
            "nothing is learned from the test speaker. Speaker-normalised: each speaker's "
            "features are standardised with that speaker's own statistics (labels unused), the "
            "test speaker included. " + timing + ". All rows use the same outer folds.")
    intro = textwrap.fill(intro, width=96)
    return f"## Quality: {title}\n\n{intro}\n\n```\n{command}\n```\n\n{table(rows, mode)}\n"


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


TITLES = {"emodb": "EmoDB", "ravdess": "RAVDESS", "cremad": "CREMA-D", "iemocap": "IEMOCAP",
          "meld": "MELD"}  # fmt: skip


def report(manifest, title: str, args, command: str, docs: Path) -> list[dict]:
    """Run the rows, print the table, write it where ``args.out`` says; return the rows."""
    load_start = bench.load1()
    rows, mode, scheme = run(manifest, scheme=args.cv, cache=args.cache, n_jobs=args.jobs,
                             ablation=not args.no_ablation)  # fmt: skip
    load_end = bench.load1()
    print(table(rows, mode))
    if args.out == "docs-table":
        atomic_write_text(docs, replace_section(
            docs.read_text(encoding="utf-8"), title,
            docs_section(title, rows, command, scheme, mode, (load_start, load_end))))  # fmt: skip
        logger.info("wrote section 'Quality: %s' of %s", title, docs)
    elif args.out:
        bench.write_json(args.out, rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", help="NAME:DIR, e.g. emodb:/data/emodb (required)")
    ap.add_argument("--cv", default=None,
                    help="outer scheme for every row (default: 'split' when the corpus has "
                         "train/test splits, else 'logo' for audio and 'group' for text)")
    ap.add_argument("--cache", default="artifacts/cache")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-ablation", action="store_true",
                    help="skip the ablation rows (fusion on audio corpora, context on text)")
    ap.add_argument("--out", default=None,
                    help="'docs-table' (write docs/benchmarks.md) or a .json file for the rows")
    args = bench.parse_args(ap, argv)
    if not args.corpus and not args.smoke:
        ap.error("--corpus is required")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("emoclassic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
    command = "nice -n 10 .venv/bin/python benchmarks/quality/corpus.py " + " ".join(
        a if " " not in a else repr(a) for a in (sys.argv[1:] if argv is None else argv))
    docs = bench.ROOT / "docs" / "benchmarks.md"
    if not args.smoke:
        title = args.corpus.partition(":")[0].partition("[")[0]
        report(load_corpus(args.corpus), TITLES.get(title.lower(), title), args, command, docs)
        return 0
    with bench.workdir(prefix="bench_quality_") as tmp:  # the docs table goes to a copy of the docs
        args.cache, args.out, args.jobs = str(tmp / "cache"), "docs-table", 1
        demo = bench.make_clips(tmp / "demo", speakers=4, per_class=2, seconds=(0.5, 0.8))
        smoke_docs = tmp / "benchmarks.md"
        smoke_docs.write_text(docs.read_text(encoding="utf-8"), encoding="utf-8")
        rows = {title: report(manifest, title, args, command, smoke_docs)
                for title, manifest in (("Demo", demo), ("Demo text", demo.drop(columns="path")))}
        bench.write_json(tmp / "rows.json", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
