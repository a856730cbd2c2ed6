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

    nice -n 10 .venv/bin/python benchmarks/quality/neural.py                  # both corpora
    nice -n 10 .venv/bin/python benchmarks/quality/neural.py --lstm-epochs 20 --lstm-patience 4
    nice -n 10 .venv/bin/python benchmarks/quality/neural.py --corpora demo   # demo only
    .venv/bin/python benchmarks/quality/neural.py --smoke   # tiny demo corpus and models

Writes ``artifacts/bench_neural.json`` (``--out``). Timings are comparable only within one
run: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

SPECS = {
    "recommended-audio": "pipelines/recommended-audio.toml",
    "lstm-frames": "pipelines/lstm-frames.toml",
    "early-pooled-text-svm": "pipelines/early-pooled-text-svm.toml",
    "late-stacking": "pipelines/late-stacking.toml",
    "attention-pooled-text": "pipelines/attention-pooled-text.toml",
}


def _load(spec_name: str, args):
    from emoclassic.spec import load_spec

    spec = load_spec(bench.ROOT / SPECS[spec_name])
    d = spec.to_dict()
    clf = d["classifier"]
    if clf["name"] in ("lstm", "attention"):
        clf["n_threads"] = args.threads
        if clf["name"] == "lstm":
            if args.lstm_epochs is not None:
                clf["epochs"] = args.lstm_epochs
            if args.lstm_patience is not None:
                clf["patience"] = args.lstm_patience
    if args.smoke:
        if clf["name"] == "lstm":
            clf.update(epochs=2, hidden_size=16)
            d["features"]["frames"]["max_frames"] = 150
        if clf["name"] == "attention":
            clf.update(epochs=10)
        d["grid"] = {k: v[:1] for k, v in d["grid"].items()}
    return load_spec(d, base_dir=spec.base_dir)


def _corpus(name: str, args, tmp: Path):
    from emoclassic.data import load_corpus

    if name == "emodb":
        return load_corpus(f"emodb:{args.emodb}")
    if args.smoke:
        return bench.make_clips(tmp / "demo", speakers=4, per_class=3, seconds=(0.5, 1.0))
    folder = bench.ROOT / "artifacts" / "bench_neural_demo"
    return bench.make_clips(folder, speakers=8, per_class=12)


def _attention(spec, manifest, report, cache) -> dict:
    import numpy as np

    from emoclassic.evaluation import fit_final
    from emoclassic.fusion import attention_summary, attention_weights

    t = bench.timed(fit_final, spec, manifest, params=report["best_params"], cache=cache)
    est, fit_s = t.result, t.wall
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
    p.add_argument("--cache", default=str(bench.ROOT / "artifacts" / "cache"))
    p.add_argument("--threads", type=int, default=1, help="torch threads of the neural heads")
    p.add_argument("--lstm-epochs", type=int, default=None, help="default: the spec's (30)")
    p.add_argument("--lstm-patience", type=int, default=None, help="default: the spec's (6)")
    p.add_argument("--out", default=str(bench.ROOT / "artifacts" / "bench_neural.json"))
    args = bench.parse_args(p, argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with bench.workdir(prefix="bench_neural_") as tmp:
        if args.smoke:  # the tiny demo corpus only; cache and results in the temporary folder
            args.corpora, args.cache, args.out = ["demo"], str(tmp / "cache"), str(tmp / "n.json")
        run(args, tmp)
    return 0


def run(args, tmp: Path) -> None:
    from emoclassic.evaluation import run_cv

    results: dict = {"args": vars(args), "runs": []}
    for corpus in args.corpora:
        manifest = _corpus(corpus, args, tmp)
        for name in args.specs:
            spec = _load(name, args)
            load0 = bench.machine()["load_avg"]
            t = bench.timed(run_cv, spec, manifest, scheme="logo", cache=args.cache, n_jobs=1)
            rep, wall = t.result, t.wall
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
                "load_before": load0,
                "load_after": bench.machine()["load_avg"],
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
            bench.write_json(args.out, results)


if __name__ == "__main__":
    raise SystemExit(main())
