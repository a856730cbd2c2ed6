"""Grid-search speed: a 12-candidate x 5-fold SVM grid on 1 500 cached utterances.

Generates a demo corpus of about 1 500 utterances (10 speakers x 4 classes x 38), extracts the
pooled audio features once into a feature cache (untimed: that is the extraction benchmark's
business), then times the grid search that ``fit_final`` runs: the real pipeline (pooled
features read from the cache, StandardScaler, RBF SVC) over 12 candidates (C x gamma) and 5
speaker-grouped folds, plus the refit. Target: under 60 s on 2 cores (``--jobs 2``).

Then profiles one sequential run with cProfile and prints where the time goes (the top
functions by cumulative and by own time). ``--source random`` swaps the audio for random
precomputed vectors of the same size (an ``extra`` block), isolating the harness.

    .venv/bin/python benchmarks/speed/grid.py [--jobs 2] [--source demo|random] [--no-profile]
    .venv/bin/python benchmarks/speed/grid.py --smoke    # 5 speakers x 4 classes x 2, short
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

GRID = {"classifier.C": [0.1, 1.0, 10.0, 100.0], "classifier.gamma": ["scale", 0.0003, 0.003]}


def make_spec(source: str, folder: Path) -> dict:
    if source == "random":
        block = {"type": "extra", "file": str(folder / "random.npz")}
    else:
        block = {"type": "pooled", "preset": "default"}
    return {
        "name": f"bench-grid-{source}",
        "features": {"audio": block},
        "classifier": {"name": "svc"},
        "grid": GRID,
        "cv": {"scheme": "group", "n_splits": 5, "inner_splits": 5},
    }


def prepare(source: str, folder: Path, n_speakers: int, per_class: int,
            seconds: tuple[float, float] = (1.2, 2.2)) -> pd.DataFrame:  # fmt: skip
    corpus = folder / f"demo-{n_speakers}x{per_class}"
    t = bench.timed(bench.make_clips, corpus, speakers=n_speakers, per_class=per_class,
                    seconds=seconds)
    df = t.result
    print(f"corpus: {len(df)} utterances in {t.wall:.1f} s ({corpus})")
    if source == "random":
        rng = np.random.default_rng(0)
        np.savez(folder / "random.npz", ids=df["id"].to_numpy(dtype=str),
                 features=rng.normal(size=(len(df), 853)))  # fmt: skip
    return df


def warm(spec: dict, df: pd.DataFrame, cache: Path, jobs: int) -> None:
    from emoclassic import config_context
    from emoclassic.features import precompute

    with config_context(cache=cache, n_jobs=jobs):
        t = bench.timed(precompute, spec, df)
    print(f"feature cache warmed in {t.wall:.1f} s ({len(t.result.failures)} failures)")


def timed_grid(spec: dict, df: pd.DataFrame, cache: Path, jobs: int) -> float:
    from emoclassic.evaluation import fit_final

    t = bench.timed(fit_final, spec, df, cache=cache, n_jobs=jobs)
    model, seconds = t.result, t.wall
    print(
        f"grid search: 12 candidates x 5 folds + refit on {len(df)} cached utterances, "
        f"n_jobs={jobs}: {seconds:.1f} s; best {model.emoclassic_fit_['best_params']}"
    )
    return seconds


def profile(spec: dict, df: pd.DataFrame, cache: Path, top: int) -> None:
    from emoclassic.evaluation import fit_final

    prof = cProfile.Profile()
    prof.enable()
    t = bench.timed(fit_final, spec, df, cache=cache, n_jobs=1)
    prof.disable()
    print(f"\nprofiled sequential run (n_jobs=1): {t.wall:.1f} s")
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
    args = bench.parse_args(ap, argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("ignore", UserWarning)
    seconds = (1.2, 2.2)
    if args.smoke:  # 5 speakers: still 5 grouped folds
        args.speakers, args.per_class, args.workdir, args.top, seconds = 5, 2, None, 5, (0.5, 1.0)
    print(bench.describe_machine())
    with bench.workdir(args.workdir, prefix="emoclassic-bench-grid-") as folder:
        cache = folder / "cache"
        df = prepare(args.source, folder, args.speakers, args.per_class, seconds)
        spec = make_spec(args.source, folder)
        warm(spec, df, cache, args.jobs)
        took = timed_grid(spec, df, cache, args.jobs)
        print(f"target < 60 s: {'PASS' if took < 60 else 'FAIL'}")
        if not args.no_profile:
            profile(spec, df, cache, args.top)
    return 0 if took < 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
