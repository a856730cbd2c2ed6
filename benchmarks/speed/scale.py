"""Scale: extraction throughput against workers and corpus size, grid-search speed-up.

Corpora come from :func:`emoclassic.data.make_scale_corpus` (the demo generator's speech-like
clips, 1 s at 16 kHz, 32 kB each) under ``--root`` (default ``/tmp/emoclassic_scale``, never
the repository); they are generated on first use and reused. Every measurement runs in a fresh
child process; the parent samples the RSS of the child's whole process tree (loky or Dask
worker processes included) every 0.1 s with psutil (or /proc), so "peak RSS" is what the run
cost the machine. The feature cache of each run is a fresh folder, deleted afterwards.

Modes (each prints a Markdown table, and a JSON line per run, all rows also to ``--json``; the
load average is recorded with every timing, as the machine may be shared):

    workers  extraction of ``--n`` clips (default 10 000, pooled default preset) with 1 and 2
             local processes and a Dask LocalCluster of 2 single-threaded worker processes
    sizes    extraction of 1 000 / 10 000 / 100 000 clips (``--sizes``) at ``--jobs`` (1):
             seconds, clips/s, peak RSS, output size; then a fully cached rerun (a resume)
    grid     ``fit_final``'s grid search (SVC, 6 candidates x 5 grouped folds + refit) on
             ``--grid-n`` cached clips with 1 and 2 local processes and a 2-worker LocalCluster

    nice -n 10 .venv/bin/python benchmarks/speed/scale.py workers --n 10000
    nice -n 10 .venv/bin/python benchmarks/speed/scale.py sizes --sizes 1000 10000 100000
    nice -n 10 .venv/bin/python benchmarks/speed/scale.py grid --grid-n 2000
    .venv/bin/python benchmarks/speed/scale.py --smoke   # every mode, 20-40 clips, temp root
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

ROOT = Path("/tmp/emoclassic_scale")
GRID = {"classifier.C": [1.0, 10.0, 100.0], "classifier.gamma": ["scale", 0.0003]}


def child_run(args: list[str]) -> dict:
    """This script's ``_child`` mode in a fresh process: its JSON result, the tree's peak RSS
    and CPU seconds (imports and start-up included: unlike wall time, barely affected by other
    work on a shared machine)."""
    env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "warning"}  # workers' INFO lines: off
    result = bench.run_child([sys.executable, __file__, "_child", *args], env=env)
    result.pop("process_s")
    return result


# --------------------------------------------------------------------------- child work
def corpus(root: Path, n: int, jobs: int = 2):
    """The n-clip scale corpus of 1 s clips (generated once under ``root``)."""
    t = bench.timed(bench.make_clips, root / f"c{n}", n, seconds=(1.0, 1.0), n_jobs=jobs)
    if t.wall > 1:
        print(f"corpus of {n} clips ready in {t.wall:.1f} s", file=sys.stderr)
    return t.result


def child(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("extract", "grid"))
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--backend", default="local")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--rerun", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    from emoclassic.parallel import parallel_backend

    df = corpus(a.root, a.n)
    res: dict = {"what": a.what, "n": len(df), "backend": a.backend, "jobs": a.jobs}
    with contextlib.ExitStack() as stack:
        start = bench.timed(stack.enter_context, parallel_backend(a.backend, n_workers=a.jobs))
        res["startup_s"] = round(start.wall, 2)
        res["workers"] = start.result.n_workers
        res["load_before"] = bench.machine()["load_avg"]
        if a.what == "extract":
            _extract(df, a, res)
        else:
            _grid(df, a, res)
        res["load_after"] = bench.machine()["load_avg"]
    print(json.dumps(res), flush=True)


def _extract(df, a, res: dict) -> None:
    from emoclassic.audio import PooledFeatures
    from emoclassic.features import extract

    ext = PooledFeatures(preset="default", cache=a.cache, n_jobs=a.jobs)
    t = bench.timed(extract, ext, df)
    r = t.result
    res["seconds"] = round(t.wall, 2)
    res["clips_per_s"] = round(len(df) / res["seconds"], 1)
    res["computed"], res["cached"], res["failed"] = r.n_computed, r.n_cached, len(r.failures)
    res["dims"] = int(r.features.shape[1])
    res["output_mb"] = round(r.features.nbytes / 2**20, 1)
    res["self_max_rss_mb"] = round(bench.peak_rss_mib(), 1)
    del r, t
    if a.rerun:  # everything is stored now: what a resumed run costs
        t = bench.timed(extract, ext, df)
        res["cached_rerun_s"] = round(t.wall, 2)
        res["rerun_computed"] = t.result.n_computed


def _grid(df, a, res: dict) -> None:
    from emoclassic import config_context
    from emoclassic.evaluation import fit_final
    from emoclassic.features import precompute

    spec = {
        "name": "bench-scale-grid",
        "features": {"audio": {"type": "pooled", "preset": "default"}},
        "classifier": {"name": "svc"},
        "grid": GRID,
        "cv": {"scheme": "group", "n_splits": 5, "inner_splits": 5},
    }
    with config_context(cache=a.cache, n_jobs=a.jobs):
        warm = bench.timed(precompute, spec, df)  # warms the disk cache; fit_final reads it back
    res["warm_s"] = round(warm.wall, 2)
    t = bench.timed(fit_final, spec, df, cache=a.cache, n_jobs=a.jobs)
    res["seconds"] = round(t.wall, 2)
    res["best"] = t.result.emoclassic_fit_["best_params"]
    res["fits"] = 6 * 5 + 1


# --------------------------------------------------------------------------- parent modes
def _fresh(root: Path, tag: str) -> Path:
    cache = root / f"bench_cache_{tag}"
    shutil.rmtree(cache, ignore_errors=True)
    return cache


def _modes(args) -> list[tuple[str, int]]:
    """1 and 2 local processes and a 2-worker Dask cluster (--smoke: no 2 local, same code)."""
    return [("local", j) for j in ((1,) if args.smoke else (1, 2))] + [("dask", 2)]


def mode_workers(args) -> list[dict]:
    corpus(args.root, args.n)  # generate outside the timed children
    rows = []
    for backend, jobs in _modes(args):
        cache = _fresh(args.root, f"w_{backend}{jobs}")
        r = child_run(["extract", "--n", str(args.n), "--backend", backend, "--jobs", str(jobs),
                       "--cache", str(cache), "--root", str(args.root)])  # fmt: skip
        shutil.rmtree(cache, ignore_errors=True)
        print(json.dumps(r), flush=True)
        rows.append(r)
    base = rows[0]["seconds"]
    bench.print_table(
        ["backend", "workers", "startup s", "extraction s", "clips/s", "speed-up", "tree CPU s",
         "peak tree RSS MiB", "load avg (1 min) before/after"],
        [[r["backend"], r["workers"], r["startup_s"], r["seconds"], r["clips_per_s"],
          f"{base / r['seconds']:.2f}x", r["tree_cpu_s"], r["peak_tree_rss_mb"],
          f"{r['load_before'][0]} / {r['load_after'][0]}"] for r in rows],
        title=f"Extraction throughput against workers ({args.n} clips of 1 s, pooled default)",
    )  # fmt: skip
    return rows


def mode_sizes(args) -> list[dict]:
    rows = []
    for n in args.sizes:
        corpus(args.root, n)
        cache = _fresh(args.root, f"s_{n}")
        r = child_run(["extract", "--n", str(n), "--backend", args.backend, "--jobs",
                       str(args.jobs), "--cache", str(cache), "--root", str(args.root),
                       "--rerun"])  # fmt: skip
        r["cache_mb"] = round(sum(f.stat().st_size for f in cache.rglob("*.npy")) / 2**20, 1)
        shutil.rmtree(cache, ignore_errors=True)
        print(json.dumps(r), flush=True)
        rows.append(r)
    bench.print_table(
        ["clips", "extraction s", "us per clip", "clips/s", "tree CPU s", "peak tree RSS MiB",
         "output MiB", "peak - output MiB", "cache MiB", "cached rerun s",
         "load avg before/after"],
        [[r["n"], r["seconds"], f"{1e6 * r['seconds'] / r['n']:.0f}", r["clips_per_s"],
          r["tree_cpu_s"], r["peak_tree_rss_mb"], r["output_mb"],
          f"{r['peak_tree_rss_mb'] - r['output_mb']:.1f}", r["cache_mb"], r["cached_rerun_s"],
          f"{r['load_before'][0]} / {r['load_after'][0]}"] for r in rows],
        title=f"Extraction against corpus size ({args.backend}, {args.jobs} worker(s), "
              "pooled default, clips of 1 s)",
    )  # fmt: skip
    return rows


def mode_grid(args) -> list[dict]:
    corpus(args.root, args.grid_n)
    cache = _fresh(args.root, "grid")
    rows = []
    for backend, jobs in _modes(args):
        r = child_run(["grid", "--n", str(args.grid_n), "--backend", backend, "--jobs",
                       str(jobs), "--cache", str(cache), "--root", str(args.root)])  # fmt: skip
        print(json.dumps(r), flush=True)
        rows.append(r)
    shutil.rmtree(cache, ignore_errors=True)
    base = rows[0]["seconds"]
    bench.print_table(
        ["backend", "workers", "startup s", "grid search s", "speed-up", "tree CPU s",
         "peak tree RSS MiB", "load avg before/after"],
        [[r["backend"], r["workers"], r["startup_s"], r["seconds"], f"{base / r['seconds']:.2f}x",
          r["tree_cpu_s"], r["peak_tree_rss_mb"],
          f"{r['load_before'][0]} / {r['load_after'][0]}"] for r in rows],
        title=f"Grid search against workers ({args.grid_n} cached clips, SVC, "
              f"{rows[0]['fits']} fits of 5-fold grouped CV + refit)",
    )  # fmt: skip
    same = len({json.dumps(r["best"], sort_keys=True) for r in rows}) == 1
    print(f"\nsame best parameters on every backend: {same}")
    return rows


MODES = {"workers": mode_workers, "sizes": mode_sizes, "grid": mode_grid}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        child(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", nargs="?", choices=("workers", "sizes", "grid", "all"),
                    help="what to measure (required, except with --smoke: all)")
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--n", type=int, default=10_000, help="clips for 'workers'")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--backend", default="local", help="backend for 'sizes'")
    ap.add_argument("--jobs", type=int, default=1, help="workers for 'sizes'")
    ap.add_argument("--grid-n", type=int, default=2000, help="clips for 'grid'")
    ap.add_argument("--json", type=Path, help="also write every run's row here")
    args = bench.parse_args(ap, argv)
    if args.mode is None and not args.smoke:
        ap.error("a mode is required: workers, sizes, grid or all")
    with bench.workdir(None if args.smoke else args.root, prefix="emoclassic_scale_") as root:
        if args.smoke:  # a temporary root: the real corpora under --root stay untouched
            args.mode, args.n, args.sizes, args.grid_n = args.mode or "all", 40, [40], 40
            args.json = args.json or root / "scale.json"
        args.root = root
        print(bench.describe_machine())
        modes = ("workers", "grid", "sizes") if args.mode == "all" else (args.mode,)
        results = {"machine": bench.machine(), **{m: MODES[m](args) for m in modes}}
        if args.json:
            bench.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
