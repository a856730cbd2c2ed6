"""Out-of-distribution flag (issue 15): how often a model flags genuine unseen speakers of its
own corpus, and inputs that are not speech or are far from the corpus.

Speaker-grouped folds (``--folds``, default 5): in each fold the model is fitted with
``emoclassic.evaluation.fit_final`` on the other speakers (its detector fitted there too,
calibrated out of fold by speaker), then ``emoclassic.prediction.predict_manifest`` (the path
``emoclassic predict`` takes) predicts:

- the held-out speakers' clips (the target: at most 15 % flagged; about 5 % is the calibration);
- the same clips stored differently (gain -12 dB, 0.4 s of silence at both ends, 44.1 kHz
  stereo): genuine speech, which a good detector does not flag either;
- generated non-speech (silence, steady tones, white and pink noise, mains hum, two music-like
  signals: the target is every one flagged);
- speech-like clips of the library's demo generator and, with ``--far DIR``, speech of another
  corpus (``--far-n`` files spread over the folder): speech far from the corpus.

Each detector variant of ``--variants`` (``METHOD:COMPONENTS``; the first is the library's
default, fitted by ``fit_final``; the others are refitted on the same training rows with
``emoclassic.ood.fit_model_ood`` and swapped in) is scored on the same predictions.

    .venv/bin/python benchmarks/quality/ood.py --corpus emodb:/work/shared/data/emodb \\
        --far /work/shared/data/emovo/audio
    .venv/bin/python benchmarks/quality/ood.py --smoke   # a tiny generated corpus, 2 folds

Results print as markdown tables and are saved to ``--out`` (JSON). Features go to ``--cache``
(default ``artifacts/cache``), so a rerun only refits.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

SR = 16000
DEFAULT_VARIANTS = "knn:16,knn:32,mahalanobis:16,mahalanobis:32"
TARGET_HELD_OUT = 0.15
#: the tiny spec of --smoke (the real runs take --pipeline)
SMOKE_SPEC = {
    "name": "ood-smoke",
    "features": {"audio": {"type": "pooled", "preset": "compact"}},
    "classifier": {"name": "logreg"},
    "cv": {"scheme": "group", "n_splits": 2, "groups": "speaker"},
}


# --------------------------------------------------------------------------- inputs
def non_speech(folder: Path, seconds: float = 3.0):
    """Decodable files without speech, one per kind; returns a manifest (id = the kind)."""
    import numpy as np
    import pandas as pd
    import soundfile as sf

    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * SR)) / SR

    def pink(n: int) -> np.ndarray:
        spec = np.fft.rfft(rng.standard_normal(n))
        k = np.arange(spec.size)
        k[0] = 1
        y = np.fft.irfft(spec / np.sqrt(k), n)
        return y / np.abs(y).max()

    def music(drums: bool) -> np.ndarray:  # three-note chords of harmonic tones, 4 per second
        y = np.zeros_like(t)
        notes = (220, 262, 330, 392, 440, 523, 294, 349)
        step = int(0.25 * SR)
        for i in range(len(t) // step):
            seg = t[: step]
            env = np.exp(-4 * seg)
            for f in (notes[i % len(notes)] * r for r in (1.0, 1.25, 1.5)):
                y[i * step:(i + 1) * step] += sum(np.sin(2 * np.pi * h * f * seg) / h
                                                  for h in range(1, 5)) * env  # fmt: skip
        y = 0.3 * y / np.abs(y).max()
        if drums:
            y = y + 0.2 * rng.standard_normal(t.size) * np.exp(-30 * (t % 0.5))
        return y

    kinds = {
        "silence": np.zeros(t.size),
        "tone 440 Hz": 0.5 * np.sin(2 * np.pi * 440 * t),
        "tone 150 Hz, quiet": 0.05 * np.sin(2 * np.pi * 150 * t),
        "tone 1 kHz": 0.3 * np.sin(2 * np.pi * 1000 * t),
        "white noise": 0.1 * rng.standard_normal(t.size),
        "white noise, quiet": 0.003 * rng.standard_normal(t.size),
        "pink noise": 0.3 * pink(t.size),
        "hum 50 Hz": 0.2 * np.sin(2 * np.pi * 50 * t) + 0.1 * np.sin(2 * np.pi * 150 * t),
        "music-like": music(False),
        "music-like, drums": music(True),
    }
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, (name, y) in enumerate(kinds.items()):
        path = folder / f"nonspeech_{k:02d}.wav"
        sf.write(path, y.astype(np.float32), SR)
        rows.append({"id": name, "path": str(path)})
    return pd.DataFrame(rows)


def transformed(manifest, folder: Path):
    """The clips stored differently: ``{name: manifest}`` (ids keep the original's)."""
    import numpy as np
    import pandas as pd
    import soundfile as sf
    from scipy.signal import resample_poly

    out: dict[str, list[dict]] = {"gain -12 dB": [], "silence pad 0.4 s": [],
                                  "44.1 kHz stereo": []}  # fmt: skip
    for sub in out:
        (folder / sub.replace(" ", "_")).mkdir(parents=True, exist_ok=True)
    for row in manifest.itertuples(index=False):
        y, sr = sf.read(row.path, dtype="float64", always_2d=True)
        y = y.mean(axis=1)
        name = f"{Path(row.path).stem}.wav"
        pad = np.zeros(int(0.4 * sr))
        up = resample_poly(y, 441, int(sr) // 100)
        for sub, (data, rate) in {"gain -12 dB": (y * 10 ** (-12 / 20), sr),
                                  "silence pad 0.4 s": (np.concatenate([pad, y, pad]), sr),
                                  "44.1 kHz stereo": (np.stack([up, 0.9 * up], 1), 44100)
                                  }.items():  # fmt: skip
            path = folder / sub.replace(" ", "_") / name
            sf.write(path, data.astype(np.float32), rate)
            out[sub].append({"id": str(row.id), "path": str(path)})
    return {k: pd.DataFrame(v) for k, v in out.items()}


def far_speech(folder: str | None, n: int):
    """``n`` audio files spread evenly over ``folder`` (sorted), as a manifest; or None."""
    import pandas as pd

    if not folder:
        return None
    _, files = bench.corpus_files(folder)
    step = max(1, len(files) // n)
    picked = files[::step][:n]
    return pd.DataFrame({"id": picked, "path": picked})


# --------------------------------------------------------------------------- scoring
def flags(model, manifest, low: float = 0.5) -> dict:
    """``predict_manifest`` on ``manifest``: OOD flags, scores and low-confidence by row id."""
    from emoclassic.prediction import predict_manifest

    res = predict_manifest(model, manifest, low_confidence=low)
    if res.failures:
        raise SystemExit(f"{len(res.failures)} item(s) failed: {res.failures[0].line()}")
    return {p["id"]: p for p in res.predictions}


def run(args, tmp: Path) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import GroupKFold

    from emoclassic import config_context
    from emoclassic.evaluation import fit_final
    from emoclassic.features import precompute
    from emoclassic.ood import fit_model_ood
    from emoclassic.spec import load_spec

    logging.getLogger("emoclassic.prediction").setLevel(logging.ERROR)  # one line per item set
    if args.smoke:
        manifest = bench.make_clips(tmp / "corpus", speakers=4, per_class=3, seconds=(0.8, 1.2))
        corpus, spec = "generated demo corpus (4 speakers x 4 classes x 3)", SMOKE_SPEC
        demo = None
    else:
        from emoclassic.data import load_corpus

        manifest, corpus = load_corpus(args.corpus), args.corpus
        spec = load_spec(args.pipeline)
        demo = bench.make_clips(tmp / "demo", speakers=4, per_class=8, seed=7)
    manifest = manifest.reset_index(drop=True)
    params = json.loads(args.params) if args.params else None
    variants = [(m, int(k)) for m, k in (v.split(":") for v in args.variants.split(","))]
    sets = {"non-speech": non_speech(tmp / "nonspeech")}
    if demo is not None:
        sets["demo-generator speech"] = demo[["id", "path"]]
    far = far_speech(args.far, args.far_n)
    if far is not None:
        sets["far speech"] = far
    speakers = manifest["speaker"].astype(str).to_numpy()
    n_folds = 2 if args.smoke else args.folds
    splits = list(GroupKFold(n_splits=n_folds).split(manifest, groups=speakers))
    spec_name = spec["name"] if isinstance(spec, dict) else spec.name
    print(f"corpus: {corpus}: {len(manifest)} clips, {len(set(speakers))} speakers, "
          f"{n_folds} speaker-grouped folds; spec {spec_name}; "
          f"{bench.describe_machine()}", flush=True)
    held: dict[str, dict] = {f"{m}:{k}": {} for m, k in variants}
    moved: dict[str, dict] = {f"{m}:{k}": {} for m, k in variants}
    other: dict[str, dict] = {f"{m}:{k}": {s: [] for s in sets} for m, k in variants}
    summaries = []
    with config_context(cache=args.cache or str(tmp / "cache"), n_jobs=args.jobs):
        for f, (train, test) in enumerate(splits):
            tr = manifest.iloc[train].reset_index(drop=True)
            te = manifest.iloc[test].reset_index(drop=True)
            t = bench.timed(fit_final, spec, tr, params=params)
            model = t.result
            summaries.append(model.emoclassic_ood_.summary())
            moves = transformed(te, tmp / "moved" / f"fold{f}")
            pre = precompute(model, tr)
            for v, (method, k) in enumerate(variants):
                name = f"{method}:{k}"
                if v:  # the first variant is fit_final's own detector
                    model.emoclassic_ood_ = fit_model_ood(
                        model, pre.tables, tr, tr["speaker"].astype(str).to_numpy(),
                        groups_name="speaker", method=method, n_components=k)
                elif (method, k) != (summaries[-1]["method"],
                                     summaries[-1]["modalities"]["audio"]["n_components"]):
                    raise SystemExit(f"the first variant must be the library default; got {name}")
                got = flags(model, te[["id", "path"]])
                for i, spk in zip(te["id"].astype(str), te["speaker"].astype(str), strict=True):
                    held[name][i] = {**got[i], "speaker": spk}
                for sub, rows in moves.items():
                    moved[name].setdefault(sub, {}).update(flags(model, rows))
                for s, rows in sets.items():
                    other[name][s].append(flags(model, rows))
            rate = np.mean([held[variants[0][0] + f":{variants[0][1]}"][i]["out_of_distribution"]
                            for i in te["id"].astype(str)])  # fmt: skip
            print(f"fold {f + 1}/{n_folds}: held-out {sorted(set(te['speaker'].astype(str)))}, "
                  f"fit {t.wall:.0f} s, default detector flags {rate:.3f} of them", flush=True)

    results = {"corpus": corpus, "folds": n_folds, "machine": bench.machine(),
               "params": params, "detector": summaries[0], "variants": {}}  # fmt: skip
    head = ["detector", "held-out flagged", "worst speaker", *sets, *next(iter(moved.values()))]
    rows = []
    for name in held:
        h = held[name]
        by_spk = pd.Series({i: p["out_of_distribution"] for i, p in h.items()}).groupby(
            pd.Series({i: p["speaker"] for i, p in h.items()})).mean()
        entry = {"held_out": float(np.mean([p["out_of_distribution"] for p in h.values()])),
                 "worst_speaker": float(by_spk.max()), "per_speaker": by_spk.round(3).to_dict(),
                 "held_out_low_confidence": float(np.mean([p["low_confidence"]
                                                           for p in h.values()]))}  # fmt: skip
        cells = [name, f"{entry['held_out']:.3f}", f"{entry['worst_speaker']:.2f}"]
        for s in sets:
            per_fold = other[name][s]
            flagged = np.mean([[p["out_of_distribution"] for p in fold.values()]
                               for fold in per_fold], axis=0)  # share of folds, per item
            entry[s] = float(flagged.mean())
            if s == "non-speech":
                kinds = list(per_fold[0])
                entry["non_speech_min_score"] = {
                    kind: round(min(fold[kind]["ood_score"] for fold in per_fold), 2)
                    for kind in kinds}  # fmt: skip
                cells.append(f"{int(round(flagged.sum()))}/{len(kinds)}"
                             if np.all((flagged == 0) | (flagged == 1))
                             else f"{flagged.mean():.2f}")  # fmt: skip
            else:
                cells.append(f"{entry[s]:.3f}")
        for sub, got in moved[name].items():
            entry[sub] = float(np.mean([p["out_of_distribution"] for p in got.values()]))
            cells.append(f"{entry[sub]:.3f}")
        results["variants"][name] = entry
        rows.append(cells)
    bench.print_table(head, rows, title=f"share flagged out of distribution ({corpus})")
    first = results["variants"][f"{variants[0][0]}:{variants[0][1]}"]
    print("\nlowest score of each non-speech kind over the folds (default detector; flagged "
          "above 1):", json.dumps(first["non_speech_min_score"]))
    print(f"held-out clips with low confidence (top probability < 0.5): "
          f"{first['held_out_low_confidence']:.3f}")
    ok_ns = all(v > 1 for v in first["non_speech_min_score"].values())
    print(f"targets: non-speech flagged {'all' if ok_ns else 'NOT all'}; held-out flagged "
          f"{first['held_out']:.3f} (target <= {TARGET_HELD_OUT})")
    if args.out:
        bench.write_json(args.out, results)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="emodb:/work/shared/data/emodb", help="NAME:DIR")
    ap.add_argument("--pipeline", default="recommended-audio", help="spec name or TOML file")
    ap.add_argument("--params", default=None,
                    help="fixed parameters as JSON (skips the grid search), e.g. "
                         "'{\"classifier.C\": 0.001, \"fusion.classifiers.vq.C\": 0.01}'")
    ap.add_argument("--folds", type=int, default=5, help="speaker-grouped folds")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS,
                    help="METHOD:COMPONENTS,... (the first: the library default)")
    ap.add_argument("--far", default=None, help="a folder of speech from another corpus")
    ap.add_argument("--far-n", type=int, default=120)
    ap.add_argument("--cache", default=str(bench.ROOT / "artifacts" / "cache"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(bench.ROOT / "artifacts" / "bench_ood.json"))
    ap.add_argument("--workdir", default=None, help="keep the generated audio here")
    args = bench.parse_args(ap, argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with bench.workdir(args.workdir) as tmp:
        if args.smoke:
            args.cache, args.out, args.far = None, str(tmp / "bench_ood.json"), None
            args.variants = "knn:16,mahalanobis:16"
        run(args, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
