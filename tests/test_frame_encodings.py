"""Frame encodings (issue 19): bag-of-audio-words and Fisher vectors over frame descriptors.

The encoders' arithmetic on tiny known inputs, the frame extractor (``frame_llds``), fitting
inside the folds only, specs (the ``encode`` option and its one-line errors) and a model that
goes through ``emoclassic fit`` and ``predict``. Generated audio and the demo corpus only.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from emoclassic.audio import (
    FRAME_HEADER,
    BagOfAudioWords,
    FisherVectors,
    FrameDescriptors,
    split_frames,
)
from emoclassic.exceptions import ConfigError, DataError

CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])


def _layout(seqs: list[np.ndarray], max_frames: int) -> np.ndarray:
    """Rows in the frames layout (header, frames, zero padding)."""
    dim = seqs[0].shape[1]
    out = np.zeros((len(seqs), FRAME_HEADER + max_frames * dim))
    for i, s in enumerate(seqs):
        out[i, :3] = len(s), dim, max_frames
        out[i, 3 : 3 + s.size] = s.ravel()
    return out


def _clustered(rng, counts: list[tuple[int, int, int]], spread: float = 0.1) -> list[np.ndarray]:
    """One sequence per row: ``counts[i][k]`` frames near centre ``k``."""
    seqs = []
    for row in counts:
        parts = [CENTRES[k] + spread * rng.standard_normal((n, 2)) for k, n in enumerate(row)]
        seqs.append(rng.permutation(np.concatenate(parts)))
    return seqs


@pytest.fixture
def clustered():
    rng = np.random.default_rng(0)
    counts = [(5, 3, 2), (1, 8, 1), (0, 2, 6), (4, 4, 4), (7, 0, 3)]
    return _layout(_clustered(rng, counts), max_frames=12), np.array(counts)


# --------------------------------------------------------------------------- bag of audio words
def _boaw(X, **kw) -> BagOfAudioWords:
    """A bag of words whose codebook is the three centres, in order (the counting tested
    alone: a random codebook fitted, then replaced)."""
    boaw = BagOfAudioWords(3, codebook="random", standardize=False, **kw).fit(X)
    boaw.codebook_ = CENTRES.copy()
    return boaw


def test_hard_assignment_histograms_count_frames(clustered):
    X, counts = clustered
    H = _boaw(X, weighting="count").transform(X)
    np.testing.assert_allclose(H, counts)  # the padding frames are never counted
    # k-means finds the three centres (in some order) and counts the same
    km = BagOfAudioWords(3, weighting="count", standardize=False).fit(X)
    order = [int(np.argmin(((km.codebook_ - c) ** 2).sum(axis=1))) for c in CENTRES]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(km.transform(X)[:, order], counts)


def test_term_weightings(clustered):
    X, counts = clustered
    n = counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(_boaw(X, weighting="tf").transform(X), counts / n)
    np.testing.assert_allclose(_boaw(X, weighting="log").transform(X), np.log1p(counts))
    tfidf = BagOfAudioWords(3, codebook="random", weighting="tfidf").fit(X)
    raw = tfidf.set_params(weighting="count").transform(X)
    df = (raw > 0).sum(axis=0)
    np.testing.assert_allclose(tfidf.idf_, np.log(len(X) / (1.0 + df)))
    tf = raw / raw.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tfidf.set_params(weighting="tfidf").transform(X), tf * tfidf.idf_)


def test_multi_and_soft_assignment_spread_one_count_per_frame(clustered):
    X, counts = clustered
    total = counts.sum(axis=1)
    multi = _boaw(X, n_assign=2, weighting="count").transform(X)
    np.testing.assert_allclose(multi.sum(axis=1), total)
    np.testing.assert_allclose(multi, np.round(multi * 2) / 2)  # halves of frames
    soft = _boaw(X, assignment="soft", n_assign=3, weighting="count")
    soft.sigma2_ = 0.02  # the clusters' own spread: two coordinates of 0.1
    S = soft.transform(X)
    np.testing.assert_allclose(S.sum(axis=1), total)
    # tight clusters far apart: soft weights are almost all on the nearest word
    np.testing.assert_allclose(S, counts, atol=1e-3)
    soft.sigma2_ = 1e6  # a huge bandwidth: every frame spread evenly over its 3 words
    np.testing.assert_allclose(soft.transform(X), np.repeat(total[:, None] / 3, 3, 1), rtol=1e-3)


def test_random_codebook_and_plain_rows():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 20))  # 10 frames of 2 values a row
    boaw = BagOfAudioWords(4, codebook="random", frame_dim=2, weighting="count").fit(X)
    assert boaw.codebook_.shape == (4, 2)
    np.testing.assert_allclose(boaw.transform(X).sum(axis=1), 10)
    assert list(boaw.get_feature_names_out()) == ["boaw_w0", "boaw_w1", "boaw_w2", "boaw_w3"]


def test_codebook_sees_a_sample_of_the_training_frames_only(clustered):
    X, _ = clustered
    a = BagOfAudioWords(3, codebook="random", max_fit_frames=20, random_state=0).fit(X)
    b = BagOfAudioWords(3, codebook="random", max_fit_frames=20, random_state=0).fit(X)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)  # seeded
    frames, lengths = split_frames(X[:2])
    valid = np.concatenate([f[:n] for f, n in zip(frames, lengths, strict=True)])
    c = BagOfAudioWords(3, codebook="random", max_fit_frames=10_000).fit(X[:2])
    np.testing.assert_allclose(c.mean_, valid.mean(axis=0))  # padding never enters


# --------------------------------------------------------------------------- Fisher vectors
def test_fisher_vector_of_the_means_is_zero_in_the_mean_part(clustered):
    X, _ = clustered
    fv = FisherVectors(3, power=1.0, l2=False, standardize=False).fit(X)
    K, D = fv.gmm_.means_.shape
    at_means = _layout([np.repeat(fv.gmm_.means_, 4, axis=0)], max_frames=12)
    v = fv.transform(at_means)[0]
    assert v.shape == (2 * K * D,)
    np.testing.assert_allclose(v[: K * D], 0.0, atol=1e-5)  # frames are float32
    # frames exactly at a mean deviate by -1 standard unit squared: the variance part is
    # -(frames of k)/(T sqrt(2 w_k)) on every dimension
    expected = -(4 / 12) / np.sqrt(2 * fv.gmm_.weights_)
    np.testing.assert_allclose(v[K * D :].reshape(K, D), np.repeat(expected[:, None], D, 1),
                               rtol=1e-4)  # fmt: skip


def test_fisher_vector_power_and_l2_normalisation(clustered):
    X, _ = clustered
    raw = FisherVectors(3, power=1.0, l2=False).fit(X).transform(X)
    out = FisherVectors(3, power=0.5, l2=True).fit(X).transform(X)
    signed = np.sign(raw) * np.sqrt(np.abs(raw))
    np.testing.assert_allclose(out, signed / np.linalg.norm(signed, axis=1, keepdims=True),
                               atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0)
    means_only = FisherVectors(3, variances=False).fit(X)
    assert means_only.transform(X).shape == (len(X), 3 * 2)
    assert means_only.get_feature_names_out()[0] == "fv_mean_k0_d0"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: BagOfAudioWords(0), "n_words"),
        (lambda: BagOfAudioWords(3, assignment="fuzzy"), "assignment"),
        (lambda: BagOfAudioWords(3, assignment="soft"), "n_assign >= 2"),
        (lambda: BagOfAudioWords(3, weighting="bm25"), "weighting"),
        (lambda: BagOfAudioWords(3, n_assign=4), "n_assign"),
        (lambda: FisherVectors(3, power=2.0), "power"),
        (lambda: FisherVectors(0), "n_components"),
        (lambda: FisherVectors(60), "training frames"),
    ],
)
def test_bad_encoder_options_are_one_line_config_errors(clustered, make, message):
    X, _ = clustered
    with pytest.raises(ConfigError, match=message) as err:
        make().fit(X)
    assert "\n" not in str(err.value)


def test_rows_not_in_the_frames_layout_are_a_data_error():
    with pytest.raises(DataError, match="frames layout"):
        FisherVectors(2).fit(np.ones((4, 10)))


@parametrize_with_checks(
    [
        BagOfAudioWords(3, frame_dim=1),
        BagOfAudioWords(3, frame_dim=1, codebook="random", assignment="soft", n_assign=2,
                        weighting="tfidf"),
        FisherVectors(2, frame_dim=1, max_iter=20),
    ]
)  # fmt: skip
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- frame descriptors
def _voice(sr: int = 16000, seconds: float = 1.2, f0: float = 140.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12)) * env
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_frame_descriptors_layout_names_and_invariance():
    ext = FrameDescriptors(max_frames=200)
    y = _voice()
    row = ext.transform(pd.DataFrame(y[None, :]))[0]
    frames, lengths = split_frames(row[None, :])
    assert frames.shape[2] == ext.frame_dim == 2 * (14 + 3 + 2)
    assert len(ext.get_feature_names_out()) == row.size
    assert 100 < lengths[0] <= 200
    names = list(ext.get_feature_names_out()[3 : 3 + ext.frame_dim])
    assert names[:2] == ["t0_mfcc0", "t0_mfcc1"] and "t0_f0_st" in names and "t0_voicing_d" in names
    f0 = frames[0, : lengths[0], names.index("t0_f0_st")]
    voiced = f0 > 0
    assert voiced.mean() > 0.5
    np.testing.assert_allclose(np.median(f0[voiced]), 12 * np.log2(140 / 27.5), atol=0.3)
    # 12 dB quieter and padded with silence: the same frames (trimmed, peak-normalised)
    quiet = np.concatenate([np.zeros(3200, np.float32), y / 4, np.zeros(3200, np.float32)])
    other = ext.transform(pd.DataFrame(quiet[None, :]))[0]
    f2, l2 = split_frames(other[None, :])
    assert l2[0] == lengths[0]
    np.testing.assert_allclose(f2[0, : l2[0], :14], frames[0, : lengths[0], :14], atol=0.05)


def test_frame_descriptor_groups_and_errors():
    ext = FrameDescriptors(["logmel", "spectral"], deltas=0, n_mels=10, max_frames=50)
    assert ext.frame_dim == 10 + 12
    with pytest.raises(ConfigError, match="descriptors"):
        FrameDescriptors(["mfcc", "chroma"]).get_feature_names_out()
    with pytest.raises(ConfigError, match="deltas"):
        FrameDescriptors(deltas=3).get_feature_names_out()


# --------------------------------------------------------------------------- specs and folds
def _spec(encode, **extra) -> dict:
    return {
        "name": "frame-encoding",
        "fusion": "early",
        "features": {"fv": {"type": "frame_llds", "max_frames": 300, "encode": encode, **extra}},
        "classifier": {"name": "logreg"},
        "cv": {"scheme": "group", "n_splits": 2},
    }


def test_spec_parses_encode_and_builds_the_step():
    from emoclassic.fusion import build_pipeline
    from emoclassic.spec import load_spec

    spec = load_spec(_spec({"type": "boaw", "n_words": 8, "assignment": "soft", "n_assign": 2}))
    pipe = build_pipeline(spec)
    block = pipe.named_steps["features"].transformers[0][1]
    assert [n for n, _ in block.steps] == ["extract", "encode", "scale"]
    assert isinstance(block.named_steps["encode"], BagOfAudioWords)
    assert block.named_steps["encode"].n_words == 8
    norm = build_pipeline(load_spec({**_spec("fisher"), "speaker_normalization": True}))
    block = norm.named_steps["features"].transformers[0][1]
    inner = block.named_steps["extract"].transformer  # SpeakerNormalizer(Pipeline[...])
    assert [n for n, _ in inner.steps] == ["extract", "encode"]
    assert isinstance(inner.named_steps["encode"], FisherVectors)


@pytest.mark.parametrize(
    "block, message",
    [
        ({"type": "frame_llds", "encode": "vlad"}, "unknown encoding 'vlad'"),
        ({"type": "frame_llds", "encode": {"type": "boaw", "words": 8}}, "no option 'words'"),
        ({"type": "frame_llds", "encode": {"type": "boaw", "n_words": 1}}, "n_words"),
        ({"type": "frame_llds", "encode": {"type": "fisher", "power": 0}}, "power"),
        ({"type": "pooled", "encode": "fisher"}, "frame sequences"),
        ({"type": "frame_llds", "pca": 10}, "or give it encode"),
    ],
)
def test_bad_encode_specs_are_one_line_config_errors(block, message):
    from emoclassic.fusion import build_pipeline
    from emoclassic.spec import load_spec

    spec = {**_spec("fisher"), "features": {"fv": block}}
    with pytest.raises(ConfigError, match=message) as err:
        build_pipeline(load_spec(spec))
    assert "\n" not in str(err.value)


def test_the_encoder_is_fitted_on_training_rows_only(demo_corpus, monkeypatch):
    """Every encoder fit inside a CV (outer folds, inner folds) misses whole speakers: the
    held-out speakers' frames never reach the codebook."""
    from emoclassic.evaluation import run_cv
    from emoclassic.features import extract

    _, manifest = demo_corpus
    ext = FrameDescriptors(max_frames=300)
    res = extract(ext, manifest)
    speaker_of = {r.tobytes(): s for r, s in zip(
        res.features, manifest.set_index("id").loc[res.ids, "speaker"], strict=True)}
    seen: list[set] = []
    fit = FisherVectors.fit

    def spy(self, X, y=None):
        seen.append({speaker_of[np.asarray(r, dtype=np.float32).tobytes()] for r in X})
        return fit(self, X, y)

    monkeypatch.setattr(FisherVectors, "fit", spy)
    spec = {**_spec({"type": "fisher", "n_components": 2, "max_iter": 10}),
            "grid": {"classifier.C": [0.1, 1.0]}}  # fmt: skip
    report = run_cv(spec, manifest)
    n_speakers = manifest["speaker"].nunique()
    assert seen and all(len(s) < n_speakers for s in seen)
    assert len(seen) > 2  # outer and inner fits
    assert report.metrics["ua"] > 0


