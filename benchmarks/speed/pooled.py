"""Speed and memory of the pooled audio features, side by side with plain librosa.

Measures, in one run and on one core (every BLAS/OpenMP pool limited to one thread, n_jobs=1):

(a) ``PooledFeatures("default")``: seconds of audio per wall second (real-time factor, RTF),
    decoding included; also the other presets, and the two blocks of the recommended specs
    (``large-vuv`` and ``rasta-vq`` with 26 mel bands);
(b) the same descriptors computed feature by feature with plain librosa calls on the waveform
    (melspectrogram, mfcc, delta x2, spectral_centroid/bandwidth/rolloff/flatness/contrast, rms,
    zero_crossing_rate, yin), pooled with the same functionals; the ratio (a)/(b);
(c) the bare log-mel mean/std (``PooledFeatures("logmel-meanstd")``);
(d) openSMILE functionals through our block, ``OpenSmileFeatures`` (eGeMAPSv02 and ComParE_2016
    by default, ``--opensmile-sets``), beside the same clips; plus opensmile's own
    ``Smile.process_file`` on eGeMAPSv02 as the reference for the block's overhead (and a check
    that both give the same values); skipped when ``import opensmile`` fails;
(e) a first run writing the feature cache against a second, fully cached run;
(f) peak memory (max RSS of a fresh process) extracting 1 000 and 10 000 generated clips.

Generated clips are the demo corpus generator's speech-like audio (``benchmarks/_common.py``).
Every timing is the best of ``--repeats`` runs, the approaches interleaved within each repeat so
that they share the machine's load; CPU seconds are reported beside wall seconds.

    .venv/bin/python benchmarks/speed/pooled.py                       # 200 generated clips
    .venv/bin/python benchmarks/speed/pooled.py --corpus emodb:/work/shared/data/emodb/audio
    .venv/bin/python benchmarks/speed/pooled.py --n 100 --memory-sizes   # skip (f)
    .venv/bin/python benchmarks/speed/pooled.py --opensmile-sets         # skip the openSMILE rows
    .venv/bin/python benchmarks/speed/pooled.py --smoke    # 6 short clips, 1 repeat, --jobs 2
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402


def total_seconds(paths: list[str]) -> float:
    return float(sum(sf.info(p).duration for p in paths))


# --------------------------------------------------------------------------- approaches
def ours(preset: str, **params):
    from emoclassic.audio import PooledFeatures

    est = PooledFeatures(preset, **params)

    def run(paths):
        return est.transform(paths)

    return run


def plain_librosa():
    """The default preset's descriptors, one librosa call each (each recomputes the STFT)."""
    import librosa

    from emoclassic.audio import load_audio
    from emoclassic.audio._pooled import STATS, functionals

    kw = {"n_fft": 512, "hop_length": 160}

    def one(y):
        mel = librosa.feature.melspectrogram(y=y, sr=bench.SR, n_mels=64, **kw)
        logmel = librosa.power_to_db(mel)
        mfcc = librosa.feature.mfcc(y=y, sr=bench.SR, n_mfcc=20, n_mels=64, **kw)
        d1 = librosa.feature.delta(mfcc, width=5, mode="nearest")
        d2 = librosa.feature.delta(mfcc, width=5, order=2, mode="nearest")
        spectral = np.vstack([
            librosa.feature.spectral_centroid(y=y, sr=bench.SR, **kw),
            librosa.feature.spectral_bandwidth(y=y, sr=bench.SR, **kw),
            *[librosa.feature.spectral_rolloff(y=y, sr=bench.SR, roll_percent=r, **kw)
              for r in (0.25, 0.5, 0.85, 0.95)],
            librosa.feature.spectral_flatness(y=y, **kw),
            librosa.feature.spectral_contrast(y=y, sr=bench.SR, **kw),
            librosa.feature.rms(y=y, frame_length=512, hop_length=160),
            librosa.feature.zero_crossing_rate(y, frame_length=512, hop_length=160),
        ])
        f0 = librosa.yin(y, fmin=60, fmax=600, sr=bench.SR, frame_length=1024, hop_length=160)
        n = min(m.shape[1] for m in (logmel, mfcc, spectral)) if len(f0) else 0
        rate = bench.SR / 160
        return np.concatenate([
            functionals(logmel[:, :n], ("mean", "std"), frame_rate=rate).ravel(),
            functionals(np.vstack([mfcc, d1, spectral])[:, :n], STATS, frame_rate=rate).ravel(),
            functionals(d2[:, :n], ("mean", "std"), frame_rate=rate).ravel(),
            functionals(f0[None, :], STATS, frame_rate=rate).ravel(),
        ])

    def run(paths):
        return np.stack([one(load_audio(p, sr=bench.SR)) for p in paths])

    return run


