"""Speed and memory of the pooled audio features, side by side with plain librosa.

Measures, in one run and on one core (every BLAS/OpenMP pool limited to one thread, n_jobs=1):

(a) ``PooledFeatures("default")``: seconds of audio per wall second (real-time factor, RTF),
    decoding included; also the other presets;
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

Every timing is the best of ``--repeats`` runs, the approaches interleaved within each repeat so
that they share the machine's load; CPU seconds are reported beside wall seconds.

    .venv/bin/python benchmarks/bench_pooled.py                       # 200 generated clips
    .venv/bin/python benchmarks/bench_pooled.py --corpus emodb:/work/shared/data/emodb/audio
    .venv/bin/python benchmarks/bench_pooled.py --n 100 --memory-sizes   # skip (f)
    .venv/bin/python benchmarks/bench_pooled.py --opensmile-sets         # skip the openSMILE rows
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 16000
AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}


# --------------------------------------------------------------------------- clips
def synth_clip(rng: np.random.Generator, seconds: float, sr: int = SR) -> np.ndarray:
    """A speech-like clip: a harmonic source with a moving pitch, syllable envelope, noise."""
    from scipy.signal import lfilter

    n = max(1, int(seconds * sr))
    t = np.arange(n) / sr
    f0 = rng.uniform(90, 280) * np.exp(
        rng.normal(0, 0.08) * np.sin(2 * np.pi * rng.uniform(1, 4) * t) + rng.normal(0, 0.1) * t
    )
    phase = 2 * np.pi * np.cumsum(f0) / sr
    src = sum(np.sin(k * phase) / k**1.2 for k in range(1, 16))
    y = lfilter([1.0], [1.0, -rng.uniform(0.3, 0.8)], src)
    env = np.clip(np.sin(np.pi * rng.uniform(3, 6) * t) ** 2 + rng.uniform(-0.2, 0.1), 0, None)
    y = y * env + rng.normal(0, 0.02, n)
    return (0.3 * y / (np.abs(y).max() + 1e-9)).astype(np.float32)


def make_clips(folder: Path, n: int, *, seconds=(1.0, 4.0), seed: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = [synth_clip(rng, rng.uniform(*seconds)) for _ in range(min(n, 64))]
    paths = []
    for i in range(n):  # reuse a pool of sources with fresh noise: fast for 10 000 clips
        y = base[i % len(base)] + rng.normal(0, 0.003, len(base[i % len(base)])).astype(np.float32)
        p = folder / f"clip{i:05d}.wav"
        sf.write(p, y, SR, subtype="PCM_16")
        paths.append(str(p))
    return paths


def corpus_files(spec: str, n: int | None) -> tuple[str, list[str]]:
    name, _, path = spec.partition(":") if ":" in spec else (Path(spec).name, ":", spec)
    files = sorted(str(p) for p in Path(path).rglob("*") if p.suffix.lower() in AUDIO_EXT)
    if not files:
        sys.exit(f"no audio files under {path}")
    return name, files[:n] if n else files


def total_seconds(paths: list[str]) -> float:
    return float(sum(sf.info(p).duration for p in paths))


# --------------------------------------------------------------------------- approaches
def ours(preset: str):
    from emoclassic.audio import PooledFeatures

    est = PooledFeatures(preset)

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
        mel = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=64, **kw)
        logmel = librosa.power_to_db(mel)
        mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, n_mels=64, **kw)
        d1 = librosa.feature.delta(mfcc, width=5, mode="nearest")
        d2 = librosa.feature.delta(mfcc, width=5, order=2, mode="nearest")
        spectral = np.vstack([
            librosa.feature.spectral_centroid(y=y, sr=SR, **kw),
            librosa.feature.spectral_bandwidth(y=y, sr=SR, **kw),
            *[librosa.feature.spectral_rolloff(y=y, sr=SR, roll_percent=r, **kw)
              for r in (0.25, 0.5, 0.85, 0.95)],
            librosa.feature.spectral_flatness(y=y, **kw),
            librosa.feature.spectral_contrast(y=y, sr=SR, **kw),
            librosa.feature.rms(y=y, frame_length=512, hop_length=160),
            librosa.feature.zero_crossing_rate(y, frame_length=512, hop_length=160),
        ])
        f0 = librosa.yin(y, fmin=60, fmax=600, sr=SR, frame_length=1024, hop_length=160)
        n = min(m.shape[1] for m in (logmel, mfcc, spectral)) if len(f0) else 0
        rate = SR / 160
        return np.concatenate([
            functionals(logmel[:, :n], ("mean", "std"), frame_rate=rate).ravel(),
            functionals(np.vstack([mfcc, d1, spectral])[:, :n], STATS, frame_rate=rate).ravel(),
            functionals(d2[:, :n], ("mean", "std"), frame_rate=rate).ravel(),
            functionals(f0[None, :], STATS, frame_rate=rate).ravel(),
        ])

    def run(paths):
        return np.stack([one(load_audio(p, sr=SR)) for p in paths])

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


def timed(fn, paths) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(paths)
    return time.perf_counter() - w0, time.process_time() - c0, out


# --------------------------------------------------------------------------- memory child
def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(folder: str, preset: str) -> None:
    """Run in a fresh process: extract every clip of ``folder``, print peak RSS as JSON.

    The kernel's peak-RSS counter is reset after the imports and a warm-up (Linux
    ``/proc/self/clear_refs``), so the peak is that of the extraction itself.
    """
    from emoclassic.audio import PooledFeatures

    paths = sorted(str(p) for p in Path(folder).glob("*.wav"))
    est = PooledFeatures(preset)
    est.transform(paths[:2])  # imports and plans loaded: the baseline
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    base = _status_mib("VmRSS")
    t0 = time.perf_counter()
    X = est.transform(paths)
    wall = time.perf_counter() - t0
    peak = _status_mib("VmHWM") if reset else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": len(paths), "baseline_mib": base, "peak_mib": peak,
                      "output_mib": X.nbytes / 2**20, "wall_s": wall, "peak_reset": reset}))


def memory_run(folder: Path, preset: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(folder), "--preset", preset],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main
def main() -> None:
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
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.preset)
        return
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_pooled_"))
    if args.corpus:
        name, paths = corpus_files(args.corpus, args.n)
    else:
        name, paths = f"generated ({args.n} clips, 1-4 s)", make_clips(tmp / "clips", args.n)
    audio_s = total_seconds(paths)
    print(f"corpus: {name}: {len(paths)} files, {audio_s:.1f} s of audio "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")

    approaches = {
        "PooledFeatures('default')": ours("default"),
        "plain librosa, feature by feature": plain_librosa(),
        "PooledFeatures('logmel-meanstd')": ours("logmel-meanstd"),
        "PooledFeatures('compact')": ours("compact"),
        "PooledFeatures('large')": ours("large"),
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
    best: dict[str, tuple[float, float]] = {}
    dims: dict[str, int] = {}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for label, fn in approaches.items():
            wall, cpu, out = timed(fn, paths)
            dims[label] = int(np.asarray(out).shape[1])
            outputs[label] = np.asarray(out)
            prev = best.get(label, (np.inf, np.inf))
            best[label] = (min(prev[0], wall), min(prev[1], cpu))
    results = {"corpus": name, "files": len(paths), "audio_s": audio_s, "rows": {}}
    print("\n| extractor | dims | wall s | RTF (wall) | RTF (CPU) |\n|---|---|---|---|---|")
    for label, (wall, cpu) in best.items():
        results["rows"][label] = {"dims": dims[label], "wall_s": wall, "cpu_s": cpu,
                                  "rtf_wall": audio_s / wall, "rtf_cpu": audio_s / cpu}
        print(f"| {label} | {dims[label]} | {wall:.2f} | {audio_s / wall:.0f}x "
              f"| {audio_s / cpu:.0f}x |")
    ours_w = best["PooledFeatures('default')"][0]
    lib_w = best["plain librosa, feature by feature"][0]
    ratio = lib_w / ours_w
    results["speedup_vs_librosa"] = ratio
    print(f"\nPooledFeatures('default') vs plain librosa: {ratio:.1f}x faster (wall)")
    if direct_label is not None:  # the block hands openSMILE the same samples: same values
        block_label = f"OpenSmileFeatures('{args.opensmile_sets[0]}')"
        block = outputs[block_label].astype(np.float64)
        ref = outputs[direct_label]
        diff = float(np.max(np.abs(block - ref) / (np.abs(ref) + 1e-6)))
        overhead = best[block_label][0] / best[direct_label][0]
        results["opensmile_block_vs_direct"] = {"max_rel_diff": diff, "wall_ratio": overhead}
        print(f"{block_label} vs opensmile direct: max relative difference {diff:.1e}; "
              f"wall time {overhead:.2f}x the direct call's")

    if args.jobs > 1:
        from emoclassic.audio import PooledFeatures

        est = PooledFeatures("default", n_jobs=args.jobs)
        est.transform(paths[:4])
        wall, _, _ = timed(est.transform, paths)
        results["parallel"] = {"jobs": args.jobs, "wall_s": wall, "rtf_wall": audio_s / wall}
        print(f"PooledFeatures('default', n_jobs={args.jobs}): {audio_s / wall:.0f}x real time")

    # (e) cache: first run computes and writes, the second reads everything
    from emoclassic.audio import PooledFeatures
    from emoclassic.features import FeatureStore

    firsts, seconds = [], []
    for r in range(args.repeats):  # a fresh cache each time; the cached run repeated too
        store = FeatureStore(tmp / f"cache{r}")
        wall, _, a = timed(PooledFeatures("default", cache=store).transform, paths)
        firsts.append(wall)
        for _ in range(3):
            wall, _, b = timed(PooledFeatures("default", cache=store).transform, paths)
            seconds.append(wall)
        assert np.array_equal(a, b) and store.writes == len(paths)
    first, second = min(firsts), min(seconds)
    results["cache"] = {"first_s": first, "second_s": second, "speedup": first / second}
    print(f"cache: first run {first:.2f} s, fully cached run {second:.3f} s "
          f"({first / second:.0f}x faster, {1e6 * second / len(paths):.0f} us per clip)")

    # (f) memory, each size in a fresh process
    mem = []
    for n in args.memory_sizes:
        folder = tmp / f"mem{n}"
        make_clips(folder, n, seconds=(args.memory_seconds, args.memory_seconds), seed=n)
        r = memory_run(folder, args.preset)
        mem.append(r)
        print(f"memory: {n} clips of {args.memory_seconds} s: peak RSS during extraction "
              f"{r['peak_mib']:.0f} MiB (RSS before {r['baseline_mib']:.0f} MiB, growth "
              f"{r['peak_mib'] - r['baseline_mib']:.0f} MiB of which the output matrix is "
              f"{r['output_mib']:.1f} MiB; {r['wall_s']:.1f} s)")
    results["memory"] = mem
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
