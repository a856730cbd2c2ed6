"""Scale: extraction throughput against workers and corpus size, grid-search speed-up.

Corpora come from :func:`emoclassic.data.make_scale_corpus` (the demo generator's speech-like
clips, 1 s at 16 kHz, 32 kB each) under ``--root`` (default ``/tmp/emoclassic_scale``, never
the repository); they are generated on first use and reused. Every measurement runs in a fresh
child process; the parent samples the RSS of the child's whole process tree (loky or Dask
worker processes included) every 0.1 s with psutil (or /proc), so "peak RSS" is what the run
cost the machine. The feature cache of each run is a fresh folder, deleted afterwards.

Modes (each prints a Markdown table, and a JSON line per run; the load average is recorded
with every timing, as the machine may be shared):

    workers  extraction of ``--n`` clips (default 10 000, pooled default preset) with 1 and 2
             local processes and a Dask LocalCluster of 2 single-threaded worker processes
    sizes    extraction of 1 000 / 10 000 / 100 000 clips (``--sizes``) at ``--jobs`` (1):
             seconds, clips/s, peak RSS, output size; then a fully cached rerun (a resume)
    grid     ``fit_final``'s grid search (SVC, 6 candidates x 5 grouped folds + refit) on
             ``--grid-n`` cached clips with 1 and 2 local processes and a 2-worker LocalCluster

    nice -n 10 .venv/bin/python benchmarks/bench_scale.py workers --n 10000
    nice -n 10 .venv/bin/python benchmarks/bench_scale.py sizes --sizes 1000 10000 100000
    nice -n 10 .venv/bin/python benchmarks/bench_scale.py grid --grid-n 2000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

ROOT = Path("/tmp/emoclassic_scale")
GRID = {"classifier.C": [1.0, 10.0, 100.0], "classifier.gamma": ["scale", 0.0003]}


# --------------------------------------------------------------------------- memory sampling
def _tree_rss(pid: int, cpu: dict[int, float] | None = None) -> int:
    """RSS in bytes of ``pid`` and all its descendants (0 once it is gone).

    With psutil, ``cpu`` collects each process's CPU seconds (user + system) so far.
    """
    try:
        import psutil
    except ImportError:
        return _tree_rss_proc(pid)
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
            if cpu is not None:
                t = p.cpu_times()
                cpu[p.pid] = max(cpu.get(p.pid, 0.0), t.user + t.system)
    return total


def _tree_rss_proc(pid: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * page
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_child(args: list[str]) -> dict:
    """Run this script's ``_child`` mode; return its JSON result plus the tree's peak RSS."""
    cmd = [sys.executable, __file__, "_child", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid, cpu))
            stop.wait(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    stop.set()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_tree_rss_mb"] = round(peak / 2**20, 1)
    # CPU seconds of the whole tree over the child's life (imports and startup included):
    # unlike wall time, barely affected by other work on a shared machine
    result["tree_cpu_s"] = round(sum(cpu.values()), 1)
    return result


# --------------------------------------------------------------------------- child work
def corpus(root: Path, n: int, jobs: int = 2):
    """The n-clip scale corpus (generated once under ``root``)."""
    import pandas as pd

    folder = root / f"c{n}"
    if not (folder / "manifest.csv").exists():
        from emoclassic.data import make_scale_corpus

        t0 = time.perf_counter()
        make_scale_corpus(folder, n, n_jobs=jobs)
        print(f"generated {n} clips in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    df = pd.read_csv(folder / "manifest.csv")
    df["path"] = [str(folder / p) for p in df["path"]]
    return df


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
    t0 = time.perf_counter()
    with parallel_backend(a.backend, n_workers=a.jobs) as info:
        res["startup_s"] = round(time.perf_counter() - t0, 2)
        res["workers"] = info.n_workers
        res["load_before"] = [round(x, 2) for x in os.getloadavg()]
        if a.what == "extract":
            _extract(df, a, res)
        else:
            _grid(df, a, res)
        res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(res), flush=True)


def _extract(df, a, res: dict) -> None:
    import resource

    from emoclassic.audio import PooledFeatures
    from emoclassic.features import extract

    ext = PooledFeatures(preset="default", cache=a.cache, n_jobs=a.jobs)
    t0 = time.perf_counter()
    r = extract(ext, df)
    res["seconds"] = round(time.perf_counter() - t0, 2)
    res["clips_per_s"] = round(len(df) / res["seconds"], 1)
    res["computed"], res["cached"], res["failed"] = r.n_computed, r.n_cached, len(r.failures)
    res["dims"] = int(r.features.shape[1])
    res["output_mb"] = round(r.features.nbytes / 2**20, 1)
    res["self_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    del r
    if a.rerun:  # everything is stored now: what a resumed run costs
        t0 = time.perf_counter()
        r = extract(ext, df)
        res["cached_rerun_s"] = round(time.perf_counter() - t0, 2)
        res["rerun_computed"] = r.n_computed


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
    t0 = time.perf_counter()
    with config_context(cache=a.cache, n_jobs=a.jobs):
        precompute(spec, df)  # warms the disk cache; fit_final then reads it back
    res["warm_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    model = fit_final(spec, df, cache=a.cache, n_jobs=a.jobs)
    res["seconds"] = round(time.perf_counter() - t0, 2)
    res["best"] = model.emoclassic_fit_["best_params"]
    res["fits"] = 6 * 5 + 1


# --------------------------------------------------------------------------- parent modes
def _fresh(root: Path, tag: str) -> Path:
    cache = root / f"bench_cache_{tag}"
    shutil.rmtree(cache, ignore_errors=True)
    return cache


def _modes(jobs_list=(1, 2)) -> list[tuple[str, int]]:
    return [("local", j) for j in jobs_list] + [("dask", 2)]


def mode_workers(args) -> list[dict]:
    corpus(args.root, args.n)  # generate outside the timed children
    rows = []
    for backend, jobs in _modes():
        cache = _fresh(args.root, f"w_{backend}{jobs}")
        r = run_child(["extract", "--n", str(args.n), "--backend", backend, "--jobs", str(jobs),
                       "--cache", str(cache), "--root", str(args.root)])  # fmt: skip
        shutil.rmtree(cache, ignore_errors=True)
        print(json.dumps(r), flush=True)
        rows.append(r)
    base = rows[0]["seconds"]
    print(f"\n### Extraction throughput against workers ({args.n} clips of 1 s, pooled default)\n")
    print("| backend | workers | startup s | extraction s | clips/s | speed-up | tree CPU s | "
          "peak tree RSS MiB | load avg (1 min) before/after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['workers']} | {r['startup_s']} | {r['seconds']} | "
              f"{r['clips_per_s']} | {base / r['seconds']:.2f}x | {r['tree_cpu_s']} | "
              f"{r['peak_tree_rss_mb']} | {r['load_before'][0]} / {r['load_after'][0]} |")
    return rows


def mode_sizes(args) -> list[dict]:
    rows = []
    for n in args.sizes:
        corpus(args.root, n)
        cache = _fresh(args.root, f"s_{n}")
        r = run_child(["extract", "--n", str(n), "--backend", args.backend, "--jobs",
                       str(args.jobs), "--cache", str(cache), "--root", str(args.root),
                       "--rerun"])  # fmt: skip
        r["cache_mb"] = round(sum(f.stat().st_size for f in cache.rglob("*.npy")) / 2**20, 1)
        shutil.rmtree(cache, ignore_errors=True)
        print(json.dumps(r), flush=True)
        rows.append(r)
    print(f"\n### Extraction against corpus size ({args.backend}, {args.jobs} worker(s), "
          "pooled default, clips of 1 s)\n")
    print("| clips | extraction s | us per clip | clips/s | tree CPU s | peak tree RSS MiB | "
          "output MiB | peak - output MiB | cache MiB | cached rerun s | load avg "
          "before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['seconds']} | {1e6 * r['seconds'] / r['n']:.0f} | "
              f"{r['clips_per_s']} | {r['tree_cpu_s']} | {r['peak_tree_rss_mb']} | "
              f"{r['output_mb']} | "
              f"{r['peak_tree_rss_mb'] - r['output_mb']:.1f} | {r['cache_mb']} | "
              f"{r['cached_rerun_s']} | {r['load_before'][0]} / {r['load_after'][0]} |")
    return rows


def mode_grid(args) -> list[dict]:
    corpus(args.root, args.grid_n)
    cache = _fresh(args.root, "grid")
    rows = []
    for backend, jobs in _modes():
        r = run_child(["grid", "--n", str(args.grid_n), "--backend", backend, "--jobs",
                       str(jobs), "--cache", str(cache), "--root", str(args.root)])  # fmt: skip
        print(json.dumps(r), flush=True)
        rows.append(r)
    shutil.rmtree(cache, ignore_errors=True)
    base = rows[0]["seconds"]
    print(f"\n### Grid search against workers ({args.grid_n} cached clips, SVC, "
          f"{rows[0]['fits']} fits of 5-fold grouped CV + refit)\n")
    print("| backend | workers | startup s | grid search s | speed-up | tree CPU s | "
          "peak tree RSS MiB | load avg before/after |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['workers']} | {r['startup_s']} | {r['seconds']} | "
              f"{base / r['seconds']:.2f}x | {r['tree_cpu_s']} | {r['peak_tree_rss_mb']} | "
              f"{r['load_before'][0]} / {r['load_after'][0]} |")
    same = len({json.dumps(r["best"], sort_keys=True) for r in rows}) == 1
    print(f"\nsame best parameters on every backend: {same}")
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        child(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("workers", "sizes", "grid", "all"))
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--n", type=int, default=10_000, help="clips for 'workers'")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--backend", default="local", help="backend for 'sizes'")
    ap.add_argument("--jobs", type=int, default=1, help="workers for 'sizes'")
    ap.add_argument("--grid-n", type=int, default=2000, help="clips for 'grid'")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.root.mkdir(parents=True, exist_ok=True)
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, "
          f"load {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    modes = ("workers", "grid", "sizes") if args.mode == "all" else (args.mode,)
    for m in modes:
        {"workers": mode_workers, "sizes": mode_sizes, "grid": mode_grid}[m](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
