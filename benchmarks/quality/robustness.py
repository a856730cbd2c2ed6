"""Robustness of an audio spec's predictions to how a recording was stored (issue 15, item 4).

Speaker-grouped outer folds (5 ``StratifiedGroupKFold`` folds by default, ``--folds 0`` = leave
one speaker out). In each fold the spec (default ``recommended-audio``) is fitted on the
training speakers' ORIGINAL clips with :func:`emoclassic.evaluation.fit_final` (its grid tuned
on inner folds), then predicts the held-out speakers' clips as they are and after each
transform below, each written to a file and read back through the normal loading path. Per
transform: label agreement with the prediction on the original clip, and UA (balanced accuracy
against the true labels), pooled over the folds: every clip is judged by a model that never saw
its speaker.

Lossless group (the label must not move: target agreement >= 0.95):
    ``sr22050``, ``sr44100``, ``sr48000``   resampled (scipy's polyphase resampler, not the one
                                            the loader uses), 16-bit WAV
    ``stereo44100``                         44.1 kHz stereo, right channel 0.8 x the left
    ``gain-12dB``                           -12 dB
    ``pad0.4s``                             0.4 s of digital silence at both ends
Lossy group (reported, no target):
    ``gain+6dB-clip``                       +6 dB, clipped at full scale
    ``telephone8k``                         300-3400 Hz band-pass, 8 kHz, 16-bit
    ``mp3-lowrate``                         MP3, 24 kbit/s constant (16 kHz, soundfile's
                                            ``compression_level=0.9``; 1.0 is refused)
    ``ogg-lowrate``                         Ogg Vorbis at its lowest quality
                                            (``compression_level=1``, about 40 kbit/s);
                                            either is skipped where libsndfile cannot write it
    ``noise20dB``, ``noise10dB``            white noise at 20 / 10 dB SNR (clip RMS)
    ``reverb``                              exponentially decaying noise tail, RT60 0.4 s,
                                            direct-to-reverberant ratio 3 dB

When the predictions carry an out-of-distribution flag (``out_of_distribution`` in
:func:`emoclassic.prediction.predict_manifest`'s rows), the flag rates per transform and on
three non-speech inputs (silence, a steady tone, white noise) are reported too; otherwise that
column says ``n/a``.

    .venv/bin/python benchmarks/quality/robustness.py --corpus emodb:/work/shared/data/emodb \
        --cache /tmp/emo_cache_robust --audio-dir /tmp/robust_audio -j 2 --json /tmp/robust.json
    .venv/bin/python benchmarks/quality/robustness.py --smoke   # tiny generated corpus, 2 folds

Transformed files are written once under ``--audio-dir`` (kept and reused when given) and their
features go to ``--cache``, so a rerun with other code only recomputes what changed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
import numpy as np  # noqa: E402

from benchmarks import _common as bench  # noqa: E402

LOSSLESS = ("sr22050", "sr44100", "sr48000", "stereo44100", "gain-12dB", "pad0.4s")
LOSSY = ("gain+6dB-clip", "telephone8k", "mp3-lowrate", "ogg-lowrate", "noise20dB",
         "noise10dB", "reverb")
TARGET_AGREEMENT = 0.95


# --------------------------------------------------------------------------- transforms
def _resample(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr, target)
    return resample_poly(y, target // g, sr // g).astype(np.float32)


def _reverb_ir(sr: int, rt60: float = 0.4, drr_db: float = 3.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.normal(size=n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.002 * sr)] = 0.0  # the first reflection after 2 ms
    tail *= 10 ** (-drr_db / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0  # the direct path
    return tail


def transform(name: str, y: np.ndarray, sr: int, seed: int = 0):
    """``(samples (n,) or (n, channels), rate, format, subtype)`` of ``name`` applied to ``y``."""
    y = np.asarray(y, dtype=np.float64)
    if name.startswith("sr"):
        return _resample(y, sr, int(name[2:])), int(name[2:]), "WAV", "PCM_16"
    if name == "stereo44100":
        left = _resample(y, sr, 44100)
        return np.stack([left, 0.8 * left], axis=1), 44100, "WAV", "PCM_16"
    if name == "gain-12dB":
        return y * 10 ** (-12 / 20), sr, "WAV", "PCM_16"
    if name == "pad0.4s":
        z = np.zeros(int(0.4 * sr))
        return np.concatenate([z, y, z]), sr, "WAV", "PCM_16"
    if name == "gain+6dB-clip":
        return np.clip(y * 10 ** (6 / 20), -1.0, 1.0), sr, "WAV", "PCM_16"
    if name == "telephone8k":
        from scipy.signal import butter, sosfiltfilt

        sos = butter(4, [300, 3400], btype="bandpass", fs=sr, output="sos")
        return _resample(sosfiltfilt(sos, y), sr, 8000), 8000, "WAV", "PCM_16"
    if name == "mp3-lowrate":
        return y, sr, "MP3", "MPEG_LAYER_III"
    if name == "ogg-lowrate":
        return y, sr, "OGG", "VORBIS"
    if name.startswith("noise"):
        snr = float(name[5:-2])
        rng = np.random.default_rng(seed)
        rms = np.sqrt(np.mean(y**2)) or 1e-4
        out = y + rng.normal(size=y.shape) * rms * 10 ** (-snr / 20)
        return np.clip(out, -1, 1), sr, "WAV", "PCM_16"
    if name == "reverb":
        from scipy.signal import fftconvolve

        out = fftconvolve(y, _reverb_ir(sr, seed=seed))[: len(y)]
        peak = np.max(np.abs(out)) or 1.0
        return out * (np.max(np.abs(y)) / peak), sr, "WAV", "PCM_16"
    raise ValueError(f"unknown transform {name!r}")


def writable(name: str) -> bool:
    import soundfile as sf

    if name == "mp3-lowrate":
        return "MP3" in sf.available_formats()
    if name == "ogg-lowrate":
        return "OGG" in sf.available_formats()
    return True


def _write_one(src: str, dst: str, name: str, seed: int) -> None:
    import soundfile as sf

    if Path(dst).is_file():
        return
    y, sr = sf.read(src, dtype="float64", always_2d=False)
    if y.ndim == 2:
        y = y.mean(axis=1)
    out, rate, fmt, subtype = transform(name, y, sr, seed=seed)
    tmp = dst + ".part"
    kw = {"MP3": {"compression_level": 0.9, "bitrate_mode": "CONSTANT"},  # 24 kbit/s at 16 kHz
          "OGG": {"compression_level": 1.0}}.get(fmt, {})  # Vorbis' lowest quality (VBR)
    sf.write(tmp, np.asarray(out, dtype=np.float32), rate, format=fmt, subtype=subtype, **kw)
    Path(tmp).rename(dst)


def write_transformed(manifest, names, folder: Path, n_jobs: int):
    """One manifest per transform (ids ``<id>@<name>``), the files written under ``folder``."""
    from joblib import Parallel, delayed

    ext = {"MP3": ".mp3", "OGG": ".ogg"}
    out = {}
    jobs = []
    for name in names:
        fmt = transform(name, np.zeros(160), 16000)[2]
        d = folder / name
        d.mkdir(parents=True, exist_ok=True)
        paths = [str(d / f"{i}{ext.get(fmt, '.wav')}") for i in manifest["id"]]
        jobs += [(src, dst, name, k) for k, (src, dst) in
                 enumerate(zip(manifest["path"], paths, strict=True))]
        out[name] = manifest.assign(id=[f"{i}@{name}" for i in manifest["id"]], path=paths)
    Parallel(n_jobs=n_jobs)(delayed(_write_one)(*j) for j in jobs)
    return out


def non_speech(folder: Path, sr: int = 16000, seconds: float = 3.0):
    """Three decodable files without speech: digital silence, a 440 Hz tone, white noise."""
    import pandas as pd
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    clips = {"silence": np.zeros_like(t), "tone440": 0.3 * np.sin(2 * np.pi * 440 * t),
             "noise": 0.1 * rng.normal(size=t.size)}
    rows = []
    for name, y in clips.items():
        p = folder / f"{name}.wav"
        sf.write(p, y.astype(np.float32), sr)
        rows.append({"id": f"nonspeech@{name}", "path": str(p)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- predictions
def predict(model, manifest) -> np.ndarray:
    from emoclassic.features import precompute, use_tables

    pre = precompute(model, manifest)
    if pre.failures:
        raise SystemExit(f"{len(pre.failures)} rows failed: {pre.failures[0].message}")
    with use_tables(pre.tables):
        return np.asarray(model.predict(manifest), dtype=object)


def ood_flags(model, manifest) -> np.ndarray | None:
    """The OOD flag of each row when the library's predictions carry one, else None."""
    from emoclassic.prediction import predict_manifest

    res = predict_manifest(model, manifest)
    rows = res.predictions
    if not rows or "out_of_distribution" not in rows[0]:
        return None
    by_id = {str(r.get("id")): bool(r["out_of_distribution"]) for r in rows}
    return np.array([by_id.get(str(i), False) for i in manifest["id"]])


