"""EmoDB feature/classifier exploration for issue 8, with HONEST selection.

Every variant is scored by a nested leave-one-speaker-out CV with the harness's protocol: outer
folds leave one speaker out; inside each training part, C is tuned on
``StratifiedGroupKFold(5, shuffle=True, random_state=0)`` speaker-grouped folds (as
``run_cv``), the outer test speaker is predicted once. Two numbers per variant:

- ``inner``: the mean over outer folds of the best inner-CV UA (what selection may look at);
- ``outer``: the LOSO UA of the pooled outer predictions (reported, never used to choose).

The recipe to ship is the variant with the best ``inner`` score. Scaling and the linear SVM are
the harness's (StandardScaler fitted on the training part, ``SVC(kernel="linear",
class_weight="balanced")``), run on a precomputed linear kernel (same libsvm solution, faster).
Speaker normalisation is a per-speaker z-score over all of a speaker's rows (labels unused), as
``SpeakerNormalizer`` does for an unseen test speaker.

    .venv/bin/python benchmarks/studies/explore_emodb.py --corpus emodb:/work/shared/data/emodb
    .venv/bin/python benchmarks/studies/explore_emodb.py --harness   # run_cv on the candidates
    .venv/bin/python benchmarks/studies/explore_emodb.py --speed large-vuv large-vq rasta-vq
    .venv/bin/python benchmarks/studies/explore_emodb.py --smoke   # all three, tiny demo corpus

(under ``nice -n 10`` on a shared machine).
Feature matrices are cached under ``artifacts/cache/explore_emodb`` (delete it to recompute).
``--smoke`` runs every variant but the slow quantile one (16) and the speed table on 6
generated speakers (4 classes x 2 short clips each), then two of the harness's specs on 3 of
them, with a temporary cache.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402
from emoclassic.audio import PooledFeatures, load_audio  # noqa: E402
from emoclassic.data import load_corpus  # noqa: E402

CS = (0.0001, 0.0003, 0.001, 0.003, 0.01)


# --------------------------------------------------------------------------- features
def _rasta_block(y: np.ndarray, *, compress: bool) -> np.ndarray:
    """RASTA-filtered 26-band log-mel (ComParE's audSpec_Rfilt in spirit) x LARGE, + deltas."""
    from scipy.signal import lfilter

    from emoclassic.audio._pooled import LARGE, functionals
    from emoclassic.audio._spectrogram import delta, log_mel_spectrogram

    lm = log_mel_spectrogram(y, 16000, n_fft=512, hop_length=160, n_mels=26, top_db=None)
    r = lfilter([0.2, 0.1, 0.0, -0.1, -0.2], [1.0, -0.94], lm, axis=1)
    if compress:  # back to the power domain, loudness-compressed (** 0.33)
        r = 10 ** (0.033 * r)
    d = delta(r, width=5)
    return np.concatenate([functionals(r, LARGE, frame_rate=100.0).ravel(),
                           functionals(d, LARGE, frame_rate=100.0).ravel()])


def extract(manifest, name: str, cache_dir: Path) -> np.ndarray:
    """One named feature matrix (rows in manifest order), cached on disk."""
    # the key covers the clips and the feature code, so an edit of the extractors recomputes
    src = "".join((bench.ROOT / "emoclassic" / "audio" / f).read_text()
                  for f in ("_pooled.py", "_voice.py", "_pitch.py", "_spectrogram.py",
                            "_descriptors.py", "_pooled_plan.py", "_presets.py",
                            "_functionals.py"))
    key = hashlib.sha1((name + "|" + ",".join(manifest["id"].astype(str)) + src).encode()
                       ).hexdigest()
    f = cache_dir / f"{name}-{key[:10]}.npy"
    if f.exists():
        return np.load(f)
    paths = manifest["path"].astype(str).tolist()
    if name.startswith("preset:") and "@" in name:  # preset:NAME@FACTOR: speed-perturbed copy
        import soxr

        from emoclassic.audio import pooled_features

        preset, factor = name[len("preset:"):].split("@")
        a = float(factor)
        X = np.stack([pooled_features(soxr.resample(load_audio(p), 16000 * a, 16000),
                                      preset=preset, n_mels=26) for p in paths])
    elif name.startswith("preset:"):  # preset:NAME[:normalize]
        _, preset, *rest = name.split(":")
        est = PooledFeatures(preset, n_mels=26, normalize=rest[0] if rest else None)
        X = est.fit_transform(paths)
    elif name in ("rasta", "rasta-compressed"):
        X = np.stack([_rasta_block(load_audio(p), compress=name != "rasta") for p in paths])
    else:
        raise SystemExit(f"unknown feature set {name}")
    X = np.asarray(X, dtype=np.float64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp.npy")
    np.save(tmp, X)
    os.replace(tmp, f)
    return X


def speaker_norm(X: np.ndarray, groups: np.ndarray, kind: str = "z") -> np.ndarray:
    """Per-speaker standardisation (labels unused): z-score, median/IQR, or centring only."""
    out = np.empty_like(X)
    for g in np.unique(groups):
        m = groups == g
        F = X[m]
        if kind == "z":
            c, s = F.mean(0), F.std(0)
        elif kind == "robust":
            c = np.median(F, 0)
            s = np.subtract(*np.percentile(F, [75, 25], axis=0)) / 1.349
        elif kind == "centre":
            c, s = F.mean(0), np.ones(F.shape[1])
        else:
            raise ValueError(kind)
        out[m] = (F - c) / np.where(s > 1e-8, s, 1.0)
    return out


# --------------------------------------------------------------------------- nested CV
def _scale(Xtr, Xte):
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (Xtr - mu) / sd, (Xte - mu) / sd


def _ua(y, p):
    from sklearn.metrics import balanced_accuracy_score

    return balanced_accuracy_score(y, p)


class LinearSVM:
    """The harness's linear SVC on a precomputed kernel; ``scores`` = one-vs-rest decision."""

    grid = CS

    def fit_predict(self, Xtr, ytr, Xte, C):
        from sklearn.svm import SVC

        Xtr, Xte = _scale(Xtr, Xte)
        clf = SVC(kernel="precomputed", C=C, class_weight="balanced")
        clf.fit(Xtr @ Xtr.T, ytr)
        K = Xte @ Xtr.T
        return clf.classes_, clf.decision_function(K)


class LinearSVMQuantile(LinearSVM):
    """Rank-Gaussianised features (QuantileTransformer fitted on the training part)."""

    def fit_predict(self, Xtr, ytr, Xte, C):
        from sklearn.preprocessing import QuantileTransformer

        q = QuantileTransformer(n_quantiles=min(200, len(Xtr)), output_distribution="normal",
                                subsample=10**9)
        return super().fit_predict(q.fit_transform(Xtr), ytr, q.transform(Xte), C)


class LinearSVMLengthNorm(LinearSVM):
    """Standardised, then each row scaled to unit length (cosine kernel)."""

    def fit_predict(self, Xtr, ytr, Xte, C):
        from sklearn.svm import SVC

        Xtr, Xte = _scale(Xtr, Xte)
        Xtr = Xtr / np.linalg.norm(Xtr, axis=1, keepdims=True)
        Xte = Xte / np.linalg.norm(Xte, axis=1, keepdims=True)
        clf = SVC(kernel="precomputed", C=C * 1000, class_weight="balanced")
        clf.fit(Xtr @ Xtr.T, ytr)
        return clf.classes_, clf.decision_function(Xte @ Xtr.T)


class LinearSVMCols(LinearSVM):
    """A linear SVM on a column range of the stacked matrix (for late-fused ensembles)."""

    def __init__(self, start: int, stop: int | None = None):
        self.start, self.stop = start, stop

    def fit_predict(self, Xtr, ytr, Xte, C):
        cols = slice(self.start, self.stop)
        return super().fit_predict(Xtr[:, cols], ytr, Xte[:, cols], C)


class LogReg:
    grid = (0.0003, 0.001, 0.003, 0.01)

    def fit_predict(self, Xtr, ytr, Xte, C):
        from sklearn.linear_model import LogisticRegression

        Xtr, Xte = _scale(Xtr, Xte)
        # an L2-penalised linear model lives in the span of its training rows: fit it on their
        # coordinates in that span (exactly the same solution, n instead of d columns)
        _, _, Vt = np.linalg.svd(Xtr, full_matrices=False)
        Xtr, Xte = Xtr @ Vt.T, Xte @ Vt.T
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=3000)
        clf.fit(Xtr, ytr)
        return clf.classes_, clf.predict_log_proba(Xte)


def _softmax(S):
    S = S - S.max(1, keepdims=True)
    E = np.exp(S)
    return E / E.sum(1, keepdims=True)


def _with_aug(X, y, rows, aug):
    if not aug:
        return X[rows], y[rows]
    return np.vstack([X[rows], *(A[rows] for A in aug)]), np.concatenate([y[rows]] * (1 + len(aug)))


def nested(X, y, groups, models=(LinearSVM(),), *, seed=0, aug=()):
    """Nested LOSO; with several models their per-class softmax scores are averaged.

    ``aug``: matrices of augmented copies of every row; they join the TRAINING rows only
    (inner and outer), never a validation or test row.

    Returns (mean best inner UA, outer UA, list of best params per outer fold).
    """
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    combos = [()]
    for m in models:
        combos = [(*c, C) for c in combos for C in m.grid]
    pred = np.empty(len(y), dtype=object)
    inner_best, chosen = [], []
    for tr, te in LeaveOneGroupOut().split(X, y, groups):
        inner = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
        scores = np.zeros(len(combos))
        for itr, iva in inner.split(X[tr], y[tr], groups[tr]):
            a, b = tr[itr], tr[iva]
            cache = {}
            Xa, ya = _with_aug(X, y, a, aug)
            for k, m in enumerate(models):
                for C in m.grid:
                    cls, S = m.fit_predict(Xa, ya, X[b], C)
                    cache[(k, C)] = (cls, _softmax(S) if len(models) > 1 else S)
            for j, combo in enumerate(combos):
                S = sum(cache[(k, C)][1] for k, C in enumerate(combo))
                scores[j] += _ua(y[b], cache[(0, combo[0])][0][S.argmax(1)]) / 5
        best = int(np.argmax(scores))
        inner_best.append(scores[best])
        chosen.append(combos[best])
        S = 0
        Xt, yt = _with_aug(X, y, tr, aug)
        for m, C in zip(models, combos[best], strict=True):
            cls, s = m.fit_predict(Xt, yt, X[te], C)
            S = S + (_softmax(s) if len(models) > 1 else s)
        pred[te] = cls[np.argmax(S, 1)]
    return float(np.mean(inner_best)), float(_ua(y, pred)), chosen


# --------------------------------------------------------------------------- variants
def _register_presets() -> None:
    """Exploration-only presets holding just the NEW parts (stacked beside large-vuv)."""
    from emoclassic.audio._pooled import LARGE, MS, PRESETS, STATS, Preset

    pert = ("mean", "std", "p10", "p50", "p90")
    PRESETS["x-bands"] = Preset("bands x LARGE (+delta), over voiced/unvoiced",
                                (("bands", 0, LARGE), ("bands", 1, LARGE)),
                                voiced=(("bands", 0, STATS),), unvoiced=(("bands", 0, MS),))
    PRESETS["x-vq"] = Preset("voice quality over voiced frames + jitter/shimmer", (),
                             vq=STATS, perturbation=pert)
    PRESETS["x-vq-large"] = Preset("voice quality x LARGE + jitter/shimmer", (),
                                   vq=LARGE, perturbation=pert)
    PRESETS["x-rasta"] = Preset("RASTA log-mel x LARGE (+delta)",
                                (("rasta", 0, LARGE), ("rasta", 1, LARGE)))
    import dataclasses

    PRESETS["x-large-vuv-sma3"] = dataclasses.replace(PRESETS["large-vuv"], smooth=3)
    PRESETS["x-rasta-vuv"] = Preset("RASTA log-mel over voiced (STATS) / unvoiced (MS)", (),
                                    voiced=(("rasta", 0, STATS),), unvoiced=(("rasta", 0, MS),))


BASE = ["preset:large-vuv"]
VQ = ["preset:x-bands", "preset:x-vq"]
VARIANTS = [
    # (label, protocol, feature sets, model, speaker norm kind)
    ("large-vuv, 26 bands (the previous recipe)", "inductive", BASE, "svm", None),
    ("+ bands (alpha, Hammarberg, slopes)", "inductive", BASE + ["preset:x-bands"], "svm", None),
    ("+ voice quality (formants, H1-H2, HNR, jitter, shimmer)", "inductive",
     BASE + ["preset:x-vq"], "svm", None),
    ("+ bands + voice quality", "inductive", BASE + VQ, "svm", None),
    ("+ voice quality x LARGE", "inductive", BASE + ["preset:x-bands", "preset:x-vq-large"],
     "svm", None),
    ("+ RASTA log-mel", "inductive", BASE + ["preset:x-rasta"], "svm", None),
    ("+ RASTA log-mel + RASTA voiced/unvoiced", "inductive",
     BASE + ["preset:x-rasta", "preset:x-rasta-vuv"], "svm", None),
    ("+ RASTA + bands + voice quality", "inductive", BASE + ["preset:x-rasta"] + VQ, "svm", None),
    ("large-vuv, loudness-normalised input", "inductive", ["preset:large-vuv:loudness"], "svm",
     None),
    ("large-vuv, 26 bands", "inductive", BASE, "svm+logreg", None),
    ("large-vuv, 26 bands", "speaker-normalised", BASE, "svm", "z"),
    ("large-vuv, 26 bands", "speaker-normalised", BASE, "svm", "robust"),
    ("large-vuv, 26 bands", "speaker-normalised", BASE, "svm", "centre"),
    ("+ bands + voice quality", "speaker-normalised", BASE + VQ, "svm", "z"),
    ("+ RASTA + bands + voice quality", "speaker-normalised", BASE + ["preset:x-rasta"] + VQ,
     "svm", "z"),
    ("large-vuv, 26 bands", "inductive", BASE, "svm-quantile", None),
    ("large-vuv, 26 bands", "inductive", BASE, "svm-lengthnorm", None),
    ("large-vuv, 26 bands, + speed-perturbed copies x0.9, x1.1 in training", "inductive", BASE,
     "svm", None, (0.9, 1.1)),
    ("large-vuv, LLDs smoothed over 3 frames (sma)", "inductive", ["preset:x-large-vuv-sma3"],
     "svm", None),
    ("large-vuv / RASTA + bands + voice quality, two SVMs averaged", "inductive",
     BASE + ["preset:x-rasta"] + VQ, "svm(large-vuv)+svm(rest)", None),
    ("large-vuv / RASTA + bands + voice quality, two SVMs averaged", "speaker-normalised", BASE
     + ["preset:x-rasta"] + VQ, "svm(large-vuv)+svm(rest)", "z"),
    ("large-vuv / bands + voice quality, two SVMs averaged", "inductive", BASE + VQ,
     "svm(large-vuv)+svm(rest)", None),
    ("large-vuv / RASTA / bands + voice quality, three SVMs averaged", "inductive",
     BASE + ["preset:x-rasta"] + VQ, "svm(large-vuv)+svm(rasta)+svm(vq)", None),
]


def speed(manifest, presets: list[str], repeats: int = 3) -> None:
    """Real-time factor of presets side by side (decoded audio in memory, one core, best of N).

    The presets are interleaved within each repeat so that they share the machine's load.
    """
    from emoclassic.audio import pooled_features

    ys = [load_audio(p) for p in manifest["path"].astype(str)]
    audio_s = sum(len(y) for y in ys) / 16000
    for p in presets:
        pooled_features(ys[0], preset=p, n_mels=26)  # warm-up (plans, imports)

    def run(preset):
        for y in ys:
            pooled_features(y, preset=preset, n_mels=26)

    timings = bench.best_of({p: partial(run, p) for p in presets}, repeats)
    best = {p: t.wall for p, t in timings.items()}
    print(f"\n{len(ys)} clips, {audio_s:.0f} s of audio, one core, n_mels=26, load average "
          f"{bench.load1():.1f} on {os.cpu_count()} cores")
    bench.print_table(["preset", "s", "real-time factor", "relative to first"],
                [[f"`{p}`", f"{best[p]:.2f}", f"{audio_s / best[p]:.0f}x",
                  f"{best[presets[0]] / best[p]:.2f}"] for p in presets])  # fmt: skip


def _voting(name: str, grid: dict, speaker_norm: bool) -> dict:
    """A candidate spec: soft voting of linear SVMs on large-vuv and on rasta-vq."""
    d = {
        "name": name, "scoring": "balanced_accuracy", "speaker_normalization": speaker_norm,
        "fusion": {"type": "voting", "branches": "block"},
        "features": {"vuv": {"type": "pooled", "preset": "large-vuv", "n_mels": 26},
                     "vq": {"type": "pooled", "preset": "rasta-vq", "n_mels": 26}},
        "classifier": {"name": "linear_svc_kernel", "class_weight": "balanced"},
        "grid": grid,
        "cv": {"scheme": "group", "n_splits": 5, "groups": "speaker"},
    }
    if "fusion.classifiers.vq.C" in grid:
        d["fusion"]["classifiers"] = {"vq": {"name": "linear_svc_kernel",
                                             "class_weight": "balanced"}}
    return d


def harness(manifest, cache: str, smoke: bool = False) -> None:
    """The candidates through ``run_cv`` itself (the library's late fusion), inner and outer."""
    from emoclassic.evaluation import run_cv

    pipes = bench.ROOT / "pipelines"
    shared = {"classifier.C": [0.001, 0.003, 0.01]}
    runs = [
        ("recommended-audio.toml", "inductive", pipes / "recommended-audio.toml"),
        ("recommended-audio-speaker-norm.toml", "speaker-normalised",
         pipes / "recommended-audio-speaker-norm.toml"),
        ("voting, shared C", "inductive", _voting("vote", shared, False)),
        ("voting, shared C", "speaker-normalised", _voting("vote-sn", shared, True)),
        ("voting, a C per branch", "speaker-normalised", _voting(
            "vote2-sn", {"classifier.C": [0.0003, 0.001],
                         "fusion.classifiers.vq.C": [0.001, 0.003, 0.01]}, True)),
    ]
    bench.print_table(["spec", "protocol", "inner", "outer UA", "best params"])
    for label, protocol, spec in runs[::4] if smoke else runs:  # smoke: a file and a dict
        rep = run_cv(spec, manifest, scheme="logo", cache=cache)
        inner = np.mean([max(f["mean_test_score"]) for f in rep["grid"]["folds"]])
        print(bench.markdown_row([label, protocol, f"{inner:.3f}", f"{rep['metrics']['ua']:.3f}",
                            rep["best_params"]]), flush=True)  # fmt: skip


MODELS = {"svm": (LinearSVM(),), "logreg": (LogReg(),), "svm+logreg": (LinearSVM(), LogReg()),
          "svm-quantile": (LinearSVMQuantile(),), "svm-lengthnorm": (LinearSVMLengthNorm(),),
          # late fusion: one SVM on large-vuv (the first 4 428 columns), one on the rest
          "svm(large-vuv)+svm(rest)": (LinearSVMCols(0, 4428), LinearSVMCols(4428)),
          "svm(large-vuv)+svm(rasta)+svm(vq)": (LinearSVMCols(0, 4428),
                                                LinearSVMCols(4428, 5988),
                                                LinearSVMCols(5988))}  # fmt: skip


#: --smoke: every variant but 16 (QuantileTransformer: ~1.7 s per fit on 4 428 columns whatever
#: the number of clips, 156 fits: minutes)
SMOKE_VARIANTS = ",".join(str(i) for i in range(1, len(VARIANTS) + 1) if i != 16)


def variant(manifest, cache: Path, sets, model: str, norm: str | None, factors=()):
    """One variant's matrix (speaker-normalised by ``norm``) and its nested-CV scores."""
    y = manifest["label"].astype(str).to_numpy()
    groups = manifest["speaker"].astype(str).to_numpy()
    X = np.nan_to_num(np.hstack([extract(manifest, s, cache) for s in sets]))
    if norm:
        X = speaker_norm(X, groups, norm)
    aug = [np.nan_to_num(np.hstack([extract(manifest, f"{s}@{a}", cache) for s in sets]))
           for a in factors]
    return X.shape[1], nested(X, y, groups, MODELS[model], aug=aug)


def variants(manifest, cache: Path, only: str | None) -> None:
    bench.print_table(["#", "features", "protocol", "model", "inner UA (selection)",
                       "outer LOSO UA", "C chosen (most frequent)", "s"])  # fmt: skip
    for i, (label, protocol, sets, model, norm, *more) in enumerate(VARIANTS, start=1):
        if only and not any(o == str(i) for o in only.split(",")):
            continue
        t = bench.timed(variant, manifest, cache, sets, model, norm, more[0] if more else ())
        dims, (inner, outer, chosen) = t.result
        vals, counts = np.unique([str(c) for c in chosen], return_counts=True)
        print(bench.markdown_row([i, f"{label} ({dims})", protocol + (f" ({norm})" if norm else ""),
                            model, f"{inner:.3f}", f"{outer:.3f}", vals[np.argmax(counts)],
                            f"{t.wall:.0f}"]), flush=True)  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="emodb:/work/shared/data/emodb")
    ap.add_argument("--cache", default=str(bench.ROOT / "artifacts" / "cache" / "explore_emodb"))
    ap.add_argument("--only", default=None, help="comma-separated variant numbers to run")
    ap.add_argument("--speed", nargs="*", default=None, metavar="PRESET",
                    help="only time these presets side by side (default large-vuv large-vq)")
    ap.add_argument("--harness", action="store_true",
                    help="only run the recommended specs and the voting candidates via run_cv")
    args = bench.parse_args(ap, argv)
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one core; OMP_NUM_THREADS set here would come after numpy's import
    _register_presets()
    if args.smoke:  # 6 speakers: 5 grouped inner folds in every outer training part
        with bench.workdir(prefix="explore_emodb_") as tmp:
            manifest = bench.make_clips(tmp / "demo", speakers=6, per_class=2, seconds=(0.5, 0.6))
            variants(manifest, tmp / "features", args.only or SMOKE_VARIANTS)
            speed(manifest, args.speed or ["large-vuv", "large-vq"], repeats=1)
            three = manifest[manifest["speaker"].isin(sorted(set(manifest["speaker"]))[:3])]
            harness(three, str(tmp / "cache"), smoke=True)  # 3 outer x 2 inner folds
        return 0
    manifest = load_corpus(args.corpus)
    if args.harness:
        harness(manifest, str(bench.ROOT / "artifacts" / "cache"))
    elif args.speed is not None:
        speed(manifest, args.speed or ["large-vuv", "large-vq"])
    else:
        variants(manifest, Path(args.cache), args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
