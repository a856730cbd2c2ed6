"""Frame-level encodings (issue 19): bag-of-audio-words and Fisher vectors, alone and late-fused
with the recommended functionals, on several corpora, openSMILE ComParE + linear SVM beside.

Two modes, both leave-one-speaker-out (every speaker is the test speaker once) in the
inductive and the speaker-normalised protocol:

- **quick** (default): the feature matrices are extracted once (cached), then for every outer
  fold each encoder is fitted on the outer training rows' frames only, and each branch's linear
  SVM (balanced, sigmoid-calibrated) gets its C from 3 speaker-grouped inner folds of the
  training rows (the encoder is not refitted per inner fold: the inner choice of C sees
  encodings learned on its own validation rows, the outer test speaker never). Late fusion =
  the branches' probabilities averaged. Speaker-normalised: each speaker's vectors (pooled
  functionals, or encodings) standardised with that speaker's own statistics, as
  ``SpeakerNormalizer`` does for an unseen speaker. Cheap enough to compare many variants on
  two corpora on a shared 2-core machine.
- **--harness**: the candidate recipes as specs through ``emoclassic.evaluation.run_cv``
  (``emoclassic cv --cv logo``): nested, the grid re-tuned on inner folds with the encoder
  refitted in each, the fused temperature of voting fusion; what a user's ``cv`` reports.

Rows: the anchor (``opensmile`` ComParE_2016 + linear SVM), today's recommended recipe
(inductive: ``large-vuv`` + ``rasta-vq`` voting; speaker-normalised: ``large-vuv``), each
encoding alone, and the recommended recipe + each encoding (one more voting branch).

    .venv/bin/python benchmarks/quality/frame_encodings.py --corpus emodb:/work/shared/data/emodb \
        --corpus emovo:/work/shared/data/emovo --cache /tmp/h19-cache --json out.json
    .venv/bin/python benchmarks/quality/frame_encodings.py --smoke     # demo corpus, seconds

``--encodings`` picks rows by name (:data:`ENCODINGS`); ``--no-anchor`` skips openSMILE;
``--timing N`` also times extraction + prediction of N clips (no feature cache) for each
recommended spec with and without the first encoding's branch (the issue's 2x budget):

    .venv/bin/python benchmarks/quality/frame_encodings.py --corpus emodb:/work/shared/data/emodb \
        --cache /tmp/h19-cache --encodings fv32 --protocols ind --no-anchor --timing 40
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
import numpy as np  # noqa: E402

from benchmarks import _common as bench  # noqa: E402

logger = logging.getLogger("frame_encodings")

#: name -> (frame table, encoder class name, encoder options)
ENCODINGS = {
    "fv16": ("llds", "FisherVectors", {"n_components": 16}),
    "fv32": ("llds", "FisherVectors", {"n_components": 32}),
    "fv64": ("llds", "FisherVectors", {"n_components": 64}),
    "fv32-means": ("llds", "FisherVectors", {"n_components": 32, "variances": False}),
    "boaw256": ("llds", "BagOfAudioWords", {"n_words": 256}),
    "boaw256-soft5": ("llds", "BagOfAudioWords", {"n_words": 256, "assignment": "soft",
                                                   "n_assign": 5}),
    "boaw256-tfidf": ("llds", "BagOfAudioWords", {"n_words": 256, "weighting": "tfidf"}),
    "boaw500-rand-a10-log": ("llds", "BagOfAudioWords", {
        "n_words": 500, "codebook": "random", "n_assign": 10, "weighting": "log"}),
    "logmel-fv32": ("logmel", "FisherVectors", {"n_components": 32}),
    "logmel-boaw500-rand-a10-log": ("logmel", "BagOfAudioWords", {
        "n_words": 500, "codebook": "random", "n_assign": 10, "weighting": "log"}),
}
DEFAULT_ENCODINGS = ("fv32", "boaw500-rand-a10-log", "logmel-fv32")
SMOKE_ENCODINGS = {
    "fv4": ("llds", "FisherVectors", {"n_components": 4}),
    "boaw16": ("llds", "BagOfAudioWords", {"n_words": 16, "codebook": "random", "n_assign": 2,
                                           "weighting": "log"}),
    "logmel-fv4": ("logmel", "FisherVectors", {"n_components": 4}),
}
#: C grids (inner folds choose): pooled branches as the recommended specs, encodings wider
C_GRID = {
    "ind": {"vuv": [0.0003, 0.001, 0.003], "vq": [0.003, 0.01, 0.03],
            "cmp": [0.0001, 0.0003, 0.001, 0.003, 0.01], "enc": [0.001, 0.01, 0.1]},
    "sn": {"vuv": [0.0001, 0.0003, 0.001, 0.003, 0.01], "vq": [0.001, 0.003, 0.01, 0.03],
           "cmp": [0.0001, 0.0003, 0.001, 0.003, 0.01], "enc": [0.001, 0.01, 0.1]},
}


# --------------------------------------------------------------------------- tables
def _extractors(smoke: bool, anchor: bool) -> dict:
    from emoclassic.audio import FrameDescriptors, LogMelFrames, OpenSmileFeatures, PooledFeatures

    out = {
        "vuv": PooledFeatures("large-vuv", n_mels=26),
        "vq": PooledFeatures("rasta-vq", n_mels=26),
        "llds": FrameDescriptors(max_frames=300 if smoke else 1000),
        # the frames block's log-mel + deltas at 20 ms, made recording-invariant like the rest
        "logmel": LogMelFrames(deltas=2, n_mels=26, max_frames=150 if smoke else 500, trim=True,
                               normalize="peak"),
    }
    if anchor:
        out["cmp"] = OpenSmileFeatures("ComParE_2016")
    return out


def tables(manifest, extractors: dict, cache: str) -> dict[str, np.ndarray]:
    """One matrix per extractor, rows in the manifest's order (the feature cache underneath)."""
    from emoclassic import config_context
    from emoclassic.features import extract

    out = {}
    for name, ext in extractors.items():
        t0 = time.perf_counter()
        with config_context(cache=cache, n_jobs=1, progress=False):
            res = extract(ext, manifest)
        if res.failures:
            raise SystemExit(f"{name}: {len(res.failures)} clips failed, e.g. "
                             f"{res.failures[0].message}")  # fmt: skip
        pos = {i: k for k, i in enumerate(res.ids)}
        out[name] = res.features[[pos[i] for i in manifest["id"].astype(str)]]
        logger.info("%s: %s in %.1f s", name, out[name].shape, time.perf_counter() - t0)
    return out