def folds(manifest, n_folds: int):
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    groups = manifest["speaker"].astype(str).to_numpy()
    y = manifest["label"].astype(str).to_numpy()
    cv = LeaveOneGroupOut() if n_folds == 0 else StratifiedGroupKFold(n_folds)
    return list(cv.split(np.zeros(len(y)), y, groups))


def run(args, tmp: Path) -> dict:
    import pandas as pd
    from sklearn.metrics import balanced_accuracy_score

    from emoclassic import config_context
    from emoclassic.evaluation import fit_final

    if args.smoke:
        manifest = bench.make_clips(tmp / "demo", speakers=4, per_class=3, seconds=(0.8, 1.2))
        corpus = "generated demo corpus (4 speakers x 4 classes x 3)"
    else:
        from emoclassic.data import load_corpus

        manifest = load_corpus(args.corpus)
        corpus = args.corpus
    manifest = manifest.reset_index(drop=True)
    names = [n for n in (args.transforms or (*LOSSLESS, *LOSSY)) if writable(n)]
    skipped = [n for n in (args.transforms or (*LOSSLESS, *LOSSY)) if not writable(n)]
    audio_dir = Path(args.audio_dir) if args.audio_dir else tmp / "audio"
    t = bench.timed(write_transformed, manifest, names, audio_dir, args.jobs)
    variants = t.result
    print(f"corpus: {corpus}: {len(manifest)} clips, {manifest['speaker'].nunique()} speakers; "
          f"{len(names)} transforms written in {t.wall:.0f} s ({bench.describe_machine()})")
    if skipped:
        print(f"skipped (libsndfile cannot write them): {', '.join(skipped)}")
    labels = manifest["label"].astype(str).to_numpy()
    pred = {k: np.empty(len(manifest), dtype=object) for k in ("original", *names)}
    flags: dict[str, np.ndarray] = {}
    nonspeech = non_speech(audio_dir / "_nonspeech")
    ns_flags = []
    splits = folds(manifest, 2 if args.smoke else args.folds)
    cache = args.cache or str(tmp / "cache")
    with config_context(cache=cache, n_jobs=args.jobs):
        for f, (train, test) in enumerate(splits):
            t = bench.timed(fit_final, args.spec, manifest.iloc[train].reset_index(drop=True))
            model = t.result
            rows = [manifest.iloc[test]] + [variants[n].iloc[test] for n in names]
            big = pd.concat(rows, ignore_index=True)
            p = predict(model, big)
            for k, name in enumerate(("original", *names)):
                pred[name][test] = p[k * len(test) : (k + 1) * len(test)]
            fl = ood_flags(model, big) if args.ood else None
            if fl is not None:
                for k, name in enumerate(("original", *names)):
                    flags.setdefault(name, np.zeros(len(manifest), bool))
                    flags[name][test] = fl[k * len(test) : (k + 1) * len(test)]
                ns_flags.append(ood_flags(model, nonspeech))
            agree = np.mean([np.mean(pred[n][test] == pred["original"][test]) for n in names])
            speakers = sorted(set(manifest["speaker"].iloc[test].astype(str)))
            print(f"fold {f + 1}/{len(splits)}: test speakers {speakers}, fit {t.wall:.0f} s, "
                  f"agreement (mean over transforms) {agree:.3f}", flush=True)
    results = {"corpus": corpus, "spec": args.spec, "folds": len(splits),
               "machine": bench.machine(), "skipped": skipped, "transforms": {}}
    rows = []
    for name in ("original", *names):
        group = "-" if name == "original" else ("lossless" if name in LOSSLESS else "lossy")
        agree = float(np.mean(pred[name] == pred["original"]))
        ua = float(balanced_accuracy_score(labels, pred[name].astype(str)))
        fr = float(flags[name].mean()) if name in flags else None
        results["transforms"][name] = {"group": group, "agreement": agree, "ua": ua,
                                       "ood_rate": fr}
        mark = " (below target)" if group == "lossless" and agree < TARGET_AGREEMENT else ""
        rows.append([name, group, f"{agree:.3f}{mark}", f"{ua:.3f}",
                     "n/a" if fr is None else f"{fr:.2f}"])
    if ns_flags:
        ns = np.mean(np.stack(ns_flags), axis=0)
        results["non_speech_ood_rate"] = dict(zip(nonspeech["id"], map(float, ns), strict=True))
    bench.print_table(["transform", "group", "agreement", "UA", "OOD flag rate"], rows,
                      title=f"{args.spec}: {corpus}, {len(splits)} speaker-grouped folds")
    lossless = [results["transforms"][n]["agreement"] for n in names if n in LOSSLESS]
    if lossless:
        print(f"\nlossless group: minimum agreement {min(lossless):.3f} "
              f"(target >= {TARGET_AGREEMENT})")
    if "non_speech_ood_rate" in results:
        print("non-speech inputs flagged (share of folds):", results["non_speech_ood_rate"])
    else:
        print("OOD flag: not in this version's predictions (n/a)" if args.ood
              else "OOD flag: not asked (--ood)")
    if args.json:
        bench.write_json(args.json, results)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="emodb:/work/shared/data/emodb", help="NAME:DIR")
    ap.add_argument("--spec", default="recommended-audio", help="shipped spec name or path")
    ap.add_argument("--folds", type=int, default=5, help="speaker-grouped folds (0: LOSO)")
    ap.add_argument("--transforms", nargs="*", help="a subset of the transforms")
    ap.add_argument("--cache", help="feature cache folder (default: a temporary one)")
    ap.add_argument("--audio-dir", help="transformed files, written once and reused")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--no-ood", dest="ood", action="store_false",
                    help="skip the OOD flag rates even when predictions carry the flag")
    ap.add_argument("--json", help="write the results here too")
    args = bench.parse_args(ap, argv)
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    with bench.workdir(prefix="bench_robust_") as tmp:
        run(args, tmp)


if __name__ == "__main__":
    main()
