"""Speed of the AlexNet audio branch: frozen embeddings (clips/s) and classifier fit time.

Measures, on generated 1.5-3 s speech-like clips (the demo corpus generator, 16 kHz WAV, 4
emotion classes; ``benchmarks/_common.py``) or a real corpus (``--corpus DIR``):

1. frozen ``fc7`` embeddings end to end (decode + log-mel image + forward pass, no cache) with
   ``--threads`` torch threads at each ``--sizes`` input size (target: >= 40 clips/s at 224 on
   2 cores);
2. where the time goes: decoding + spectrogram images alone, and the forward pass alone in
   three forms — the naive one (image replicated to 3 channels, normalised, NCHW), the same in
   channels_last, and the shipped one (normalisation folded into a single-channel conv1 run
   as a space-to-depth 3x3 convolution, channels_last, fixed-shape batches);
3. ``AlexNetSpectrogramClassifier`` fit time on ``--fit-clips`` clips for ``--fit-epochs``
   epochs (the 4 classes of the generated clips), images computed first and timed apart.

Usage::

    .venv/bin/python benchmarks/speed/alexnet.py                 # full run (~3-5 min)
    .venv/bin/python benchmarks/speed/alexnet.py --smoke         # 8 clips at 128, tiny fit
    .venv/bin/python benchmarks/speed/alexnet.py --corpus /work/shared/data/emodb/audio

The load average is printed with the figures: on a shared machine other processes compete for
the same cores, and OpenMP threads that wait for each other make that cost more than its share.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402


def bench_embeddings(paths, size: int, threads: int, batch: int, repeat: int) -> dict:
    import torch

    from emoclassic._torch import torch_threads
    from emoclassic.audio._alexnet import AlexNetEmbedder, _frozen_net, _one_blas_thread
    from emoclassic.audio._io import load_audio
    from emoclassic.audio._spectrogram import spectrogram_image
    from emoclassic.audio._torchutil import AlexNet

    emb = AlexNetEmbedder(input_size=size, n_threads=threads, batch_size=batch)
    build = bench.timed(_frozen_net, None, 0)
    net = build.result
    emb.transform(paths[:batch])  # warm-up: oneDNN primitives for this shape
    n = len(paths)
    total = bench.best_of(partial(emb.transform, paths), repeat).wall

    def images():  # as the embedder computes them: numpy's BLAS on one thread
        with _one_blas_thread():
            return np.stack([spectrogram_image(load_audio(p, sr=bench.SR), bench.SR,
                                               size=(size, size)) for p in paths])  # fmt: skip

    t_img = bench.best_of(images, repeat).wall
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
    with torch_threads(threads), torch.inference_mode():
        best = {k: t.wall for k, t in bench.best_of(variants, repeat, warmup=True).items()}
    t_ship = best["shipped_folded_1ch_s2d"]
    return {
        "input_size": size,
        "threads": threads,
        "batch_size": batch,
        "clips": n,
        "model_build_s": round(build.wall, 2),
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
    total = bench.best_of(partial(emb.transform, paths), repeat).wall
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
        t_img = bench.timed(clf._images, paths, reset=True).wall  # fills the cache: a first fold's
        t_fit = bench.timed(clf.fit, paths, labels).wall
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
    ap.add_argument("--json", help="also write the results to this file")
    args = bench.parse_args(ap, argv)
    if args.smoke:
        args.clips, args.fit_clips, args.fit_epochs, args.repeat, args.corpus = 8, 16, 1, 1, None
        args.sizes, args.threads, args.batch_size, args.fit_hidden = "128", "1", 8, "64"
    logging.basicConfig(level=logging.ERROR)
    import torch

    results = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "load_avg_start": bench.machine()["load_avg"],
    }
    with bench.workdir(prefix="bench_alexnet_") as tmp:
        n_gen = max(args.clips, 0 if args.skip_fit else args.fit_clips)
        seconds = (0.5, 1.0) if args.smoke else (1.5, 3.0)
        gen = bench.make_clips(tmp / "clips", n_gen, seconds=seconds)
        gen_paths, gen_labels = gen["path"].tolist(), gen["label"].to_numpy()
        paths = (bench.corpus_files(args.corpus, args.clips)[1] if args.corpus
                 else gen_paths[: args.clips])  # fmt: skip
        results["clips_source"] = args.corpus or f"generated {seconds[0]}-{seconds[1]} s WAV"
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
        results["load_avg_end"] = bench.machine()["load_avg"]
        print(json.dumps({k: results[k] for k in ("load_avg_start", "load_avg_end")}))
        if args.json or args.smoke:
            bench.write_json(args.json or tmp / "alexnet.json", results)


if __name__ == "__main__":
    main()
