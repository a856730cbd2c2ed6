"""The cached path end to end, as a user runs it: ``emoclassic features`` twice over one cache.

Generates ``--n`` speech-like clips of 1-4 s (the demo corpus generator, 400 by default; 20
with ``--smoke``) and their manifest, then times fresh processes of the installed console
script:

- start-up: ``emoclassic --help``;
- first: ``emoclassic features --manifest M --cache C --out X.npz -q`` into an empty cache
  (every clip decoded and computed);
- cached: the same command again (every vector read from the cache).

and prints ``(first - startup) / (cached - startup)``: how much cheaper a fully cached re-run
is beyond process start-up (target: 10x or more), and each run's cost per clip beyond
start-up. Start-up and the cached run are the best of ``--repeats`` (3), interleaved so that
they share the machine's load; the first run is the best of ``--first-repeats`` (1), each
into an empty cache. The load average is printed before and after, and the cached run's
output is checked equal to the first run's.

``--code DIR ...`` compares source trees side by side (e.g. ``git worktree add /tmp/old
HEAD~1``, then ``--code /tmp/old .``): each tree is put first on ``PYTHONPATH`` of the same
console script, gets its own cache, and their runs are interleaved.

    .venv/bin/python benchmarks/speed/cached_rerun.py                 # 400 clips
    .venv/bin/python benchmarks/speed/cached_rerun.py --smoke         # 20 clips, seconds
    .venv/bin/python benchmarks/speed/cached_rerun.py --repeats 5 --code /tmp/old .
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402


def console_script() -> list[str]:
    """The ``emoclassic`` console script of this interpreter's environment (as users run it)."""
    script = Path(sys.executable).parent / "emoclassic"
    if script.exists():
        return [str(script)]
    found = shutil.which("emoclassic")
    if found:
        return [found]
    raise SystemExit("no 'emoclassic' command found; pip install -e . first")


def run(argv: list[str], code: str | None) -> None:
    """One fresh process; fails loudly when the command fails."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400, help="clips (default 400)")
    ap.add_argument("--preset", default=None, help="--preset for --set pooled (default: default)")
    ap.add_argument("--repeats", type=int, default=3, help="start-up and cached runs: best of N")
    ap.add_argument("--first-repeats", type=int, default=1, help="first runs: best of N")
    ap.add_argument("--code", nargs="+", default=None, metavar="DIR",
                    help="source trees to compare (each first on PYTHONPATH)")
    ap.add_argument("--root", default=None, help="folder for clips, caches and outputs "
                    "(default: a temporary folder, deleted)")
    args = bench.parse_args(ap, argv)
    if args.smoke:
        args.n, args.repeats, args.first_repeats = 20, 1, 1
    cli = console_script()
    variants = {"installed": None} if not args.code else {
        d: str(Path(d).resolve()) for d in args.code
    }

    with bench.workdir(args.root, prefix="emoclassic-cached-rerun-") as root:
        bench.make_clips(root / f"clips{args.n}", args.n, seconds=(1.0, 4.0))
        manifest = root / f"clips{args.n}" / "manifest.csv"
        before = bench.machine()

        def features(name: str, which: str) -> list[str]:
            folder = root / f"v{list(variants).index(name)}"
            cmd = [*cli, "features", "--manifest", str(manifest), "--cache",
                   str(folder / "cache"), "--out", str(folder / f"{which}.npz"), "-q"]
            return cmd + (["--preset", args.preset] if args.preset else [])

        times: dict[str, dict[str, list[float]]] = {
            v: {"startup": [], "first": [], "cached": []} for v in variants
        }
        for _ in range(max(1, args.first_repeats)):
            for name, code in variants.items():
                shutil.rmtree(root / f"v{list(variants).index(name)}", ignore_errors=True)
                times[name]["first"].append(bench.timed(run, features(name, "first"), code).wall)
        for _ in range(max(1, args.repeats)):  # interleaved: every run sees the same load
            for name, code in variants.items():
                times[name]["startup"].append(bench.timed(run, [*cli, "--help"], code).wall)
                times[name]["cached"].append(bench.timed(run, features(name, "cached"), code).wall)
        after = bench.machine()

        import numpy as np

        rows, results = [], []
        for i, name in enumerate(variants):
            folder = root / f"v{i}"
            with np.load(folder / "first.npz") as a, np.load(folder / "cached.npz") as b:
                same = all(np.array_equal(a[k], b[k]) for k in ("X", "ids", "feature_names"))
            best = {k: min(v) for k, v in times[name].items()}
            first, cached = best["first"] - best["startup"], best["cached"] - best["startup"]
            ratio = first / cached if cached > 0 else float("inf")
            rows.append([name, f"{best['startup']:.3f}", f"{best['first']:.3f}",
                         f"{best['cached']:.3f}", f"{1e3 * first / args.n:.2f}",
                         f"{1e3 * cached / args.n:.2f}", f"**{ratio:.1f}x**", same])
            results.append({"code": name, "n": args.n, "preset": args.preset or "default",
                            **{f"{k}_s": round(v, 3) for k, v in best.items()},
                            "ratio": round(ratio, 2), "same_output": same,
                            "runs": {k: [round(t, 3) for t in v]
                                     for k, v in times[name].items()}})

    print(f"{args.n} clips of 1-4 s, --set pooled --preset {args.preset or 'default'}, "
          f"{' '.join(cli)}")
    print(f"load average before {before['load_avg']}, after {after['load_avg']} "
          f"({before['cpus']} cpus, {before['utc']})")
    print(bench.markdown_table(
        ["code", "start-up s", "first s", "cached s", "first ms/clip beyond start-up",
         "cached ms/clip beyond start-up", "(first - start-up) / (cached - start-up)",
         "cached output = first"], rows))
    for r in results:
        print(json.dumps({**r, "load_before": before["load_avg"],
                          "load_after": after["load_avg"]}))
    return 0 if all(r["same_output"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
