"""Neural heads against the classical specs, under the same grouped CV (leave one speaker out).

Runs through ``emoclassic.evaluation.run_cv`` (scheme ``logo``, nested grid search where the
spec has a grid) on EmoDB and on the generated demo corpus:

* audio: ``pipelines/lstm-frames.toml`` (bi-LSTM over log-mel frames) vs
  ``pipelines/recommended-audio.toml`` (the best inductive audio spec, whatever it holds);
* fusion: ``pipelines/attention-pooled-text.toml`` (learned attention) vs
  ``pipelines/early-pooled-text-svm.toml`` (early) and ``pipelines/late-stacking.toml`` (late).

For each: UA / WA / macro-F1, feature extraction and CV seconds (fit + predict of every outer
fold, grid search included), the load average before and after. For attention fusion it also
fits the final model (best parameters) and reports the mean attention per block over the
corpus (in-sample), overall and per class.

Usage (one torch thread; ``nice`` on a shared machine)::

    nice -n 10 .venv/bin/python benchmarks/bench_neural.py                  # both corpora
    nice -n 10 .venv/bin/python benchmarks/bench_neural.py --lstm-epochs 20 --lstm-patience 4
    nice -n 10 .venv/bin/python benchmarks/bench_neural.py --corpora demo   # demo only
    .venv/bin/python benchmarks/bench_neural.py --quick                     # smoke run

Writes ``artifacts/bench_neural.json`` (``--out``). Timings are comparable only within one
run: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPECS = {
    "recommended-audio": "pipelines/recommended-audio.toml",
    "lstm-frames": "pipelines/lstm-frames.toml",
    "early-pooled-text-svm": "pipelines/early-pooled-text-svm.toml",
    "late-stacking": "pipelines/late-stacking.toml",
    "attention-pooled-text": "pipelines/attention-pooled-text.toml",
}


def _load(spec_name: str, args):
    from emoclassic.spec import load_spec

    spec = load_spec(ROOT / SPECS[spec_name])
    d = spec.to_dict()
    clf = d["classifier"]
    if clf["name"] in ("lstm", "attention"):
        clf["n_threads"] = args.threads
        if clf["name"] == "lstm":
            if args.lstm_epochs is not None:
                clf["epochs"] = args.lstm_epochs
            if args.lstm_patience is not None:
                clf["patience"] = args.lstm_patience
    if args.quick:
        if clf["name"] == "lstm":
            clf.update(epochs=2, hidden_size=16)
            d["features"]["frames"]["max_frames"] = 150
        if clf["name"] == "attention":
            clf.update(epochs=10)
        d["grid"] = {k: v[:1] for k, v in d["grid"].items()}
    return load_spec(d, base_dir=spec.base_dir)


def _corpus(name: str, args):
    from emoclassic.data import load_corpus, make_demo_corpus

    if name == "emodb":
        return load_corpus(f"emodb:{args.emodb}")
    n_speakers, per_class = (4, 3) if args.quick else (8, 12)
    folder = ROOT / "artifacts" / ("bench_neural_demo_quick" if args.quick else "bench_neural_demo")
    return make_demo_corpus(folder, n_speakers=n_speakers, n_per_class=per_class, seed=0)


def _attention(spec, manifest, report, cache) -> dict:
    import numpy as np

    from emoclassic.evaluation import fit_final
    from emoclassic.fusion import attention_summary, attention_weights

    t0 = time.perf_counter()
    est = fit_final(spec, manifest, params=report["best_params"], cache=cache)
    fit_s = time.perf_counter() - t0
    summary = attention_summary(est, manifest)
    w = attention_weights(est, manifest)
    labels = manifest.set_index(manifest["id"].astype(str)).loc[w.index, "label"].to_numpy()
    per_class = {
        str(c): {b: round(float(w[b].to_numpy()[labels == c].mean()), 4) for b in w.columns}
        for c in np.unique(labels)
    }
    return {"final_fit_s": round(fit_s, 2), "in_sample": summary, "per_class": per_class}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpora", nargs="+", default=["emodb", "demo"], choices=["emodb", "demo"])
    p.add_argument("--specs", nargs="+", default=list(SPECS), choices=list(SPECS))
    p.add_argument("--emodb", default="/work/shared/data/emodb")
    p.add_argument("--cache", default=str(ROOT / "artifacts" / "cache"))
    p.add_argument("--threads", type=int, default=1, help="torch threads of the neural heads")
    p.add_argument("--lstm-epochs", type=int, default=None, help="default: the spec's (30)")
    p.add_argument("--lstm-patience", type=int, default=None, help="default: the spec's (6)")
    p.add_argument("--quick", action="store_true", help="tiny models and corpus: a smoke run")
    p.add_argument("--out", default=str(ROOT / "artifacts" / "bench_neural.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from emoclassic._atomic import atomic_write_text
    from emoclassic.evaluation import run_cv

    results: dict = {"args": vars(args), "runs": []}
    for corpus in args.corpora:
        manifest = _corpus(corpus, args)
        for name in args.specs:
            spec = _load(name, args)
            load0 = os.getloadavg()
            t0 = time.perf_counter()
            rep = run_cv(spec, manifest, scheme="logo", cache=args.cache, n_jobs=1)
            wall = time.perf_counter() - t0
            row = {
                "corpus": corpus,
                "spec": name,
                "n": rep["metrics"]["n"],
                "folds": rep["protocol"]["n_outer_folds"],
                **{k: round(rep["metrics"][k], 4) for k in ("ua", "wa", "macro_f1")},
                "extraction_s": rep["timing"]["extraction"],
                "cv_s": rep["timing"]["cv"],
                "wall_s": round(wall, 1),
                "best_params": rep["best_params"],
                "load_before": [round(x, 2) for x in load0],
                "load_after": [round(x, 2) for x in os.getloadavg()],
            }
            if name == "attention-pooled-text":
                row["attention"] = _attention(spec, manifest, rep, args.cache)
            results["runs"].append(row)
            print(
                f"{corpus:6s} {name:24s} UA {row['ua']:.3f} WA {row['wa']:.3f} "
                f"F1 {row['macro_f1']:.3f}  extract {row['extraction_s']:7.1f}s  "
                f"cv {row['cv_s']:7.1f}s  load {row['load_before'][0]:.1f}->"
                f"{row['load_after'][0]:.1f}",
                flush=True,
            )
            if "attention" in row:
                print(f"       attention (in-sample mean): {row['attention']['in_sample']['mean']}",
                      flush=True)  # fmt: skip
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(args.out, json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
