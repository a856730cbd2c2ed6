"""How separable is the generated demo corpus by audio, by text and by both?

Generates the demo corpus (default size) for each seed, then scores speaker-grouped CV
(StratifiedGroupKFold by speaker, 4 folds) with plain scikit-learn models and reports
unweighted accuracy (balanced accuracy):

- audio: librosa log-mel (64 bands) mean+std, StandardScaler, SVC(rbf) (sigmoid-calibrated)
- text: TfidfVectorizer + LogisticRegression
- early fusion: both blocks in one ColumnTransformer (TF-IDF weighted by sqrt(audio dims), so
  both blocks have comparable norms), SVC(rbf)
- late fusion: product of the two single-modality models' class probabilities

The generator is tuned so that audio lands around 0.65-0.75, text around 0.55-0.65 and late
fusion at least 5 points above the better single modality. Also reports generation time.

    .venv/bin/python benchmarks/studies/demo_separability.py [--seeds 0 1 2] [--out DIR]
    .venv/bin/python benchmarks/studies/demo_separability.py --smoke   # one tiny corpus
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402


def logmel_stats(paths, n_mels: int = 64) -> np.ndarray:
    """Pooled log-mel statistics (mean and std over time of each band)."""
    feats = []
    for p in paths:
        y, sr = sf.read(p, dtype="float32")
        m = librosa.power_to_db(
            librosa.feature.melspectrogram(y=y, sr=sr, n_fft=512, hop_length=160, n_mels=n_mels)
        )
        feats.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    return np.asarray(feats)


def evaluate(df: pd.DataFrame, *, n_splits: int = 4, seed: int = 0) -> dict[str, float]:
    y = df["label"].to_numpy()
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    kw = {"cv": cv, "groups": df["speaker"].to_numpy()}
    t = bench.timed(logmel_stats, df["path"])
    audio, t_feat = t.result, t.wall
    d = audio.shape[1]
    acols = [f"a{i}" for i in range(d)]
    X = pd.DataFrame(audio, columns=acols)
    X["text"] = df["text"].to_numpy()

    audio_model = make_pipeline(
        ColumnTransformer([("audio", StandardScaler(), acols)]),
        CalibratedClassifierCV(SVC(kernel="rbf"), ensemble=False),
    )
    text_model = make_pipeline(
        ColumnTransformer([("text", TfidfVectorizer(), "text")]),
        LogisticRegression(max_iter=2000),
    )
    early = make_pipeline(
        ColumnTransformer(
            [("audio", StandardScaler(), acols), ("text", TfidfVectorizer(), "text")],
            # standardised audio rows have norm ~sqrt(d), TF-IDF rows norm 1
            transformer_weights={"audio": 1.0, "text": float(np.sqrt(d))},
        ),
        SVC(kernel="rbf"),
    )
    classes = np.unique(y)
    pa = cross_val_predict(audio_model, X, y, method="predict_proba", **kw)
    pt = cross_val_predict(text_model, X, y, method="predict_proba", **kw)
    pe = cross_val_predict(early, X, y, **kw)
    late = classes[(np.log(pa + 1e-9) + np.log(pt + 1e-9)).argmax(axis=1)]
    return {
        "audio": balanced_accuracy_score(y, classes[pa.argmax(axis=1)]),
        "text": balanced_accuracy_score(y, classes[pt.argmax(axis=1)]),
        "early_fusion": balanced_accuracy_score(y, pe),
        "late_fusion": balanced_accuracy_score(y, late),
        "feature_seconds": t_feat,
    }


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", category=UserWarning)  # small-fold class warnings
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=None, help="keep the corpora here")
    args = bench.parse_args(ap, argv)
    # the demo corpus's default size: 8 speakers x 4 classes x 12 (--smoke: 4 x 4 x 3, short)
    size = {"speakers": 4, "per_class": 3, "seconds": (0.5, 1.0)} if args.smoke else {
        "speakers": 8, "per_class": 12}
    rows = []
    with bench.workdir(None if args.smoke else args.out, prefix="demo_separability_") as base:
        for seed in args.seeds[:1] if args.smoke else args.seeds:
            t = bench.timed(bench.make_clips, base / f"seed{seed}", seed=seed, **size)
            df = t.result
            r = {"seed": seed, "n": len(df), "generate_s": t.wall}
            r.update(evaluate(df, seed=seed))
            r["late_margin"] = r["late_fusion"] - max(r["audio"], r["text"])
            r["early_margin"] = r["early_fusion"] - max(r["audio"], r["text"])
            rows.append(r)
    table = pd.DataFrame(rows).set_index("seed")
    pd.options.display.float_format = "{:.3f}".format
    print(table.to_string())
    print("mean:\n" + table.mean().to_string())


if __name__ == "__main__":
    main()