def test_fit_then_predict_carries_the_codebook(demo_corpus, tmp_path):
    from typer.testing import CliRunner

    from emoclassic.artifacts import load_model
    from emoclassic.cli import app

    folder, manifest = demo_corpus
    spec = tmp_path / "boaw.toml"
    spec.write_text(
        'name = "boaw"\n[features.fv]\ntype = "frame_llds"\nmax_frames = 300\n'
        'encode = { type = "boaw", n_words = 16, weighting = "log" }\n'
        '[classifier]\nname = "logreg"\n[cv]\nscheme = "group"\nn_splits = 2\n'
    )
    model = tmp_path / "boaw.joblib"
    runner = CliRunner()
    res = runner.invoke(app, ["fit", "--manifest", str(folder / "manifest.csv"), "--pipeline",
                              str(spec), "--out", str(model), "-q"])  # fmt: skip
    assert res.exit_code == 0, res.output
    est, _ = load_model(model)
    fitted = [s for s in _walk(est) if isinstance(s, BagOfAudioWords) and hasattr(s, "codebook_")]
    assert len(fitted) == 1 and fitted[0].codebook_.shape == (16, 38)
    wavs = [str(p) for p in manifest["path"].iloc[:3]]
    res = runner.invoke(app, ["predict", "--model", str(model), *wavs, "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    direct = est.predict(manifest.iloc[:3])
    assert [p["label"] for p in data["predictions"]] == list(direct)


def _walk(est):
    from emoclassic._walk import iter_estimators

    return list(iter_estimators(est))