def opensmile_block(feature_set: str):
    """openSMILE functionals through emoclassic's block (load_audio at 16 kHz, then openSMILE)."""
    from emoclassic.audio import OpenSmileFeatures

    est = OpenSmileFeatures(feature_set)

    def run(paths):
        return est.transform(paths)

    return run


def opensmile_direct(feature_set: str):
    """opensmile's own file reader and extraction, no emoclassic: the overhead reference."""
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set],
        feature_level=opensmile.FeatureLevel.Functionals,
    )

    def run(paths):
        return np.stack([smile.process_file(p).to_numpy()[0] for p in paths])

    return run


def opensmile_installed() -> bool:
    try:
        import opensmile  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- memory child
def memory_child(manifest: str, preset: str) -> None:
    """Run in a fresh process: extract every clip of ``manifest``, print peak RSS as JSON.

    The kernel's peak-RSS counter is reset after the imports and a warm-up (Linux
    ``/proc/self/clear_refs``), so the peak is that of the extraction itself.
    """
    import pandas as pd

    from emoclassic.audio import PooledFeatures

    paths = pd.read_csv(manifest)["path"].astype(str).tolist()
    est = PooledFeatures(preset)
    est.transform(paths[:2])  # imports and plans loaded: the baseline
    reset = bench.reset_peak_rss()
    base = bench.rss_mib()
    t = bench.timed(est.transform, paths)
    print(json.dumps({"n": len(paths), "baseline_mib": base, "peak_mib": bench.peak_rss_mib(reset),
                      "output_mib": t.result.nbytes / 2**20, "wall_s": t.wall,
                      "peak_reset": reset}))  # fmt: skip


