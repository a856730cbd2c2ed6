"""The neural heads: frame rows, the LSTM classifier, attention fusion, specs and the CV harness.

Tiny models on generated data, one torch thread (a loaded 2-core box).
"""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from emoclassic.audio._frames import LogMelFrames, split_frames
from emoclassic.evaluation import fit_final, run_cv
from emoclassic.exceptions import ConfigError, DataError
from emoclassic.fusion import attention_summary, attention_weights, build_pipeline
from emoclassic.models import (
    AttentionFusionClassifier,
    LSTMSpectrogramClassifier,
    block_widths,
    make_classifier,
)
from emoclassic.spec import load_spec

SR = 16000


def frame_rows(n=48, t_max=24, dim=3, seed=0):
    """Rows in the frames layout: class 'up' has a rising first feature, 'down' a falling one
    (only the order of the frames tells them apart), lengths 4..t_max, zero padding."""
    rng = np.random.default_rng(seed)
    y = np.array(["up", "down"] * (n // 2))
    lengths = rng.integers(4, t_max + 1, n)
    frames = np.zeros((n, t_max, dim), dtype=np.float32)
    for i, (lab, n_valid) in enumerate(zip(y, lengths, strict=True)):
        ramp = np.linspace(-1, 1, n_valid) * (1 if lab == "up" else -1)
        frames[i, :n_valid] = rng.normal(0, 0.3, (n_valid, dim))
        frames[i, :n_valid, 0] += 2 * ramp
    X = np.concatenate(
        [lengths[:, None], np.full((n, 1), dim), np.full((n, 1), t_max), frames.reshape(n, -1)],
        axis=1,
    ).astype(np.float32)
    return X, y, lengths


def tiny_lstm(**kw):
    params = dict(hidden_size=8, epochs=12, lr=1e-2, n_threads=1, validation_fraction=0.0,
                  frame_stack=1)  # fmt: skip
    params.update(kw)
    return LSTMSpectrogramClassifier(**params)


def tiny_attention(**kw):
    params = dict(projection_dim=8, hidden_size=8, epochs=40, lr=1e-2, n_threads=1,
                  validation_fraction=0.0)  # fmt: skip
    params.update(kw)
    return AttentionFusionClassifier(**params)


def two_blocks(n=80, seed=0):
    """Block 'signal' (4 columns) separates the classes; block 'noise' (6 columns) does not."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b"] * (n // 2))
    signal = rng.normal(0, 1, (n, 4)) + np.where(y == "a", 2.0, -2.0)[:, None]
    noise = rng.normal(0, 1, (n, 6))
    return np.hstack([signal, noise]), y


@pytest.fixture(scope="module")
def lstm_fitted():
    X, y, lengths = frame_rows()
    return tiny_lstm().fit(X, y), X, y, lengths


@pytest.fixture(scope="module")
def attention_fitted():
    X, y = two_blocks()
    return tiny_attention(blocks=[("signal", 4), ("noise", 6)]).fit(X, y), X, y


# --------------------------------------------------------------------------- frame rows
def test_frames_rows_hold_length_dim_and_zero_padding():
    t = np.arange(int(0.3 * SR)) / SR
    short = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    long = np.tile(short, 4)
    ext = LogMelFrames(n_mels=8, deltas=1, max_frames=40)
    rows = ext.transform([short, long])
    assert rows.shape == (2, 3 + 40 * 16) == (2, len(ext.get_feature_names_out()))
    assert rows[:, 1:3].tolist() == [[16, 40], [16, 40]]
    frames, lengths = split_frames(rows)
    assert frames.shape == (2, 40, 16)
    assert lengths[0] == 1 + len(short) // 320 < 40 and lengths[1] == 40  # truncated
    assert np.all(frames[0, lengths[0] :] == 0) and np.any(frames[0, : lengths[0]] != 0)


def test_split_frames_rejects_rows_in_another_layout():
    X, _, _ = frame_rows(n=4)
    other = np.random.default_rng(0).normal(size=(4, 3))
    for bad in (np.hstack([other, X]), np.hstack([X, other])):  # another block fused beside
        with pytest.raises(DataError, match="frames layout"):
            split_frames(bad)


# --------------------------------------------------------------------------- LSTM
def test_lstm_learns_order_from_variable_length_sequences(lstm_fitted):
    clf, X, y, lengths = lstm_fitted
    assert len(np.unique(lengths)) > 10  # genuinely variable lengths
    assert list(clf.classes_) == ["down", "up"]
    assert clf.frame_dim_ == 3 and clf.max_frames_ == 24
    assert (clf.predict(X) == y).mean() >= 0.9
    Xt, yt, _ = frame_rows(seed=1)
    assert (clf.predict(Xt) == yt).mean() >= 0.8


def test_lstm_padding_never_changes_a_prediction(lstm_fitted):
    clf, X, _, lengths = lstm_fitted
    rng = np.random.default_rng(3)
    noisy = X.copy()
    for i, n_valid in enumerate(lengths):
        tail = noisy[i, 3 + 3 * n_valid :]
        tail[:] = rng.normal(0, 50, tail.shape)  # garbage where the padding was
    np.testing.assert_array_equal(clf.predict_proba(noisy), clf.predict_proba(X))


def test_lstm_row_output_does_not_depend_on_its_batch(lstm_fitted):
    clf, X, _, _ = lstm_fitted
    full = clf.predict_proba(X)
    alone = np.vstack([clf.predict_proba(X[i : i + 1]) for i in range(0, len(X), 7)])
    np.testing.assert_allclose(alone, full[::7], atol=1e-6)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(clf.predict_proba(X[order]), full[order], atol=1e-6)


def test_lstm_frame_stack_and_dense_input():
    X, y, _ = frame_rows()
    stacked = tiny_lstm(frame_stack=3).fit(X, y)
    assert stacked.state_dict_["lstm.weight_ih_l0"].shape[1] == 9  # 3 frames x 3 values
    assert (stacked.predict(X) == y).mean() >= 0.8
    dense = tiny_lstm(input_dim=2, epochs=2).fit(np.random.default_rng(0).normal(size=(20, 8)),
                                                 ["a", "b"] * 10)  # fmt: skip
    assert dense.frame_dim_ == 2 and dense.max_frames_ == 4
    with pytest.raises(ValueError, match="multiple of input_dim"):
        tiny_lstm(input_dim=3).fit(np.zeros((4, 8)), ["a", "b"] * 2)


def test_lstm_utterance_norm_ignores_a_clip_level_offset():
    X, y, lengths = frame_rows()
    clf = tiny_lstm(epochs=3, utterance_norm=True).fit(X, y)
    louder = X.copy()
    for i, n_valid in enumerate(lengths):
        louder[i, 3 : 3 + 3 * n_valid] += 7.0  # every valid value of the clip shifted
    np.testing.assert_allclose(clf.predict_proba(louder), clf.predict_proba(X), atol=1e-5)
    plain = tiny_lstm(epochs=3).fit(X, y)
    assert not np.allclose(plain.predict_proba(louder), plain.predict_proba(X), atol=1e-3)


def test_lstm_is_deterministic_for_a_seed_and_restores_torch_state():
    import torch

    X, y, _ = frame_rows()
    threads = torch.get_num_threads()
    before = torch.random.get_rng_state()
    a = tiny_lstm(epochs=3, validation_fraction=0.25).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.get_num_threads() == threads
    b = tiny_lstm(epochs=3, validation_fraction=0.25).fit(X, y)
    c = tiny_lstm(epochs=3, validation_fraction=0.25, random_state=1).fit(X, y)
    for k, v in a.state_dict_.items():
        np.testing.assert_array_equal(v, b.state_dict_[k])
    assert a.history_ == b.history_
    assert not np.array_equal(a.state_dict_["out.weight"], c.state_dict_["out.weight"])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_lstm_early_stopping_keeps_the_best_epoch():
    X, y, _ = frame_rows(n=64)
    y = np.random.default_rng(0).permutation(y)  # nothing to learn: validation loss rises
    clf = tiny_lstm(epochs=30, patience=2, validation_fraction=0.25, lr=5e-2).fit(X, y)
    losses = [h["val_loss"] for h in clf.history_]
    assert clf.best_epoch_ == 1 + int(np.argmin(losses))
    assert clf.n_epochs_ == len(losses) == clf.best_epoch_ + 2 < 30


def test_class_weights():
    X, y, _ = frame_rows()
    clf = tiny_lstm(epochs=1, class_weight="balanced").fit(X[:30], y[:30])
    assert clf.predict(X).shape == y.shape
    with pytest.raises(ConfigError, match="not in y"):
        tiny_lstm(epochs=1, class_weight={"sideways": 2.0}).fit(X, y)
    with pytest.raises(ConfigError, match="dropout"):
        tiny_lstm(dropout=1.5).fit(X, y)


def test_lstm_joblib_round_trip_stores_numpy_only(lstm_fitted, tmp_path):
    clf, X, _, _ = lstm_fitted
    path = tmp_path / "lstm.joblib"
    joblib.dump(clf, path)
    assert b"torch" not in pickle.dumps(clf)  # portable: no torch tensors in the artifact
    back = joblib.load(path)
    assert "_net" not in back.__dict__
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


# --------------------------------------------------------------------------- attention
def test_attention_weights_sum_to_one_and_follow_the_informative_block(attention_fitted):
    clf, X, y = attention_fitted
    assert clf.block_names_ == ["signal", "noise"] and clf.block_widths_ == [4, 6]
    a = clf.predict_attention(X)
    assert a.shape == (len(X), 2) and np.all(a >= 0)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-9)
    assert a[:, 0].mean() > 0.5  # it leans on the block that carries the classes
    assert (clf.predict(X) == y).mean() >= 0.9


def test_attention_is_deterministic_and_round_trips(attention_fitted):
    clf, X, y = attention_fitted
    again = tiny_attention(blocks=[("signal", 4), ("noise", 6)]).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    buf = io.BytesIO()
    joblib.dump(clf, buf)
    buf.seek(0)
    back = joblib.load(buf)
    np.testing.assert_array_equal(back.predict_attention(X), clf.predict_attention(X))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_block_widths():
    assert block_widths(None, 5) == [("block0", 5)]
    assert block_widths(2, 5) == [("block0", 2), ("block1", 3)]
    assert block_widths([("a", 2), 3], 5) == [("a", 2), ("block1", 3)]
    with pytest.raises(ValueError, match="cover 4 columns"):
        block_widths([("a", 2), ("b", 2)], 5)
    with pytest.raises(ConfigError, match="distinct"):
        block_widths([("a", 2), ("a", 3)], 5)


# --------------------------------------------------------------------------- specs
def test_shipped_specs_load_and_build():
    lstm = build_pipeline(load_spec("pipelines/lstm-frames.toml"))
    assert isinstance(lstm.named_steps["clf"], LSTMSpectrogramClassifier)
    att = load_spec("pipelines/attention-pooled-text.toml")
    pipe = build_pipeline(att)
    fusion = pipe.named_steps["fusion"]
    assert isinstance(fusion.classifier, AttentionFusionClassifier)
    assert [n for n, _, _ in fusion.features.transformers] == ["audio", "text"]
    assert att.restrict("audio").fusion.type == "attention"


@pytest.mark.parametrize(
    "change, match",
    [
        ({"features": {"f": {"type": "frames", "pca": 8}}}, "frames block keeps its row layout"),
        ({"fusion": "early"}, "use it with fusion = 'attention'"),
        ({"classifier": {"name": "svc"}}, "needs a classifier that weighs blocks"),
        ({"grid": {"fusion.weights": [[1, 2]]}}, "learns its block weights"),
        ({"fusion": {"type": "attention", "temperature": 0.3}}, "unknown key 'temperature'"),
    ],
)
def test_spec_errors(change, match):
    d = {
        "fusion": "attention",
        "features": {"a": {"type": "extra", "columns": ["x"]},
                     "b": {"type": "extra", "columns": ["z"]}},
        "classifier": {"name": "attention"},
    }  # fmt: skip
    d.update(change)
    with pytest.raises(ConfigError, match=match):
        load_spec(d)


def test_frames_blocks_are_never_speaker_normalised():
    spec = load_spec({"features": {"f": {"type": "frames"}}, "classifier": {"name": "lstm"},
                      "speaker_normalization": True})  # fmt: skip
    block = build_pipeline(spec).named_steps["features"].transformers[0][1]
    assert isinstance(block.named_steps["extract"], LogMelFrames)
    assert load_spec(spec.to_dict()).features == spec.features


def test_spec_values_are_checked_when_the_spec_loads():
    with pytest.raises(ConfigError, match="hidden_size"):
        load_spec({"features": {"f": {"type": "frames"}},
                   "classifier": {"name": "lstm", "hidden_size": 0}})  # fmt: skip
    assert isinstance(make_classifier("lstm"), LSTMSpectrogramClassifier)


# --------------------------------------------------------------------------- CV harness
def _demo(demo_corpus) -> pd.DataFrame:
    _, manifest = demo_corpus
    return manifest


def test_lstm_spec_runs_inside_run_cv_and_fit_final(demo_corpus, tmp_path):
    manifest = _demo(demo_corpus)
    spec = load_spec({
        "name": "lstm-tiny",
        "features": {"frames": {"type": "frames", "n_mels": 8, "deltas": 1, "max_frames": 60}},
        "classifier": {"name": "lstm", "hidden_size": 8, "epochs": 3, "n_threads": 1},
        "cv": {"scheme": "group", "n_splits": 2},
    })  # fmt: skip
    rep = run_cv(spec, manifest, cache=tmp_path / "cache")
    assert rep["metrics"]["n"] == len(manifest) and len(rep["folds"]) == 2
    assert {p["predicted"] for p in rep["predictions"]} <= set(manifest["label"])
    model = fit_final(spec, manifest, cache=tmp_path / "cache")
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    np.testing.assert_array_equal(
        joblib.load(path).predict_proba(manifest), model.predict_proba(manifest)
    )


def test_attention_spec_runs_inside_run_cv_and_reports_attention(demo_corpus, tmp_path):
    manifest = _demo(demo_corpus)
    spec = load_spec({
        "name": "attention-tiny",
        "fusion": "attention",
        "features": {"audio": {"type": "pooled", "preset": "compact"},
                     "text": {"type": "tfidf"}},
        "classifier": {"name": "attention", "projection_dim": 8, "hidden_size": 8,
                       "epochs": 10, "n_threads": 1},
        "grid": {"classifier.weight_decay": [0.001, 0.01]},
        "cv": {"scheme": "group", "n_splits": 2, "inner_splits": 2},
    })  # fmt: skip
    rep = run_cv(spec, manifest, cache=tmp_path / "cache", ablation=True)
    assert rep["metrics"]["n"] == len(manifest)
    assert set(rep["ablation"]) == {"audio", "text", "fused"}
    assert rep["best_params"]["classifier.weight_decay"] in (0.001, 0.01)
    att = rep["attention"]  # out-of-fold attention, overall, per class and per prediction
    assert att["blocks"] == ["audio", "text"] and att["n"] == len(manifest)
    assert abs(sum(att["mean"].values()) - 1) < 1e-3
    assert set(att["per_class"]) == set(manifest["label"])
    assert all(abs(sum(p["attention"].values()) - 1) < 1e-3 for p in rep["predictions"])
    assert all("_attention_rows" not in f and set(f["attention"]) == {"audio", "text"}
               for f in rep["folds"])  # fmt: skip
    from emoclassic.evaluation import render_markdown

    assert "Attention over blocks" in render_markdown(rep)
    model = fit_final(spec, manifest, params=rep["best_params"], cache=tmp_path / "cache")
    w = attention_weights(model, manifest)
    assert list(w.columns) == ["audio", "text"] and list(w.index) == list(manifest["id"])
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    s = attention_summary(model, manifest)
    assert s["n"] == len(manifest) and abs(sum(s["mean"].values()) - 1) < 1e-3
    assert attention_weights(build_pipeline(load_spec("pipelines/lstm-frames.toml")), manifest) \
        is None  # fmt: skip
    from emoclassic.artifacts import load_model, save_model

    save_model(model, tmp_path / "att.joblib", spec=spec, train_manifest=manifest)
    back, info = load_model(tmp_path / "att.joblib")
    np.testing.assert_array_equal(attention_weights(back, manifest), w)
    np.testing.assert_array_equal(back.predict_proba(manifest), model.predict_proba(manifest))
    from emoclassic.prediction import predict_manifest

    res = predict_manifest(back, manifest.iloc[:3], info=info)
    assert [p["attention"] for p in res.predictions] == [
        {b: round(float(v), 4) for b, v in w.iloc[i].items()} for i in range(3)
    ]


# --------------------------------------------------------------------------- sklearn checks
@parametrize_with_checks(
    [
        LSTMSpectrogramClassifier(hidden_size=4, epochs=3, input_dim=1, frame_stack=1,
                                  n_threads=1, validation_fraction=0.0, lr=2e-2),
        AttentionFusionClassifier(blocks=None, projection_dim=4, hidden_size=4, epochs=20,
                                  n_threads=1, validation_fraction=0.0, lr=2e-2),
    ]
)  # fmt: skip
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