# --------------------------------------------------------------------------- quick mode
def _speaker_norm(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    X = np.array(X, dtype=np.float64)
    for s in np.unique(speakers):
        r = speakers == s
        sd = X[r].std(axis=0)
        X[r] = (X[r] - X[r].mean(axis=0)) / np.where(sd > 1e-8, sd, 1.0)
    return X


def _branch(Xtr, ytr, gtr, Xte, grid: list[float], seed: int = 0):
    """A scaled, balanced, sigmoid-calibrated linear SVM; C from 3 grouped inner folds."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.preprocessing import StandardScaler

    from emoclassic.models import make_classifier

    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    C = grid[0]
    if len(grid) > 1:
        inner = StratifiedGroupKFold(3, shuffle=True, random_state=seed)
        folds = list(inner.split(Xtr, ytr, gtr))
        scores = []
        for c in grid:
            s = [balanced_accuracy_score(ytr[b], make_classifier(
                "linear_svc_kernel", calibration="none", C=c, class_weight="balanced")
                .fit(Xtr[a], ytr[a]).predict(Xtr[b])) for a, b in folds]
            scores.append(np.mean(s))
        C = grid[int(np.argmax(scores))]
    clf = make_classifier("linear_svc_kernel", calibration="sigmoid", C=C,
                          class_weight="balanced").fit(Xtr, ytr)  # fmt: skip
    return clf.predict_proba(Xte), list(clf.classes_), C


def _encoder(spec):
    from emoclassic import audio

    _, cls, opts = spec
    return getattr(audio, cls)(**opts)


def quick(manifest, T: dict, encodings: dict, protocols=("ind", "sn"), *,
          one_c: bool = False, probs: str | None = None) -> list[dict]:
    """Out-of-speaker probabilities of every branch, then the rows (see the module docs).
    ``one_c``: the middle of each C grid, no inner folds (the smoke run); ``probs``: an
    ``.npz`` for every branch's out-of-speaker probabilities (other fusions, afterwards)."""
    from sklearn.metrics import balanced_accuracy_score

    y = manifest["label"].astype(str).to_numpy()
    spk = manifest["speaker"].astype(str).to_numpy()
    classes = sorted(set(y))
    rows = []
    pooled = [b for b in ("cmp", "vuv", "vq") if b in T]
    names = (*pooled, *encodings)
    P = {(p, b): np.zeros((len(y), len(classes))) for p in protocols for b in names}
    picked: dict[tuple, list] = {k: [] for k in P}
    normed = {b: _speaker_norm(T[b], spk) for b in pooled} if "sn" in protocols else {}
    t0 = time.perf_counter()
    for test in sorted(set(spk)):
        te, tr = spk == test, spk != test
        feats = {b: {"ind": T[b], "sn": normed.get(b)} for b in pooled}
        for e, enc_spec in encodings.items():  # fitted once a fold, for both protocols
            E = _encoder(enc_spec).fit(T[enc_spec[0]][tr]).transform(T[enc_spec[0]])
            feats[e] = {"ind": E, "sn": _speaker_norm(E, spk) if "sn" in protocols else None}
        for proto in protocols:
            for b in names:
                X = feats[b][proto]
                grid = C_GRID[proto][b if b in pooled else "enc"]
                if one_c:
                    grid = [grid[len(grid) // 2]]
                p, cls, C = _branch(X[tr], y[tr], spk[tr], X[te], grid)
                assert cls == classes
                P[(proto, b)][te] = p
                picked[(proto, b)].append(C)
        logger.info("speaker %s done (%.0f s)", test, time.perf_counter() - t0)
    if probs:
        np.savez(probs, y=y, classes=np.asarray(classes),
                 **{f"{p}__{b}": v for (p, b), v in P.items()})
    for proto in protocols:
        today = ("vuv", "vq") if proto == "ind" else ("vuv",)

        def row(label, branches, proto=proto):
            s = sum(P[(proto, b)] for b in branches)
            ua = balanced_accuracy_score(y, np.asarray(classes)[s.argmax(1)])
            C = {b: max(set(picked[(proto, b)]), key=picked[(proto, b)].count) for b in branches}
            rows.append({"protocol": proto, "row": label, "ua": round(float(ua), 4), "C": C})

        if "cmp" in pooled:
            row("anchor: openSMILE ComParE_2016 + linear SVM", ("cmp",))
        row("today: " + " + ".join(today), today)
        for e in encodings:
            row(f"{e} alone", (e,))
        for e in encodings:
            row(f"today + {e}", (*today, e))
        if proto == "sn":
            row("vuv + vq (the inductive recipe)", ("vuv", "vq"))
            for e in encodings:
                row(f"vuv + vq + {e}", ("vuv", "vq", e))
        logger.info("%s: %.0f s", proto, time.perf_counter() - t0)
    return rows


# --------------------------------------------------------------------------- harness mode
def _frame_block(encoding: tuple, smoke: bool) -> dict:
    table, cls, opts = encoding
    kind = "fisher" if cls == "FisherVectors" else "boaw"
    if table == "llds":
        block = {"type": "frame_llds", "max_frames": 300 if smoke else 1000}
    else:
        block = {"type": "frames", "deltas": 2, "n_mels": 26, "trim": True, "normalize": "peak",
                 "max_frames": 150 if smoke else 500}
    return {**block, "encode": {"type": kind, **opts}}


def harness_specs(encodings: dict, smoke: bool, anchor: bool) -> list[tuple[str, str, dict]]:
    """``(label, protocol, spec)`` of the anchor, today's specs and today + each encoding."""
    from emoclassic.spec import load_spec

    rows = []
    if anchor:
        for sn in (False, True):
            rows.append(("anchor: openSMILE ComParE_2016 + linear SVM", "sn" if sn else "ind", {
                "name": "anchor-compare", "fusion": "early", "scoring": "balanced_accuracy",
                "speaker_normalization": sn,
                "features": {"audio": {"type": "opensmile", "feature_set": "ComParE_2016"}},
                "classifier": {"name": "linear_svc_kernel", "class_weight": "balanced",
                               "calibration": "sigmoid"},
                "grid": {"classifier.C": C_GRID["ind"]["cmp"]},
            }))
    for name, proto in (("recommended-audio", "ind"), ("recommended-audio-speaker-norm", "sn")):
        base = load_spec(name).to_dict()
        rows.append((f"today: {name}", proto, base))
        for e, enc in encodings.items():
            spec = _with_encoding(base, e, _frame_block(enc, smoke))
            rows.append((f"{name} + {e}", proto, spec))
    return rows


def _with_encoding(base: dict, name: str, block: dict) -> dict:
    """``base`` with one more voting branch: the encoding block, its own linear SVM and C."""
    import copy

    spec = copy.deepcopy(base)
    spec["name"] = f"{base['name']}+{name}"
    spec["features"]["enc"] = block
    fusion = spec["fusion"] if isinstance(spec["fusion"], dict) else {"type": spec["fusion"]}
    if fusion["type"] == "early":  # the speaker-normalised spec: make it voting by block
        fusion = {"type": "voting", "branches": "block"}
    fusion.setdefault("classifiers", {})["enc"] = {
        "name": "linear_svc_kernel", "class_weight": "balanced", "calibration": "sigmoid"}
    spec["fusion"] = fusion
    spec.setdefault("grid", {})["fusion.classifiers.enc.C"] = [0.001, 0.01, 0.1]
    return spec


def harness(manifest, specs, *, cache: str, n_jobs: int) -> list[dict]:
    from emoclassic.evaluation import run_cv

    rows = []
    for label, proto, spec in specs:
        t0 = time.perf_counter()
        rep = run_cv(spec, manifest, scheme="logo", cache=cache, n_jobs=n_jobs, progress=False)
        rows.append({"protocol": proto, "row": label, "ua": round(rep.metrics["ua"], 4),
                     "C": rep.best_params, "seconds": round(time.perf_counter() - t0)})
        logger.info("%s (%s): UA %.4f", label, proto, rep.metrics["ua"])
    return rows


# --------------------------------------------------------------------------- cost
def timing(manifest, encoding: str, enc: tuple, *, n: int, repeats: int, cache: str,
           smoke: bool) -> dict[str, float]:
    """Extraction + prediction seconds of ``n`` clips (no feature cache), each recommended spec
    with and without the encoding's branch: models fitted with fixed C, best of ``repeats``
    interleaved."""
    import copy

    from emoclassic import config_context
    from emoclassic.evaluation import fit_final
    from emoclassic.prediction import predict_manifest
    from emoclassic.spec import load_spec

    fixed = {"recommended-audio": {"classifier.C": 0.001, "fusion.classifiers.vq.C": 0.01},
             "recommended-audio-speaker-norm": {"classifier.C": 0.0003}}
    models = {}
    for name, params in fixed.items():
        base = load_spec(name).to_dict()
        for label, spec, p in ((name, base, params),
                               (f"{name} + {encoding}",
                                _with_encoding(base, encoding, _frame_block(enc, smoke)),
                                {**params, "fusion.classifiers.enc.C": 0.01})):
            spec = copy.deepcopy(spec)
            spec.pop("grid", None)
            if smoke:
                spec["cv"] = {"scheme": "group", "n_splits": 2}
            models[label] = fit_final(spec, manifest, params=p, cache=cache, progress=False)
    sub = manifest.iloc[:: max(1, len(manifest) // n)].head(n).reset_index(drop=True)
    best = {k: float("inf") for k in models}
    for _ in range(repeats):
        for k, est in models.items():
            t0 = time.perf_counter()
            with config_context(cache=None, n_jobs=1, progress=False):
                predict_manifest(est, sub, cache=None, n_jobs=1)
            best[k] = min(best[k], time.perf_counter() - t0)
    return {k: round(v, 3) for k, v in best.items()}


# --------------------------------------------------------------------------- main
def table(results: dict[str, list[dict]]) -> str:
    """One Markdown table: a row per recipe and protocol, a UA column per corpus."""
    corpora = list(results)
    keys = []
    for rows in results.values():
        for r in rows:
            if (r["protocol"], r["row"]) not in keys:
                keys.append((r["protocol"], r["row"]))
    ua = {(c, r["protocol"], r["row"]): r["ua"] for c, rows in results.items() for r in rows}
    proto = {"ind": "inductive", "sn": "speaker-normalised"}
    body = [[r, proto[p], *[ua.get((c, p, r), "") for c in corpora]] for p, r in keys]
    return bench.markdown_table(["recipe", "protocol", *[f"{c} UA" for c in corpora]], body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="append", default=[], help="NAME:DIR (repeat)")
    ap.add_argument("--cache", default="artifacts/cache")
    ap.add_argument("--encodings", nargs="*", default=list(DEFAULT_ENCODINGS),
                    help=f"rows by name: {', '.join(ENCODINGS)}")
    ap.add_argument("--protocols", nargs="*", default=["ind", "sn"], choices=["ind", "sn"])
    ap.add_argument("--harness", action="store_true", help="nested run_cv on specs instead")
    ap.add_argument("--no-anchor", action="store_true", help="skip openSMILE ComParE")
    ap.add_argument("--timing", type=int, default=0, metavar="N",
                    help="also time extraction + prediction of N clips of the first corpus, "
                         "each recommended spec with and without the first encoding's branch")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the rows here")
    args = bench.parse_args(ap, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    warnings.filterwarnings("ignore", category=UserWarning)
    from emoclassic.data import load_corpus

    with bench.workdir(None) as tmp:
        if args.smoke:
            manifest = bench.make_clips(tmp / "demo", speakers=4, per_class=3)
            corpora = {"demo": manifest}
            encodings = SMOKE_ENCODINGS
            cache = str(tmp / "cache")
        else:
            if not args.corpus:
                ap.error("give --corpus NAME:DIR (or --smoke)")
            corpora = {}
            for c in args.corpus:
                m = load_corpus(c)
                corpora[c.split(":", 1)[0]] = m[m["label"].notna()].reset_index(drop=True)
            unknown = [e for e in args.encodings if e not in ENCODINGS]
            if unknown:
                ap.error(f"unknown encodings {unknown}; valid: {', '.join(ENCODINGS)}")
            encodings = {e: ENCODINGS[e] for e in args.encodings}
            cache = args.cache
        anchor = not args.no_anchor
        results = {}
        for name, manifest in corpora.items():
            if args.harness:
                specs = [s for s in harness_specs(encodings, args.smoke, anchor)
                         if s[1] in args.protocols]
                results[name] = harness(manifest, specs, cache=cache, n_jobs=args.jobs)
            else:
                used = {"llds", "logmel"} & {e[0] for e in encodings.values()}
                exts = {k: v for k, v in _extractors(args.smoke, anchor).items()
                        if k in used or k in ("vuv", "vq", "cmp")}
                T = tables(manifest, exts, cache)
                probs = f"{args.json}.{name}.npz" if args.json else None
                results[name] = quick(manifest, T, encodings, tuple(args.protocols),
                                      one_c=args.smoke, probs=probs)
                if args.smoke:  # the harness's specs at least parse and build
                    from emoclassic.fusion import build_pipeline

                    for _, _, spec in harness_specs(encodings, True, anchor):
                        build_pipeline(spec)
            print(f"\n{name}, {len(manifest)} clips, {manifest['speaker'].nunique()} speakers "
                  f"({bench.describe_machine()})", flush=True)
        print()
        print(table(results))
        if args.timing or args.smoke:
            first = next(iter(corpora.values()))
            enc = next(iter(encodings))
            cost = timing(first, enc, encodings[enc], n=args.timing or 4,
                          repeats=1 if args.smoke else 2, cache=cache, smoke=args.smoke)
            print("\nextraction + prediction, seconds:", cost)
            results["timing"] = cost
        if args.json:
            bench.write_json(args.json, {"machine": bench.machine(), "results": results,
                                         "mode": "harness" if args.harness else "quick"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