def memory_run(folder: Path, n: int, seconds: float, preset: str) -> dict:
    """``n`` generated clips of ``seconds`` s extracted in a fresh process (peak RSS)."""
    df = bench.make_clips(folder, n, seconds=(seconds, seconds), seed=n)
    manifest = folder / "paths.csv"
    df[["path"]].to_csv(manifest, index=False)
    return bench.run_child([sys.executable, __file__, "--memory-child", str(manifest),
                      "--preset", preset])  # fmt: skip


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", help="NAME:FOLDER or FOLDER of audio files (default: generate)")
    ap.add_argument("--n", type=int, default=200, help="clips to use (default 200; 0 = all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1, help="also time n_jobs=JOBS (default 1: off)")
    ap.add_argument("--memory-sizes", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--memory-seconds", type=float, default=0.5, help="length of those clips")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--opensmile-sets", nargs="*", default=["eGeMAPSv02", "ComParE_2016"],
                    help="openSMILE feature sets timed through OpenSmileFeatures (none: skip)")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = bench.parse_args(ap, argv)
    if args.memory_child:
        memory_child(args.memory_child, args.preset)
        return
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    with bench.workdir(prefix="bench_pooled_") as tmp:
        if args.smoke:
            args.corpus, args.n, args.repeats, args.jobs = None, 6, 1, 2
            args.memory_sizes, args.json = [8], args.json or str(tmp / "pooled.json")
        run(args, tmp)


def run(args, tmp: Path) -> None:
    if args.corpus:
        name, paths = bench.corpus_files(args.corpus, args.n)
    else:
        seconds = (0.5, 1.0) if args.smoke else (1.0, 4.0)
        name = f"generated ({args.n} clips, {seconds[0]:g}-{seconds[1]:g} s)"
        paths = bench.make_clips(tmp / "clips", args.n, seconds=seconds)["path"].tolist()
    audio_s = total_seconds(paths)
    print(f"corpus: {name}: {len(paths)} files, {audio_s:.1f} s of audio "
          f"(load average {bench.load1():.1f} on {os.cpu_count()} cores)")

    approaches = {
        "PooledFeatures('default')": ours("default"),
        "plain librosa, feature by feature": plain_librosa(),
        "PooledFeatures('logmel-meanstd')": ours("logmel-meanstd"),
        "PooledFeatures('compact')": ours("compact"),
        "PooledFeatures('large')": ours("large"),
        # the two blocks of the recommended specs (recommended-audio uses both)
        "PooledFeatures('large-vuv', n_mels=26)": ours("large-vuv", n_mels=26),
        "PooledFeatures('rasta-vq', n_mels=26)": ours("rasta-vq", n_mels=26),
    }
    direct_label = None
    if args.opensmile_sets and not opensmile_installed():
        print('openSMILE: not installed (pip install "emoclassic[opensmile]"); rows skipped')
    elif args.opensmile_sets:
        from importlib.metadata import version

        print(f"openSMILE {version('opensmile')}: functionals at 16 kHz mono")
        for fs in args.opensmile_sets:
            approaches[f"OpenSmileFeatures('{fs}')"] = opensmile_block(fs)
        direct_set = args.opensmile_sets[0]
        direct_label = f"opensmile.Smile('{direct_set}').process_file, direct"
        approaches[direct_label] = opensmile_direct(direct_set)
    for fn in approaches.values():  # warm-up: imports, plans, numba JIT of librosa
        fn(paths[:2])
    best = bench.best_of({k: partial(fn, paths) for k, fn in approaches.items()}, args.repeats)
    results = {"corpus": name, "files": len(paths), "audio_s": audio_s, "rows": {}}
    rows = []
    for label, t in best.items():
        dims = int(np.asarray(t.result).shape[1])
        results["rows"][label] = {"dims": dims, "wall_s": t.wall, "cpu_s": t.cpu,
                                  "rtf_wall": audio_s / t.wall, "rtf_cpu": audio_s / t.cpu}
        rows.append([label, dims, f"{t.wall:.2f}", f"{audio_s / t.wall:.0f}x",
                     f"{audio_s / t.cpu:.0f}x"])  # fmt: skip
    print()
    bench.print_table(["extractor", "dims", "wall s", "RTF (wall)", "RTF (CPU)"], rows)
    ratio = best["plain librosa, feature by feature"].wall / best["PooledFeatures('default')"].wall
    results["speedup_vs_librosa"] = ratio
    print(f"\nPooledFeatures('default') vs plain librosa: {ratio:.1f}x faster (wall)")
    if direct_label is not None:  # the block hands openSMILE the same samples: same values
        block_label = f"OpenSmileFeatures('{args.opensmile_sets[0]}')"
        block = np.asarray(best[block_label].result, dtype=np.float64)
        ref = np.asarray(best[direct_label].result)
        diff = float(np.max(np.abs(block - ref) / (np.abs(ref) + 1e-6)))
        overhead = best[block_label].wall / best[direct_label].wall
        results["opensmile_block_vs_direct"] = {"max_rel_diff": diff, "wall_ratio": overhead}
        print(f"{block_label} vs opensmile direct: max relative difference {diff:.1e}; "
              f"wall time {overhead:.2f}x the direct call's")

    from emoclassic.audio import PooledFeatures

    if args.jobs > 1:
        est = PooledFeatures("default", n_jobs=args.jobs)
        est.transform(paths[:4])
        wall = bench.timed(est.transform, paths).wall
        results["parallel"] = {"jobs": args.jobs, "wall_s": wall, "rtf_wall": audio_s / wall}
        print(f"PooledFeatures('default', n_jobs={args.jobs}): {audio_s / wall:.0f}x real time")

    # (e) cache: first run computes and writes, the second reads everything
    from emoclassic.features import FeatureStore

    firsts, seconds = [], []
    for r in range(args.repeats):  # a fresh cache each time; the cached run repeated too
        store = FeatureStore(tmp / f"cache{r}")
        first = bench.timed(PooledFeatures("default", cache=store).transform, paths)
        cached = bench.best_of(partial(PooledFeatures("default", cache=store).transform, paths), 3)
        firsts.append(first.wall)
        seconds.append(cached.wall)
        assert np.array_equal(first.result, cached.result) and store.writes == len(paths)
    first, second = min(firsts), min(seconds)
    results["cache"] = {"first_s": first, "second_s": second, "speedup": first / second}
    print(f"cache: first run {first:.2f} s, fully cached run {second:.3f} s "
          f"({first / second:.0f}x faster, {1e6 * second / len(paths):.0f} us per clip)")

    # (f) memory, each size in a fresh process
    mem = []
    for n in args.memory_sizes:
        r = memory_run(tmp / f"mem{n}", n, args.memory_seconds, args.preset)
        mem.append(r)
        print(f"memory: {n} clips of {args.memory_seconds} s: peak RSS during extraction "
              f"{r['peak_mib']:.0f} MiB (RSS before {r['baseline_mib']:.0f} MiB, growth "
              f"{r['peak_mib'] - r['baseline_mib']:.0f} MiB of which the output matrix is "
              f"{r['output_mib']:.1f} MiB; {r['wall_s']:.1f} s)")
    results["memory"] = mem
    if args.json:
        bench.write_json(args.json, results)


if __name__ == "__main__":
    main()
