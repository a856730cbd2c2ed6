"""Grid-search speed: a 12-candidate x 5-fold SVM grid on 1 500 cached utterances.

Generates a demo corpus of about 1 500 utterances (10 speakers x 4 classes x 38), extracts the
pooled audio features once into a feature cache (untimed: that is the extraction benchmark's
business), then times the grid search that ``fit_final`` runs: the real pipeline (pooled
features read from the cache, StandardScaler, RBF SVC) over 12 candidates (C x gamma) and 5
speaker-grouped folds, plus the refit. Target: under 60 s on 2 cores (``--jobs 2``).

Then profiles one sequential run with cProfile and prints where the time goes (the top
functions by cumulative and by own time). ``--source random`` swaps the audio for random
precomputed vectors of the same size (an ``extra`` block), isolating the harness.

    .venv/bin/python benchmarks/bench_grid.py [--jobs 2] [--source demo|random] [--no-profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

GRID = {"classifier.C": [0.1, 1.0, 10.0, 100.0], "classifier.gamma": ["scale", 0.0003, 0.003]}


def make_spec(source: str, workdir: Path) -> dict:
    if source == "random":
        block = {"type": "extra", "file": str(workdir / "random.npz")}
    else:
        block = {"type": "pooled", "preset": "default"}
    return {
        "name": f"bench-grid-{source}",
        "features": {"audio": block},
        "classifier": {"name": "svc"},
        "grid": GRID,
        "cv": {"scheme": "group", "n_splits": 5, "inner_splits": 5},
    }


def prepare(source: str, workdir: Path, n_speakers: int, per_class: int) -> pd.DataFrame:
    from emoclassic.data import make_demo_corpus

    corpus = workdir / f"demo-{n_speakers}x{per_class}"
    t0 = time.perf_counter()
    if (corpus / "manifest.csv").exists():
        df = pd.read_csv(corpus / "manifest.csv")
        df["path"] = [str((corpus / p).resolve()) for p in df["path"]]
    else:
        df = make_demo_corpus(corpus, n_speakers=n_speakers, n_per_class=per_class)
    print(f"corpus: {len(df)} utterances in {time.perf_counter() - t0:.1f} s ({corpus})")
    if source == "random":
        rng = np.random.default_rng(0)
        np.savez(workdir / "random.npz", ids=df["id"].to_numpy(dtype=str),
                 features=rng.normal(size=(len(df), 853)))  # fmt: skip
    return df


def warm(spec: dict, df: pd.DataFrame, cache: Path, jobs: int) -> None:
    from emoclassic import config_context
    from emoclassic.features import precompute

    t0 = time.perf_counter()
    with config_context(cache=cache, n_jobs=jobs):
        failed = precompute(spec, df).failures
    print(f"feature cache warmed in {time.perf_counter() - t0:.1f} s ({len(failed)} failures)")


def timed_grid(spec: dict, df: pd.DataFrame, cache: Path, jobs: int) -> float:
    from emoclassic.evaluation import fit_final

    t0 = time.perf_counter()
    model = fit_final(spec, df, cache=cache, n_jobs=jobs)
    seconds = time.perf_counter() - t0
    print(
        f"grid search: 12 candidates x 5 folds + refit on {len(df)} cached utterances, "
        f"n_jobs={jobs}: {seconds:.1f} s; best {model.emoclassic_fit_['best_params']}"
    )
    return seconds


def profile(spec: dict, df: pd.DataFrame, cache: Path, top: int) -> None:
    from emoclassic.evaluation import fit_final

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    fit_final(spec, df, cache=cache, n_jobs=1)
    prof.disable()
    print(f"\nprofiled sequential run (n_jobs=1): {time.perf_counter() - t0:.1f} s")
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        lines = buf.getvalue().splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("ncalls"))
        print(f"\ntop {top} by {key}:")
        print("\n".join(lines[start : start + top + 1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--source", choices=("demo", "random"), default="demo")
    ap.add_argument("--speakers", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=38)
    ap.add_argument("--workdir", type=Path, default=None, help="reused between runs if given")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("ignore", UserWarning)
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="emoclassic-bench-grid-")
        args.workdir = Path(tmp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    cache = args.workdir / "cache"
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")
    df = prepare(args.source, args.workdir, args.speakers, args.per_class)
    spec = make_spec(args.source, args.workdir)
    warm(spec, df, cache, args.jobs)
    seconds = timed_grid(spec, df, cache, args.jobs)
    print(f"target < 60 s: {'PASS' if seconds < 60 else 'FAIL'}")
    if not args.no_profile:
        profile(spec, df, cache, args.top)
    if tmp is not None:
        tmp.cleanup()
    return 0 if seconds < 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
