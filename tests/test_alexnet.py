"""AlexNet on spectrograms: torchvision weights, frozen embeddings, the trainable classifier.

Everything runs on generated tones at tiny input sizes with one torch thread (on a shared,
loaded 2-core box two OpenMP threads mostly wait for each other).
"""

from __future__ import annotations

import logging
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from emoclassic._torch import torch_threads
from emoclassic.audio._alexnet import (
    AlexNetEmbedder,
    AlexNetSpectrogramClassifier,
    load_alexnet_weights,
    weights_sha256,
)
from emoclassic.audio._torchutil import AlexNet
from emoclassic.exceptions import BatchError, ConfigError, DataError, ModelError
from emoclassic.features import FeatureStore

SR = 16000

#: torchvision.models.alexnet().state_dict(), written out by hand: names and shapes, in order.
TORCHVISION_ALEXNET = [
    ("features.0.weight", (64, 3, 11, 11)),
    ("features.0.bias", (64,)),
    ("features.3.weight", (192, 64, 5, 5)),
    ("features.3.bias", (192,)),
    ("features.6.weight", (384, 192, 3, 3)),
    ("features.6.bias", (384,)),
    ("features.8.weight", (256, 384, 3, 3)),
    ("features.8.bias", (256,)),
    ("features.10.weight", (256, 256, 3, 3)),
    ("features.10.bias", (256,)),
    ("classifier.1.weight", (4096, 9216)),
    ("classifier.1.bias", (4096,)),
    ("classifier.4.weight", (4096, 4096)),
    ("classifier.4.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)),
    ("classifier.6.bias", (1000,)),
]


def tones(freqs, seconds=0.5, seed=0):
    """One row per frequency: a sine with random phase plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    rows = [
        0.5 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        + 0.01 * rng.standard_normal(t.size)
        for f in freqs
    ]
    return np.asarray(rows, dtype=np.float32)


def low_high(n_per_class, seed=0):
    rng = np.random.default_rng(seed)
    freqs = np.r_[rng.uniform(200, 400, n_per_class), rng.uniform(2500, 4000, n_per_class)]
    y = np.array(["low"] * n_per_class + ["high"] * n_per_class)
    order = rng.permutation(len(y))
    return tones(freqs[order], seed=seed), y[order]


def small_clf(**kw):
    params = dict(
        input_size=32,
        epochs=8,
        hidden_size=32,
        n_mels=32,
        batch_size=16,
        n_threads=1,
        lr=1e-3,
        seed=0,
    )
    params.update(kw)
    return AlexNetSpectrogramClassifier(**params)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def tv_weights(tmp_path_factory):
    """A full-size state dict with torchvision's literal names and shapes, saved with
    ``torch.save`` as ``alexnet-owt-7be5be79.pth`` is (values: small seeded noise)."""
    gen = torch.Generator().manual_seed(123)
    state = {k: torch.randn(shape, generator=gen) * 0.01 for k, shape in TORCHVISION_ALEXNET}
    path = tmp_path_factory.mktemp("weights") / "alexnet-owt.pth"
    torch.save(state, path)
    return path, state


# -- the network ---------------------------------------------------------------------------
def test_module_has_torchvision_layout():
    with torch.device("meta"):
        net = AlexNet()
    got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert got == TORCHVISION_ALEXNET
    assert isinstance(net.avgpool, torch.nn.AdaptiveAvgPool2d)
    assert net.avgpool.output_size == (6, 6)
    assert isinstance(net.classifier[0], torch.nn.Dropout)


def test_torchvision_state_dict_loads_strictly(tv_weights):
    path, state = tv_weights
    loaded = load_alexnet_weights(path)
    assert list(loaded) == [k for k, _ in TORCHVISION_ALEXNET]
    net = AlexNet()
    net.load_state_dict(loaded, strict=True)
    assert torch.equal(net.classifier[6].weight, state["classifier.6.weight"])
    # a state dict saved from the module itself also round-trips
    assert set(net.state_dict()) == set(loaded)


def test_wrong_weights_are_refused_clearly(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_alexnet_weights(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="cannot be read"):
        load_alexnet_weights(junk)
    lst = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], lst)
    with pytest.raises(ModelError, match="not a state dict"):
        load_alexnet_weights(lst)
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5), "fc.weight": torch.zeros(2)}, bad)
    with pytest.raises(ModelError) as info:
        load_alexnet_weights(bad)
    msg = str(info.value)
    assert "features.0.weight has shape (64, 3, 5, 5), expected (64, 3, 11, 11)" in msg
    assert "missing features.0.bias" in msg and "more" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="does not exist"):
        AlexNetEmbedder(weights=tmp_path / "nope.pth").fit(tones([300.0]))


@pytest.mark.parametrize("impl", ["s2d", "direct"])
def test_folded_first_conv_is_exact(impl):
    torch.manual_seed(0)
    net = AlexNet(hidden_size=64)
    net.init_weights()
    net.eval()
    net.conv1_impl = impl
    for h, w in [(224, 224), (225, 227), (70, 93), (17, 30), (16, 16)]:
        s = torch.rand(2, 1, h, w)
        with torch.inference_mode():
            ref = net.features[0](net.normalise_spectrogram(s))  # replicate, normalise, conv
            got = net.spectrogram_conv1(s)
        assert got.shape == ref.shape
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
    s = torch.rand(3, 1, 70, 93)
    with torch.inference_mode():
        full = net.forward_spectrogram(s, "fc7")
        torch.testing.assert_close(
            full, net.embed(net.normalise_spectrogram(s), "fc7"), rtol=1e-4, atol=1e-4
        )
        for size in (16, 32, 96):  # small inputs work thanks to the adaptive pool
            assert net.forward_spectrogram(torch.rand(2, size, size), "conv5").shape == (2, 256)


def test_torch_threads_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# -- frozen embeddings ---------------------------------------------------------------------
def test_random_init_is_reported(caplog):
    emb = AlexNetEmbedder(input_size=32, seed=7, n_threads=1)
    assert emb.weights_info() == {
        "pretrained": False,
        "source": "random",
        "sha256": None,
        "seed": 7,
    }
    assert emb._config()["weights_id"] == "random-seed-7"
    with caplog.at_level(logging.WARNING, logger="emoclassic.audio._alexnet"):
        emb.transform(tones([300.0]))
        emb.transform(tones([400.0]))
    warnings = [r for r in caplog.records if "random initialisation (seed 7)" in r.message]
    assert len(warnings) == 1  # once per process, not per call


def test_pretrained_embedder_uses_the_file(tv_weights):
    path, state = tv_weights
    emb = AlexNetEmbedder(input_size=64, weights=path, layer="fc6", n_threads=1, batch_size=4)
    info = emb.weights_info()
    assert info["pretrained"] and info["source"] == str(path) and info["seed"] is None
    assert info["sha256"] == weights_sha256(path) and len(info["sha256"]) == 64
    assert emb._config()["weights_id"] == f"sha256:{info['sha256']}"
    assert "weights" not in emb._config()  # the path is not part of the cache key, the hash is
    X = tones([300.0, 3000.0])
    got = emb.transform(X)
    net = AlexNet()
    net.load_state_dict(state)
    net.eval()
    from emoclassic.audio._spectrogram import spectrogram_image

    imgs = torch.from_numpy(np.stack([spectrogram_image(x, SR, size=(64, 64)) for x in X]))
    with torch.inference_mode():
        ref = net.forward_spectrogram(imgs, "fc6").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    assert not np.allclose(got, AlexNetEmbedder(input_size=64, layer="fc6").transform(X))


def test_embeddings_deterministic_and_batch_independent():
    X = tones([150.0 * (i + 1) for i in range(9)])
    a = AlexNetEmbedder(input_size=48, batch_size=4, n_threads=1).transform(X)
    assert a.shape == (9, 4096) and a.dtype == np.float32 and np.isfinite(a).all()
    b = AlexNetEmbedder(input_size=48, batch_size=4, n_threads=1).transform(X)
    np.testing.assert_array_equal(a, b)
    # same batch size: exactly the same rows whatever the subset or order
    sub = AlexNetEmbedder(input_size=48, batch_size=4, n_threads=1).transform(X[[7, 2, 5]])
    np.testing.assert_array_equal(sub, a[[7, 2, 5]])
    # other batch size: equal up to float32 rounding
    c = AlexNetEmbedder(input_size=48, batch_size=7, n_threads=1).transform(X)
    np.testing.assert_allclose(c, a, rtol=1e-4, atol=1e-6)
    d = AlexNetEmbedder(input_size=48, batch_size=4, n_threads=1, seed=1).transform(X)
    assert not np.allclose(d, a)
    conv5 = AlexNetEmbedder(input_size=48, layer="conv5", n_threads=1)
    assert conv5.transform(X).shape == (9, 256)
    names = conv5.get_feature_names_out()
    assert names[0] == "alexnet_conv5_0000" and len(names) == 256


def test_long_clips_are_windowed_and_averaged():
    X = tones([440.0], seconds=3.0)
    kw = dict(input_size=32, layer="conv5", n_threads=1, batch_size=8)
    windowed = AlexNetEmbedder(window=1.0, **kw).fit_transform(X)
    pieces = AlexNetEmbedder(**kw).fit_transform(X.reshape(3, SR))
    np.testing.assert_allclose(windowed[0], pieces.mean(0), rtol=1e-5, atol=1e-7)
    whole = AlexNetEmbedder(**kw).fit_transform(X)
    assert not np.allclose(whole, windowed)


def test_embedder_files_cache_and_bad_files(tmp_path, write_tone):
    paths = [
        write_tone(tmp_path / f"t{i}.wav", freq=200.0 * (i + 1), seconds=0.4) for i in range(3)
    ]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF????WAVEnot audio")
    man = pd.DataFrame(
        {
            "id": ["a", "b", "c", "x"],
            "path": [str(p) for p in paths] + [str(bad)],
            "start": [None, 0.1, np.nan, None],
            "end": [None, 0.3, pd.NA, None],
        }
    )
    store = FeatureStore(tmp_path / "cache")
    emb = AlexNetEmbedder(input_size=32, layer="conv5", n_threads=1, cache=store, on_error="nan")
    first = emb.transform(man)
    assert np.isfinite(first[:3]).all() and np.isnan(first[3]).all()
    assert store.writes == 3
    again = emb.transform(man.iloc[:3])
    np.testing.assert_array_equal(again, first[:3])
    assert store.writes == 3 and store.hits >= 3
    with pytest.raises(BatchError) as info:  # same extractor, raising: names the bad file
        AlexNetEmbedder(input_size=32, layer="conv5", n_threads=1).transform(
            [str(bad), str(tmp_path / "missing.wav")]
        )
    assert len(info.value.failures) == 2


def test_embedder_pickles_without_the_network():
    emb = AlexNetEmbedder(input_size=32, n_threads=1)
    emb.transform(tones([300.0]))
    blob = pickle.dumps(emb)
    assert len(blob) < 10_000
    assert pickle.loads(blob).get_params() == emb.get_params()


def test_bad_parameters_raise_config_errors():
    X = tones([300.0])
    for kw in (
        {"layer": "fc8"},
        {"input_size": 8},
        {"input_size": "big"},
        {"n_mels": 0},
        {"fmax": 9000.0},
        {"window": 0},
    ):
        with pytest.raises(ConfigError):
            AlexNetEmbedder(**kw).fit(X)
    for kw in (
        {"epochs": 0},
        {"dropout": 1.0},
        {"validation_fraction": 1.0},
        {"class_weight": "bogus"},
        {"lr": -1.0},
    ):
        with pytest.raises(ConfigError):
            small_clf(**kw).fit(np.vstack([X, X]), ["a", "b"])


# -- the classifier ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tone_task():
    X, y = low_high(20, seed=0)
    Xt, yt = low_high(8, seed=1)
    return X, y, Xt, yt


@pytest.fixture(scope="module")
def fitted(tone_task):
    X, y, _, _ = tone_task
    return small_clf().fit(X, y)


def test_classifier_learns_low_vs_high_tones(fitted, tone_task):
    _, _, Xt, yt = tone_task
    assert fitted.score(Xt, yt) >= 0.8
    assert list(fitted.classes_) == ["high", "low"]
    assert fitted.n_features_in_ == Xt.shape[1]
    proba = fitted.predict_proba(Xt)
    assert proba.shape == (len(yt), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert 1 <= fitted.n_epochs_ <= 8 and 1 <= fitted.best_epoch_ <= fitted.n_epochs_
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(fitted.history_[0])
    assert fitted.weights_info_["pretrained"] is False


def test_classifier_transform_is_the_transfer_path(fitted, tone_task):
    from sklearn.linear_model import LogisticRegression

    X, y, Xt, yt = tone_task
    Z = fitted.transform(X)
    assert Z.shape == (len(X), 32) and Z.dtype == np.float32
    assert list(fitted.get_feature_names_out()[:2]) == ["alexnet_fc7_0000", "alexnet_fc7_0001"]
    np.testing.assert_array_equal(fitted.embed(Xt), fitted.transform(Xt))
    lr = LogisticRegression(max_iter=1000).fit(Z, y)
    assert lr.score(fitted.transform(Xt), yt) >= 0.8


def test_classifier_is_deterministic_under_a_seed(fitted, tone_task):
    X, y, Xt, _ = tone_task
    before = torch.get_num_threads()
    again = small_clf().fit(X, y)
    assert torch.get_num_threads() == before
    np.testing.assert_array_equal(again.predict_proba(Xt), fitted.predict_proba(Xt))
    other = small_clf(seed=1, epochs=2).fit(X, y)
    assert not np.allclose(other.predict_proba(Xt), fitted.predict_proba(Xt))


def test_classifier_joblib_round_trip(fitted, tone_task, tmp_path):
    _, _, Xt, _ = tone_task
    path = tmp_path / "clf.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    assert "_net" not in loaded.__dict__  # the torch module is rebuilt, never pickled
    assert all(isinstance(v, np.ndarray) for v in loaded.state_dict_.values())
    np.testing.assert_array_equal(loaded.predict_proba(Xt), fitted.predict_proba(Xt))
    mm = joblib.load(path, mmap_mode="r")  # read-only arrays work too
    np.testing.assert_array_equal(mm.predict_proba(Xt), fitted.predict_proba(Xt))


def test_classifier_on_manifest_caches_images(tmp_path, write_tone):
    freqs = [250.0, 300.0, 350.0, 2500.0, 3000.0, 3500.0] * 2
    paths = [write_tone(tmp_path / f"c{i}.wav", freq=f, seconds=0.4) for i, f in enumerate(freqs)]
    man = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(len(paths))],
            "path": pd.array([str(p) for p in paths], dtype="string"),
            "label": ["low" if f < 1000 else "high" for f in freqs],
        }
    )
    store = FeatureStore(tmp_path / "cache")
    clf = small_clf(epochs=2, cache=store, class_weight="balanced")
    clf.fit(man[["id", "path"]], man["label"])
    assert store.writes == len(man) and not hasattr(clf, "n_features_in_")
    clf.fit(man[["id", "path"]], man["label"])  # a refit (another CV fold) decodes nothing
    assert store.writes == len(man) and store.hits >= len(man)
    assert clf.predict(man[["path"]]).shape == (len(man),)
    with pytest.raises(DataError, match="1 class"):
        small_clf().fit(man[["path"]], ["low"] * len(man))


def test_classifier_from_pretrained_with_frozen_features(tv_weights, tone_task):
    path, state = tv_weights
    X, y, _, _ = tone_task
    clf = small_clf(weights=path, freeze_features=True, epochs=1, augment=True)
    clf.fit(X, y)
    np.testing.assert_array_equal(
        clf.state_dict_["features.0.weight"], state["features.0.weight"].numpy()
    )
    assert clf.weights_info_["pretrained"] and clf.weights_info_["sha256"]
    assert clf.predict(X).shape == y.shape


# -- scikit-learn's estimator checks -------------------------------------------------------
@parametrize_with_checks(
    [
        AlexNetEmbedder(input_size=16, n_mels=8, batch_size=64, n_threads=1),
        AlexNetSpectrogramClassifier(
            input_size=16, epochs=1, hidden_size=8, n_mels=8, batch_size=64, n_threads=1
        ),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
