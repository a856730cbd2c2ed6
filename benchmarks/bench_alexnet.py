"""Speed of the AlexNet audio branch: frozen embeddings (clips/s) and classifier fit time.

Measures, on generated 1.5-3 s clips written as 16 kHz WAV files (or a real corpus with
``--corpus DIR``):

1. frozen ``fc7`` embeddings end to end (decode + log-mel image + forward pass, no cache) with
   ``--threads`` torch threads at each ``--sizes`` input size (target: >= 40 clips/s at 224 on
   2 cores);
2. where the time goes: decoding + spectrogram images alone, and the forward pass alone in
   three forms — the naive one (image replicated to 3 channels, normalised, NCHW), the same in
   channels_last, and the shipped one (normalisation folded into a single-channel conv1 run
   as a space-to-depth 3x3 convolution, channels_last, fixed-shape batches);
3. ``AlexNetSpectrogramClassifier`` fit time on ``--fit-clips`` clips for ``--fit-epochs``
   epochs (4 pitch classes), images computed first and timed apart.

Usage::

    .venv/bin/python benchmarks/bench_alexnet.py                 # full run (~3-5 min)
    .venv/bin/python benchmarks/bench_alexnet.py --quick         # smoke run
    .venv/bin/python benchmarks/bench_alexnet.py --corpus /work/shared/data/emodb/audio

The load average is printed with the figures: on a shared machine other processes compete for
the same cores, and OpenMP threads that wait for each other make that cost more than its share.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 16000


def make_clips(folder: Path, n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` WAV clips of 1.5-3 s: a harmonic tone (class = pitch band) with vibrato and
    noise, at varying levels. Returns paths and class labels (0-3)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    bands = [(100, 180), (180, 300), (300, 500), (500, 800)]
    paths, labels = [], []
    for i in range(n):
        label = int(rng.integers(len(bands)))
        dur = rng.uniform(1.5, 3.0)
        t = np.arange(int(dur * SR)) / SR
        f0 = rng.uniform(*bands[label]) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6))
        y = y * rng.uniform(0.2, 1.0) + 0.01 * rng.standard_normal(t.size)
        path = folder / f"clip{i:05d}.wav"
        sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")
        paths.append(str(path))
        labels.append(label)
    return paths, np.array(labels)


def corpus_clips(folder: str, n: int) -> list[str]:
    exts = {".wav", ".flac", ".ogg", ".mp3"}
    paths = sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in exts)
    if not paths:
        sys.exit(f"no audio files under {folder}")
    return paths[:n]


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_embeddings(paths, size: int, threads: int, batch: int, repeat: int) -> dict:
    import torch

    from emoclassic._torch import torch_threads
    from emoclassic.audio._alexnet import AlexNetEmbedder, _frozen_net, _one_blas_thread
    from emoclassic.audio._io import load_audio
    from emoclassic.audio._spectrogram import spectrogram_image
    from emoclassic.audio._torchutil import AlexNet

    emb = AlexNetEmbedder(input_size=size, n_threads=threads, batch_size=batch)
    t0 = time.perf_counter()
    net = _frozen_net(None, 0)
    build = time.perf_counter() - t0
    emb.transform(paths[:batch])  # warm-up: oneDNN primitives for this shape
    n = len(paths)
    total = best_of(lambda: emb.transform(paths), repeat)

    def images():  # as the embedder computes them: numpy's BLAS on one thread
        with _one_blas_thread():
            return np.stack(
                [spectrogram_image(load_audio(p, sr=SR), SR, size=(size, size)) for p in paths]
            )

    t_img = best_of(images, repeat)
    imgs = images()
    x1 = torch.from_numpy(imgs).unsqueeze(1)
    nchw = AlexNet()
    nchw.load_state_dict(net.state_dict())
    nchw.eval().requires_grad_(False)

    def naive(model, fmt):
        def run():
            for i in range(0, n, batch):
                x = model.normalise_spectrogram(x1[i : i + batch]).contiguous(memory_format=fmt)
                model.embed(x, "fc7")

        return run

    def folded(impl):
        def run():
            net.conv1_impl = impl
            try:
                emb.embed_images(imgs)
            finally:
                net.conv1_impl = "s2d"

        return run

    variants = {
        "naive_3ch_nchw": naive(nchw, torch.contiguous_format),
        "naive_3ch_channels_last": naive(net, torch.channels_last),
        "folded_1ch_direct": folded("direct"),
        "shipped_folded_1ch_s2d": folded("s2d"),
    }
    # interleaved, best of `repeat`: load from other processes hits every variant alike
    best = dict.fromkeys(variants, float("inf"))
    with torch_threads(threads), torch.inference_mode():
        for fn in variants.values():
            fn()
        for _ in range(repeat):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)
    t_ship = best["shipped_folded_1ch_s2d"]
    return {
        "input_size": size,
        "threads": threads,
        "batch_size": batch,
        "clips": n,
        "model_build_s": round(build, 2),
        "end_to_end_clips_per_s": round(n / total, 1),
        "images_only_clips_per_s": round(n / t_img, 1),
        "forward_only_clips_per_s": {k: round(n / v, 1) for k, v in best.items()},
        "share_of_time_images": round(t_img / (t_img + t_ship), 2),
    }


def bench_jobs(paths, size: int, jobs: int, batch: int, repeat: int) -> dict:
    """End to end with ``jobs`` worker processes of one torch thread each (joblib/loky)."""
    from emoclassic.audio._alexnet import AlexNetEmbedder

    emb = AlexNetEmbedder(input_size=size, n_threads=1, n_jobs=jobs, batch_size=batch)
    emb.transform(paths[: batch * jobs])  # warm-up: start workers, build one network each
    total = best_of(lambda: emb.transform(paths), repeat)
    return {
        "input_size": size,
        "jobs": jobs,
        "threads_per_job": 1,
        "batch_size": batch,
        "clips": len(paths),
        "end_to_end_clips_per_s": round(len(paths) / total, 1),
    }


def bench_fit(paths, labels, *, size, epochs, threads, batch, hidden) -> dict:
    from emoclassic.audio._alexnet import AlexNetSpectrogramClassifier
    from emoclassic.features import FeatureStore

    with tempfile.TemporaryDirectory() as cache:
        clf = AlexNetSpectrogramClassifier(
            input_size=size,
            epochs=epochs,
            batch_size=batch,
            n_threads=threads,
            hidden_size=hidden,
            validation_fraction=0.15,
            patience=epochs,
            cache=cache,
        )
        t0 = time.perf_counter()
        clf._images(paths, reset=True)  # fills the cache: what a first CV fold pays
        t_img = time.perf_counter() - t0
        t0 = time.perf_counter()
        clf.fit(paths, labels)
        t_fit = time.perf_counter() - t0
        n_cached = len(FeatureStore(cache))
    return {
        "clips": len(paths),
        "input_size": size,
        "hidden_size": hidden,
        "epochs": clf.n_epochs_,
        "threads": threads,
        "images_s": round(t_img, 1),
        "fit_s_images_cached": round(t_fit, 1),
        "s_per_epoch": round(t_fit / clf.n_epochs_, 1),
        "val_accuracy_last_epoch": round(clf.history_[-1].get("val_accuracy", float("nan")), 3),
        "cache_entries": n_cached,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=256, help="clips for the embedding runs")
    ap.add_argument("--sizes", default="224,128", help="input sizes, comma-separated")
    ap.add_argument("--threads", default="2", help="torch thread counts, comma-separated")
    ap.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="also time this many 1-thread worker processes (0: skip)",
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2, help="best of N timings")
    ap.add_argument("--corpus", help="folder of real audio files instead of generated clips")
    ap.add_argument("--fit-clips", type=int, default=500)
    ap.add_argument("--fit-epochs", type=int, default=3)
    ap.add_argument("--fit-size", type=int, default=128)
    ap.add_argument("--fit-hidden", default="4096,512", help="hidden sizes to time")
    ap.add_argument("--skip-fit", action="store_true")
    ap.add_argument("--skip-embeddings", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny run to check the script works")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.clips, args.fit_clips, args.fit_epochs, args.repeat = 32, 48, 1, 1
        args.fit_hidden = "512"
    import logging

    logging.basicConfig(level=logging.ERROR)
    import torch

    results = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "load_avg_start": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as tmp:
        n_gen = max(args.clips, 0 if args.skip_fit else args.fit_clips)
        gen_paths, gen_labels = make_clips(Path(tmp), n_gen)
        paths = corpus_clips(args.corpus, args.clips) if args.corpus else gen_paths[: args.clips]
        results["clips_source"] = args.corpus or "generated 1.5-3 s WAV, 16 kHz"
        results["embeddings"] = []
        threads = [int(t) for t in args.threads.split(",")]
        sizes = [] if args.skip_embeddings else [int(s) for s in args.sizes.split(",")]
        for size in sizes:
            for th in threads:
                r = bench_embeddings(paths, size, th, args.batch_size, args.repeat)
                results["embeddings"].append(r)
                print(json.dumps(r), flush=True)
            if args.jobs > 1:
                r = bench_jobs(paths, size, args.jobs, args.batch_size, args.repeat)
                results["embeddings"].append(r)
                print(json.dumps(r), flush=True)
        if not args.skip_fit:
            results["fit"] = []
            for hidden in (int(h) for h in args.fit_hidden.split(",")):
                r = bench_fit(
                    gen_paths[: args.fit_clips],
                    gen_labels[: args.fit_clips],
                    size=args.fit_size,
                    epochs=args.fit_epochs,
                    threads=threads[0],
                    batch=args.batch_size,
                    hidden=hidden,
                )
                results["fit"].append(r)
                print(json.dumps(r), flush=True)
    results["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps({k: results[k] for k in ("load_avg_start", "load_avg_end")}))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
