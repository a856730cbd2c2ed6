"""The generated demo corpus: schema, determinism, audio files, splits, texts, separability."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import DEMO_PER_CLASS, DEMO_SEED, DEMO_SPEAKERS

from emoclassic.data import MANIFEST_COLUMNS, make_demo_corpus, read_manifest
from emoclassic.data._demo_plan import _ADJ, _splits
from emoclassic.exceptions import ConfigError

CLASSES = ("neutral", "happiness", "sadness", "anger")
TINY = {"n_speakers": 2, "n_per_class": 1, "duration": (0.4, 0.6)}


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- manifest


def test_manifest_schema_and_counts(demo_corpus):
    folder, df = demo_corpus
    assert tuple(df.columns) == MANIFEST_COLUMNS
    assert len(df) == DEMO_SPEAKERS * len(CLASSES) * DEMO_PER_CLASS
    assert df["id"].is_unique and df["path"].is_unique
    counts = df.groupby(["speaker", "label"]).size()
    assert set(counts.index.get_level_values("label")) == set(CLASSES)
    assert df["speaker"].nunique() == DEMO_SPEAKERS
    assert (counts == DEMO_PER_CLASS).all()
    assert (df["corpus"] == "demo").all()
    assert (df["label_original"] == df["label"]).all()
    assert df["start"].isna().all() and df["end"].isna().all()
    assert df["text"].str.len().gt(10).all()
    for p in df["path"]:
        assert Path(p).is_absolute() and Path(p).is_file()
        assert Path(p).is_relative_to(folder)


def test_csv_has_relative_paths_and_round_trips(demo_corpus):
    folder, df = demo_corpus
    raw = pd.read_csv(folder / "manifest.csv")
    assert list(raw.columns) == list(MANIFEST_COLUMNS)
    assert all(re.fullmatch(r"wav/spk\d\d/spk\d\d_\d{3}\.wav", p) for p in raw["path"])
    pd.testing.assert_frame_equal(read_manifest(folder / "manifest.csv"), df)
    readme = (folder / "README.md").read_text()
    assert f"seed: {DEMO_SEED}" in readme


def test_splits_by_speaker(demo_corpus):
    _, df = demo_corpus
    per_speaker = df.groupby("speaker")["split"].nunique()
    assert (per_speaker == 1).all(), "a speaker must never be in two splits"
    assert set(df["split"]) == {"train", "dev", "test"}
    assert _splits(8) == ["train"] * 5 + ["dev"] + ["test"] * 2
    assert _splits(1) == ["train"]
    assert _splits(2) == ["train", "test"]
    for n in range(1, 13):
        s = _splits(n)
        assert (
            len(s) == n and s[0] == "train" and s == sorted(s, key=["train", "dev", "test"].index)
        )


def test_sessions_are_ordered_dialogues_with_emotion_runs(demo_corpus):
    _, df = demo_corpus
    for dialogue, rows in df.groupby("dialogue_id", sort=False):
        assert rows["speaker"].nunique() == 1
        assert dialogue.startswith(rows["speaker"].iloc[0] + "_s")
        assert rows["utterance_index"].tolist() == list(range(len(rows)))
        assert len(rows) <= 8
    # Emotions come in short runs within a speaker, so context carries information.
    same = []
    for _, rows in df.groupby("speaker"):
        labels = rows["label"].to_numpy()
        same += list(labels[1:] == labels[:-1])
    assert np.mean(same) > 0.4  # 0.25 if the order were random


def test_text_categories(demo_corpus):
    _, df = demo_corpus
    words = {c: set(_ADJ[c]) for c in CLASSES}
    kinds = []
    for text, label in zip(df["text"], df["label"], strict=True):
        found = {c for c in CLASSES if words[c] & set(text.split())}
        assert len(found) <= 1, text
        kinds.append("uninformative" if not found else "match" if label in found else "other")
    share = pd.Series(kinds).value_counts(normalize=True)
    assert 0.45 <= share["match"] <= 0.65
    assert 0.23 <= share["uninformative"] <= 0.43
    assert 0.05 <= share["other"] <= 0.2
    # Uninformative sentences are spread over all classes (carry no label information).
    uninf = df[np.array(kinds) == "uninformative"]
    assert set(uninf["label"]) == set(CLASSES)


# --------------------------------------------------------------------------- audio


def test_audio_files_are_readable_mono_16k(demo_corpus):
    _, df = demo_corpus
    for p in df["path"]:
        info = sf.info(p)
        assert info.samplerate == 16000 and info.channels == 1
        assert info.format == "WAV" and info.subtype == "PCM_16"
        assert 1.2 - 1e-3 <= info.duration <= 2.2 + 1e-3
    y, _ = sf.read(df["path"].iloc[0])
    assert 0.01 < np.max(np.abs(y)) < 1.0
    assert np.std(y) > 1e-3


def _frame_features(path: str) -> tuple[float, float]:
    """Loudness (dB of the 90th-percentile frame RMS) and mean spectral centroid (Hz)."""
    y, sr = sf.read(path)
    n = 512
    frames = y[: len(y) // n * n].reshape(-1, n) * np.hanning(n)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = frames[rms >= np.percentile(rms, 50)]
    spec = np.abs(np.fft.rfft(loud, axis=1))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    centroid = np.sum(spec * freqs, axis=1) / (np.sum(spec, axis=1) + 1e-12)
    return 20 * np.log10(np.percentile(rms, 90) + 1e-12), float(np.median(centroid))


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float(np.mean(pos[:, None] > neg[None, :]))


def test_anger_is_louder_and_brighter_than_sadness(demo_corpus):
    _, df = demo_corpus
    feats = {
        c: np.array([_frame_features(p) for p in df.loc[df["label"] == c, "path"]])
        for c in ("anger", "sadness")
    }
    assert _auc(feats["anger"][:, 0], feats["sadness"][:, 0]) > 0.9  # louder
    assert _auc(feats["anger"][:, 1], feats["sadness"][:, 1]) > 0.75  # brighter


def test_simple_audio_features_beat_chance_across_speakers(demo_corpus):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, df = demo_corpus
    X = np.array([_frame_features(p) for p in df["path"]])
    pred = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression()),
        X,
        df["label"],
        groups=df["speaker"],
        cv=LeaveOneGroupOut(),
    )
    ua = balanced_accuracy_score(df["label"], pred)
    assert 0.4 < ua < 0.95  # informative (chance 0.25) but not trivially separable


# --------------------------------------------------------------------------- generator


def test_deterministic_for_a_seed(tmp_path):
    a = make_demo_corpus(tmp_path / "a", seed=3, **TINY)
    b = make_demo_corpus(tmp_path / "b", seed=3, **TINY)
    c = make_demo_corpus(tmp_path / "c", seed=4, **TINY)
    files_a, files_b, files_c = (_files(tmp_path / d) for d in "abc")
    assert files_a == files_b
    assert len([f for f in files_a if f.endswith(".wav")]) == 8
    pd.testing.assert_frame_equal(a.drop(columns="path"), b.drop(columns="path"))
    wavs = [f for f in files_a if f.endswith(".wav")]
    assert all(files_a[f] != files_c[f] for f in wavs)
    assert a["text"].tolist() != c["text"].tolist()


def test_regenerating_in_place_replaces_the_corpus(tmp_path):
    make_demo_corpus(tmp_path, n_speakers=2, n_per_class=2, duration=(0.4, 0.5))
    (tmp_path / "results.txt").write_text("keep me")
    df = make_demo_corpus(tmp_path, **TINY)
    wavs = sorted(str(p) for p in tmp_path.rglob("*.wav"))
    assert wavs == sorted(df["path"])  # stale wavs of the larger run are gone
    assert (tmp_path / "results.txt").read_text() == "keep me"
    assert not list(tmp_path.rglob("*.tmp"))
    assert len(read_manifest(tmp_path / "manifest.csv")) == len(df) == 8


def test_options_classes_speakers_and_sr(tmp_path):
    df = make_demo_corpus(
        tmp_path,
        n_speakers=1,
        n_per_class=2,
        classes=["fear", "surprise"],
        sr=8000,
        duration=(0.5, 0.5),
    )
    assert sorted(df["label"]) == ["fear", "fear", "surprise", "surprise"]
    assert set(df["split"]) == {"train"}
    info = sf.info(df["path"].iloc[0])
    assert info.samplerate == 8000 and info.frames == 4000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"classes": ("anger", "rage")}, "classes"),
        ({"classes": ("anger", "anger")}, "classes"),
        ({"classes": ()}, "classes"),
        ({"n_speakers": 0}, "n_speakers"),
        ({"n_per_class": 1.5}, "n_per_class"),
        ({"seed": -1}, "seed"),
        ({"sr": 4000}, "sr"),
        ({"duration": (2.0, 1.0)}, "duration"),
        ({"duration": 1.0}, "duration"),
    ],
)
def test_bad_arguments_raise_config_error(tmp_path, kwargs, field):
    with pytest.raises(ConfigError, match=field) as info:
        make_demo_corpus(tmp_path, **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "manifest.csv").exists()
