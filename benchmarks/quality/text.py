"""Text quality on MELD: the official test split, weighted F1, hyperparameters chosen on dev.

On ``labels.csv`` of the MELD text folder (columns split, dialogue_id, utterance_id, speaker,
text, emotion): every classifier is fitted on ``train``, its hyperparameters (C, class_weight)
are chosen by weighted F1 on ``dev`` only, and the chosen model is scored once on the official
``test`` split. Embeddings are cached in ``--cache`` so a rerun only refits the classifiers.
Rows: majority class, TF-IDF + LR, frozen MiniLM + LR / LinearSVC over the context ablation
(none, past, past + future, each with and without speaker names: the shape of EmoBERTa's
Table 1), layer and pooling choices, TF-IDF + MiniLM concatenated, and (``precision``) the
compute precisions of ``--dtypes`` side by side in one run: encode speed on one thread (the
same utterances, interleaved repeats, no cache), closeness of the vectors to float32, and
MiniLM (last layer, mean) + LR chosen on dev, scored on test (weighted F1 and UA). The speed of
the text branch against the bare library is ``benchmarks/speed/text.py``.

    .venv/bin/python benchmarks/quality/text.py [--rows baselines,context,layers,combos,recipe]
        [--no-svm]
    .venv/bin/python benchmarks/quality/text.py --rows precision --dtypes float32,int8
        [--speed-n 2000] [--speed-repeats 3]
    .venv/bin/python benchmarks/quality/text.py --smoke   # demo-corpus transcripts, every row

Results print as markdown rows and are saved to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402
from emoclassic.text import SentenceEmbedder, TfidfText  # noqa: E402

logger = logging.getLogger("bench_text")

LR_C = (0.003, 0.01, 0.03, 0.1, 0.3)
SVM_C = (0.001, 0.003, 0.01, 0.03)
TFIDF_C = (1.0, 3.0, 10.0)
COMBO_C = (0.3, 1.0, 3.0, 10.0)
CLASS_WEIGHTS = (None, "balanced")


# -- quality ---------------------------------------------------------------------------------
def _select(X, y, masks, kind: str, Cs) -> dict:
    """Fit on train for every (C, class_weight); keep the best on dev; score it on test."""
    tr, dv, te = masks
    best = None
    for cw in CLASS_WEIGHTS:
        for C in Cs:
            if kind == "lr":
                clf = LogisticRegression(C=C, class_weight=cw, max_iter=2000)
            else:
                clf = LinearSVC(C=C, class_weight=cw, dual=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X[tr], y[tr])
            dev = f1_score(y[dv], clf.predict(X[dv]), average="weighted")
            if best is None or dev > best["dev"]:
                pred = clf.predict(X[te])
                test = f1_score(y[te], pred, average="weighted")
                ua = balanced_accuracy_score(y[te], pred)  # UA: the mean of per-class recalls
                best = {"dev": dev, "test": test, "test_ua": ua, "C": C, "class_weight": cw}
    return best


def _scaled(E: np.ndarray, tr: np.ndarray) -> np.ndarray:
    return StandardScaler().fit(E[tr]).transform(E)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


class Quality:
    def __init__(
        self,
        df: pd.DataFrame,
        cache: str,
        threads: int,
        svm: bool,
        *,
        dtypes: tuple[str, ...] = ("float32", "int8"),
        speed_n: int = 2000,
        speed_repeats: int = 3,
    ):
        self.df = df
        self.cache = cache
        self.threads = threads
        self.svm = svm
        self.dtypes = dtypes
        self.speed_n = speed_n
        self.speed_repeats = speed_repeats
        self.y = df["label"].to_numpy(dtype=object)
        split = df["split"].to_numpy(dtype=object)
        self.masks = (split == "train", split == "dev", split == "test")
        self.rows: list[dict] = []
        self._emb: dict[str, np.ndarray] = {}

    def embed(self, **kw) -> np.ndarray:
        key = json.dumps(kw, sort_keys=True)
        if key not in self._emb:
            emb = SentenceEmbedder(**kw, cache=self.cache, n_threads=self.threads, missing="error")
            t = bench.timed(emb.transform, self.df)
            self._emb[key] = t.result
            logger.info("embedded %s in %.0f s", kw, t.wall)
        return self._emb[key]

    def tfidf(self, **kw):
        tr = self.masks[0]
        return TfidfText(**kw).fit(self.df[tr]).transform(self.df)

    def report(self, group: str, name: str, clf: str, res: dict) -> None:
        row = {"group": group, "features": name, "classifier": clf, **res}
        self.rows.append(row)
        cw = res.get("class_weight") or "none"
        print(bench.markdown_row([group, name, clf, f"{res['dev']:.3f}", f"**{res['test']:.3f}**",
                            f"C={res.get('C', '-')}, class_weight={cw}"]), flush=True)  # fmt: skip

    def classify(self, group: str, name: str, X, *, svm: bool | None = None, scale=True):
        tr = self.masks[0]
        Z = _scaled(X, tr) if scale else X
        self.report(group, name, "LR", _select(Z, self.y, self.masks, "lr", LR_C))
        if self.svm if svm is None else svm:
            self.report(group, name, "LinearSVC", _select(Z, self.y, self.masks, "svm", SVM_C))

    # groups of rows
    def baselines(self) -> None:
        tr, dv, te = self.masks
        values, counts = np.unique(self.y[tr], return_counts=True)
        major = values[np.argmax(counts)]
        res = {
            "dev": f1_score(self.y[dv], [major] * dv.sum(), average="weighted"),
            "test": f1_score(self.y[te], [major] * te.sum(), average="weighted"),
        }
        self.report("baseline", f"majority class ({major})", "-", res)
        for name, kw in (
            ("TF-IDF words 1-2", {}),
            ("TF-IDF words 1-2 + chars 2-5", {"analyzer": "both"}),
        ):
            X = self.tfidf(**kw)
            self.report("baseline", name, "LR", _select(X, self.y, self.masks, "lr", TFIDF_C))

    def context(self) -> None:
        for past, future in ((0, 0), (1, 0), (2, 0), (1, 1)):
            for names in (False, True):
                ctx = (
                    "none"
                    if past == future == 0
                    else f"past {past}" + (f" + future {future}" if future else "")
                )
                label = f"MiniLM last/mean, context {ctx}" + (", speaker names" if names else "")
                X = self.embed(context_past=past, context_future=future, speaker_names=names)
                self.classify("context", label, X)
        X = self.embed(context_past=1, pool_span="window")
        self.classify(
            "context", "MiniLM last/mean, past 1, pooled over the whole window", X, svm=False
        )

    def layers(self) -> None:
        for layer, pooling in (
            ("second_to_last", "mean"),
            ("last4_mean", "mean"),
            (3, "mean"),
            (4, "mean"),
            ("last", "cls"),
        ):
            X = self.embed(layer=layer, pooling=pooling)
            self.classify("layer", f"MiniLM layer={layer}, pooling={pooling}", X, svm=False)
        both = np.hstack([self.embed(layer="second_to_last"), self.embed(layer="last4_mean")])
        self.classify("layer", "MiniLM second_to_last ++ last4_mean", both, svm=False)
        X = self.embed(layer=4, context_past=2)
        self.classify("layer", "MiniLM layer=4, pooling=mean, past 2", X, svm=False)

    #: TF-IDF words ++ weighted, standardised MiniLM blocks: [(layer, past, weight), ...]
    COMBOS = (
        (("second_to_last", 0, 0.1),),
        (("second_to_last", 0, 0.3),),
        (("last", 0, 0.1),),
        ((4, 0, 0.1),),
        (("second_to_last", 2, 0.1),),
        (("second_to_last", 0, 0.07), ("second_to_last", 2, 0.07)),
        ((4, 0, 0.07), (4, 2, 0.07)),
    )

    def combos(self) -> None:
        tr = self.masks[0]
        words = self.tfidf()
        for blocks in self.COMBOS:
            parts, names = [words], []
            for layer, past, weight in blocks:
                E = _scaled(self.embed(layer=layer, context_past=past), tr) * weight
                parts.append(sp.csr_matrix(E))
                names.append(f"{weight} x MiniLM {layer}" + (f" past {past}" if past else ""))
            X = sp.hstack(parts, format="csr")
            name = "TF-IDF words ++ " + " ++ ".join(names)
            self.report("combo", name, "LR", _select(X, self.y, self.masks, "lr", COMBO_C))

    def recipe(self) -> None:
        """Combinations as the scikit-learn pipeline a spec builds, chosen on dev, then test."""
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import make_pipeline

        tr, dv, te = self.masks
        cols = ["id", "text", "speaker", "dialogue_id", "utterance_index"]
        candidates = {
            "second_to_last x 0.1": [("second_to_last", 0, 0.1)],
            "second_to_last + second_to_last past 2, x 0.07 each": [
                ("second_to_last", 0, 0.07),
                ("second_to_last", 2, 0.07),
            ],
            "layer 4 + layer 4 past 2, x 0.07 each": [(4, 0, 0.07), (4, 2, 0.07)],
        }
        best = None
        for label, blocks in candidates.items():
            steps = [("tfidf", TfidfText(), cols)]
            weights = {"tfidf": 1.0}
            for i, (layer, past, weight) in enumerate(blocks):
                emb = SentenceEmbedder(
                    layer=layer, context_past=past, cache=self.cache, n_threads=self.threads
                )
                steps.append((f"minilm{i}", make_pipeline(emb, StandardScaler()), cols))
                weights[f"minilm{i}"] = weight
            for C in COMBO_C:
                ct = ColumnTransformer(steps, transformer_weights=weights)
                pipe = make_pipeline(ct, LogisticRegression(C=C, max_iter=2000))
                pipe.fit(self.df[tr], self.y[tr])
                dev = f1_score(self.y[dv], pipe.predict(self.df[dv]), average="weighted")
                logger.info("recipe %s, C=%s: dev %.3f", label, C, dev)
                if best is None or dev > best["dev"]:
                    test = f1_score(self.y[te], pipe.predict(self.df[te]), average="weighted")
                    best = {"dev": dev, "test": test, "C": C, "class_weight": None, "with": label}
        self.report(
            "recipe",
            "Pipeline(ColumnTransformer([TfidfText, SentenceEmbedder + StandardScaler, ...], "
            f"transformer_weights), LR) chosen on dev among 3: {best['with']}",
            "LR",
            best,
        )

    def precision(self) -> None:
        """float32 against ``self.dtypes``, side by side in one run.

        Speed: ``SentenceEmbedder(dtype=d, n_threads=1).transform`` of the first ``speed_n``
        train utterances, no cache, models loaded first, dtypes interleaved with the order
        alternating, best of ``speed_repeats``. Batch dependence: the first 100 of them embedded
        one call each against the batched vectors (int8's activation scale is per batch).
        Quality: every MELD utterance embedded (cached), MiniLM last layer + LR chosen on dev
        as in the *context* rows, scored once on test.
        """
        tr, dv, te = self.masks
        texts = self.df.loc[tr, "text"].head(self.speed_n).tolist()
        embs = {d: SentenceEmbedder(dtype=d, n_threads=1, missing="error", cache=None)
                for d in self.dtypes}  # fmt: skip
        for emb in embs.values():
            emb.transform(texts[:1])  # loads the model
        best: dict[str, bench.Timing] = {}
        batched: dict[str, np.ndarray] = {}
        load = [bench.load1()]
        for rep in range(self.speed_repeats):
            order = self.dtypes if rep % 2 == 0 else self.dtypes[::-1]
            for d in order:
                t = bench.timed(embs[d].transform, texts)
                load.append(bench.load1())
                logger.info("precision %s run %d: %.2f s wall, %.2f s CPU", d, rep + 1, t.wall,
                            t.cpu)  # fmt: skip
                batched[d] = t.result
                prev = best.get(d, t)
                best[d] = bench.Timing(min(t.wall, prev.wall), min(t.cpu, prev.cpu), t.result)
        quiet = logging.getLogger("emoclassic")
        level, _ = quiet.level, quiet.setLevel(logging.WARNING)  # 100 one-line calls each
        try:
            alone = {d: np.vstack([embs[d].transform([s]) for s in texts[:100]])
                     for d in self.dtypes}  # fmt: skip
        finally:
            quiet.setLevel(level)
        head = ["dtype", "utterances/s (1 thread)", "per CPU-second", "speed vs float32",
                "cosine to float32 (median / 5th pct / min)", "one by one vs batched (min)",
                "dev wF1", "**test wF1**", "test UA", "test wF1 vs float32"]  # fmt: skip
        print()
        bench.print_table(head)
        vecs = {d: self.embed(dtype=d) for d in self.dtypes}
        ref = vecs.get("float32")
        base: dict | None = None
        for d in self.dtypes:
            res = _select(_scaled(vecs[d], tr), self.y, self.masks, "lr", LR_C)
            if d == "float32":
                base = res
            cos = _cosines(vecs[d], ref) if ref is not None else np.full(len(vecs[d]), np.nan)
            rate = len(texts) / best[d].wall
            rate32 = len(texts) / best["float32"].wall if "float32" in best else np.nan
            row = {
                "group": "precision",
                "features": f"MiniLM last/mean, dtype={d}",
                "classifier": "LR",
                **res,
                "dtype": d,
                "speed_utterances": len(texts),
                "speed_distinct": len(set(texts)),
                "speed_repeats": self.speed_repeats,
                "utterances_per_s": round(rate, 1),
                "utterances_per_cpu_s": round(len(texts) / best[d].cpu, 1),
                "speed_vs_float32": round(rate / rate32, 2),
                "cosine_to_float32": {
                    "median": float(np.median(cos)),
                    "p05": float(np.percentile(cos, 5)),
                    "min": float(cos.min()),
                },
                "one_by_one_vs_batched_min_cosine": float(
                    _cosines(alone[d], batched[d][:100]).min()
                ),
                "loadavg_1min": [min(load), max(load)],
            }
            if base is not None:
                row["test_vs_float32"] = res["test"] - base["test"]
            self.rows.append(row)
            c = row["cosine_to_float32"]
            print(bench.markdown_row([
                d, row["utterances_per_s"], row["utterances_per_cpu_s"],
                f"{row['speed_vs_float32']}x",
                f"{c['median']:.4f} / {c['p05']:.4f} / {c['min']:.4f}",
                f"{row['one_by_one_vs_batched_min_cosine']:.4f}",
                f"{res['dev']:.3f}", f"**{res['test']:.3f}**", f"{res['test_ua']:.3f}",
                f"{row.get('test_vs_float32', float('nan')):+.3f}",
            ]), flush=True)  # fmt: skip
        print(
            f"<!-- speed: {len(texts)} train utterances ({len(set(texts))} distinct), 1 thread, "
            f"best of {self.speed_repeats}, interleaved; load average {min(load)}-{max(load)} "
            f"on {bench.machine()['cpus']} CPUs -->",
            flush=True,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=None,
                        help="MELD text labels.csv (default: ../shared/data/meld_text)")
    parser.add_argument("--cache", default="artifacts/cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", default="baselines,context,layers,combos,recipe,precision")
    parser.add_argument("--no-svm", dest="svm", action="store_false")
    parser.add_argument("--dtypes", default="float32,int8",
                        help="precisions the precision rows compare (float32 first)")
    parser.add_argument("--speed-n", type=int, default=2000,
                        help="train utterances the precision rows time")
    parser.add_argument("--speed-repeats", type=int, default=3, help="best of")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench_text_quality.json"))
    args = bench.parse_args(parser, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with bench.workdir(prefix="bench_text_quality_") as tmp:
        if args.smoke:  # the demo corpus's transcripts; cache and results in tmp
            args.cache, args.out = str(tmp / "cache"), tmp / "text.json"
        df, source = bench.text_corpus(args.labels, tmp, args.smoke)
        if args.smoke:
            args.speed_n, args.speed_repeats = 32, 2
        dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
        q = Quality(df, args.cache, args.threads, args.svm, dtypes=dtypes,
                    speed_n=args.speed_n, speed_repeats=args.speed_repeats)  # fmt: skip
        bench.print_table(["group", "features", "classifier", "dev wF1", "test wF1",
                           "chosen on dev"])
        for group in args.rows.split(","):
            getattr(q, group.strip())()
        bench.write_json(args.out, {"labels": source, "quality": q.rows,
                                    "model": SentenceEmbedder().model_identity()})  # fmt: skip


if __name__ == "__main__":
    main()
