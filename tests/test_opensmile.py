"""openSMILE block: names, values against opensmile itself, cache, segments, bad files, specs.

Every test but the missing-extra ones skips when the optional ``opensmile`` package is absent.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.utils.estimator_checks import parametrize_with_checks

from emoclassic.audio import OpenSmileFeatures, load_audio
from emoclassic.audio import _opensmile as osm
from emoclassic.exceptions import AudioError, BatchError, ConfigError
from emoclassic.features import FeatureStore, extract

SR = 16000
HAS_OPENSMILE = osm._opensmile_available()
HINT = 'pip install "emoclassic[opensmile]"'


@pytest.fixture
def opensmile():
    return pytest.importorskip("opensmile")


def _voice(f0=180.0, seconds=1.0, sr=SR, amp=0.3, seed=0):
    """A voiced, speech-like signal: harmonics with a slow pitch glide and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.02 * rng.standard_normal(t.size)
    return (amp * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("smile_clips")
    paths = []
    for i, f0 in enumerate((120.0, 200.0, 280.0)):
        p = d / f"c{i}.wav"
        sf.write(p, _voice(f0, seconds=0.8 + 0.3 * i, seed=i), SR)
        paths.append(str(p))
    return paths


# --------------------------------------------------------------------------- missing extra
def _block_import(monkeypatch):
    """Simulate an environment without opensmile: ``import opensmile`` raises ImportError."""
    monkeypatch.setitem(sys.modules, "opensmile", None)
    osm._smile.cache_clear()


def _one_line_naming_the_extra(exc: BaseException) -> None:
    msg = str(exc)
    assert HINT in msg and "\n" not in msg


def test_missing_extra_is_one_config_error_at_construction_fit_and_transform(monkeypatch):
    _block_import(monkeypatch)
    with pytest.raises(ConfigError) as info:
        OpenSmileFeatures()
    _one_line_naming_the_extra(info.value)
    # an instance made where the package was there (a saved model, say) fails when used
    monkeypatch.setattr(osm, "_opensmile_available", lambda: True)
    est = OpenSmileFeatures("ComParE_2016")
    for call in (est.fit, est.transform, est.fit_transform):
        with pytest.raises(ConfigError) as info:
            call(np.zeros((2, 1600), dtype=np.float32))
        _one_line_naming_the_extra(info.value)
    with pytest.raises(ConfigError, match="emoclassic\\[opensmile\\]"):
        est.get_feature_names_out()


def test_missing_extra_in_a_spec_fails_when_the_pipeline_is_built(monkeypatch, tmp_path):
    from emoclassic.fusion import build_pipeline
    from emoclassic.spec import load_spec

    _block_import(monkeypatch)
    path = tmp_path / "smile.toml"
    path.write_text(
        'name = "smile"\nfusion = "early"\n[features.audio]\ntype = "opensmile"\n'
        'feature_set = "ComParE_2016"\n[classifier]\nname = "logreg"\n'
    )
    spec = load_spec(path)  # options are checked against the signature: no import needed
    assert spec.features["audio"]["options"]["feature_set"] == "ComParE_2016"
    with pytest.raises(ConfigError) as info:
        build_pipeline(spec)
    _one_line_naming_the_extra(info.value)


# --------------------------------------------------------------------------- values, names
def test_names_shape_and_values_are_opensmiles_own(opensmile, clips):
    est = OpenSmileFeatures()
    X = est.fit_transform(clips)
    names = list(est.get_feature_names_out())
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    assert X.shape == (3, 88) and X.dtype == np.float32 and np.isfinite(X).all()
    assert names == list(smile.feature_names) and len(set(names)) == 88
    assert "F0semitoneFrom27.5Hz_sma3nz_amean" in names
    for row, path in zip(X, clips, strict=True):  # same as opensmile on the same samples
        ref = smile.process_signal(load_audio(path, sr=SR), SR).to_numpy()[0]
        np.testing.assert_allclose(row, ref, rtol=1e-5, atol=1e-5)
    f0 = X[:, names.index("F0semitoneFrom27.5Hz_sma3nz_amean")]
    assert f0[0] + 10 < f0[2]  # 120 Hz vs 280 Hz: about 15 semitones apart


def test_compare_2016_and_any_rate_and_channels(opensmile, tmp_path):
    est = OpenSmileFeatures("ComParE_2016")
    assert len(est.get_feature_names_out()) == 6373
    # a 44.1 kHz stereo file reaches openSMILE as load_audio's 16 kHz mono samples
    y = _voice(150.0, seconds=0.7, sr=44100)
    path = tmp_path / "stereo44k.wav"
    sf.write(path, np.stack([y, 0.5 * y], axis=1), 44100)
    got = est.transform([str(path)])
    assert got.shape == (1, 6373) and np.isfinite(got).all()
    np.testing.assert_array_equal(got, est.transform(load_audio(path, sr=SR)[None, :]))


def test_short_clips_are_padded_not_nan(opensmile):
    est = OpenSmileFeatures()
    rows = [np.full(1, 0.1, np.float32), _voice(200.0, seconds=0.01), _voice(200.0, 0.05)]
    X = est.transform(rows)
    assert X.shape == (3, 88) and np.isfinite(X).all()
    # a short clip is the clip followed by silence up to MIN_SECONDS
    short = _voice(200.0, seconds=0.03)
    padded = np.pad(short, (0, int(osm.MIN_SECONDS * SR) - short.size))
    np.testing.assert_array_equal(est.transform([short, padded]), est.transform([padded] * 2))


def test_full_scale_samples_do_not_wrap_around(opensmile):
    y = _voice(200.0, seconds=0.5, amp=1.0)
    est = OpenSmileFeatures()
    loud, clipped = est.transform(np.stack([y * 1.5, np.clip(y * 1.5, -1.0, 1.0)]))
    np.testing.assert_allclose(loud, clipped, rtol=1e-5, atol=1e-5)


def test_invalid_options_are_one_line_config_errors(opensmile):
    with pytest.raises(ConfigError, match="feature_set='eGeMAPS2'.*ComParE_2016.*eGeMAPSv02"):
        OpenSmileFeatures("eGeMAPS2").fit(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match="feature_level='lld'.*'functionals'.*frames block"):
        OpenSmileFeatures(feature_level="lld").fit(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match="sr=0"):
        OpenSmileFeatures(sr=0).transform(np.zeros((1, 100)))
    OpenSmileFeatures(feature_level="Functionals").fit(np.zeros((1, 100)))  # opensmile's case
    assert "eGeMAPSv02" in osm.opensmile_feature_sets()


# --------------------------------------------------------------------------- cache, segments
def test_second_call_hits_the_cache_and_runs_no_opensmile(opensmile, clips, tmp_path,
                                                          monkeypatch):  # fmt: skip
    store = FeatureStore(tmp_path / "cache")
    first = OpenSmileFeatures(cache=store).fit_transform(clips)
    assert store.writes == 3
    again = FeatureStore(tmp_path / "cache")
    real = osm._smile

    def forbidden(*a, **k):
        raise AssertionError("openSMILE ran on a cached item")

    monkeypatch.setattr(osm, "_smile", forbidden)
    res = extract(OpenSmileFeatures(cache=again), clips)
    np.testing.assert_array_equal(res.features, first)
    assert (res.n_cached, res.n_computed, again.hits, again.writes) == (3, 0, 3, 0)
    monkeypatch.setattr(osm, "_smile", real)
    # the identity holds the feature set and the opensmile version: either change recomputes
    other = OpenSmileFeatures("emobase", cache=again).transform(clips[:1])
    assert other.shape == (1, 988) and again.writes == 1
    monkeypatch.setattr(osm, "opensmile_version", lambda: "99.0")
    np.testing.assert_array_equal(OpenSmileFeatures(cache=again).transform(clips[:1]), first[:1])
    assert again.writes == 2


def test_segments_are_cut_by_load_audio(opensmile, clips):
    est = OpenSmileFeatures()
    frame = pd.DataFrame({"id": ["whole", "seg", "tail"], "path": clips[2:] * 3,
                          "start": [np.nan, 0.2, 0.9], "end": [np.nan, 0.7, pd.NA]})
    X = est.transform(frame)
    y = load_audio(clips[2], sr=SR)
    np.testing.assert_array_equal(X[1], est.transform(y[int(0.2 * SR):int(0.7 * SR)][None])[0])
    np.testing.assert_array_equal(X[2], est.transform(y[int(0.9 * SR):][None])[0])
    assert not np.allclose(X[0], X[1])
    idx = est.process_index(frame)
    assert list(idx.index) == ["whole", "seg", "tail"] and idx.shape == (3, 88)
    np.testing.assert_array_equal(est.process_file(clips[2], start=0.2, end=0.7), X[1])


def test_a_bad_file_is_listed_and_the_others_are_computed(opensmile, clips, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio at all")
    frame = pd.DataFrame({
        "id": ["a", "bad", "b", "gone", "late"],
        "path": [clips[0], str(bad), clips[1], str(tmp_path / "gone.wav"), clips[0]],
        "start": [None, None, 0.1, None, 50.0],
        "end": [None, None, None, None, None],
    })
    est = OpenSmileFeatures(cache=tmp_path / "c")
    res = extract(est, frame)
    assert res.ids == ["a", "b"] and res.features.shape == (2, 88)
    assert [f.id for f in res.failures] == ["bad", "gone", "late"]
    assert "bad.wav" in res.failures[0].message and "not found" in res.failures[1].message
    assert "file lasts" in res.failures[2].message
    with pytest.raises(BatchError) as info:
        est.transform(frame)
    assert len(info.value.failures) == 3
    with pytest.raises(AudioError, match="bad.wav"):
        est.transform([str(bad)])
    rows = OpenSmileFeatures(on_error="nan").transform(frame)
    assert np.isnan(rows[1]).all() and np.isfinite(rows[[0, 2]]).all()


def test_an_opensmile_failure_is_an_audio_error_naming_the_item(opensmile, monkeypatch):
    class Broken:
        feature_names = ["x"]

        def __call__(self, y, sr):
            raise RuntimeError("boom\nin the C library")

    monkeypatch.setattr(osm, "_smile", lambda feature_set: Broken())
    with pytest.raises(AudioError, match=r"^row0: openSMILE failed \(RuntimeError: boom in the"):
        OpenSmileFeatures().transform(np.zeros((1, 2000), np.float32))


def test_parallel_equals_serial(opensmile, clips):
    serial = OpenSmileFeatures().transform(clips)
    parallel = OpenSmileFeatures(n_jobs=2).transform(clips * 8)  # 24 items: 2 chunks
    np.testing.assert_array_equal(np.tile(serial, (8, 1)), parallel)


# --------------------------------------------------------------------------- in a spec
def test_block_in_a_spec_builds_and_cross_validates_on_the_demo_corpus(opensmile, demo_corpus,
                                                                       tmp_path):  # fmt: skip
    from emoclassic.evaluation import run_cv
    from emoclassic.fusion import build_pipeline
    from emoclassic.spec import load_spec

    _, manifest = demo_corpus
    path = tmp_path / "smile.toml"
    path.write_text(
        'name = "smile-logreg"\nfusion = "early"\n'
        '[features.audio]\ntype = "opensmile"\nfeature_set = "eGeMAPSv02"\n'
        '[classifier]\nname = "logreg"\n[grid]\n"classifier.C" = [0.1, 1.0]\n'
        '[cv]\nscheme = "group"\nn_splits = 2\ngroups = "speaker"\n'
    )
    spec = load_spec(path)
    cache = tmp_path / "cache"
    pipe = build_pipeline(spec, cache=cache)
    train = manifest[manifest["split"] == "train"]
    test = manifest[manifest["split"] == "test"]
    pipe.fit(train, train["label"])
    assert set(pipe.predict(test)) <= set(manifest["label"])
    report = run_cv(spec, manifest, cache=cache)
    assert report["data"]["n_failed"] == 0 and report["metrics"]["n"] == len(manifest)
    assert report["metrics"]["ua"] > 0.4  # 4 classes, chance 0.25: the features carry signal
    nope = {**spec.to_dict(), "features": {"audio": {"type": "opensmile", "feature_set": "nope"}}}
    with pytest.raises(ConfigError, match="feature_set='nope'.*eGeMAPSv02"):
        build_pipeline(load_spec(nope)).fit(train, train["label"])
    with pytest.raises(ConfigError, match=r"unknown key 'preset' in \[features\.audio\]"):
        load_spec({**spec.to_dict(), "features": {"audio": {"type": "opensmile", "preset": "x"}}})


# --------------------------------------------------------------------------- scikit-learn
if HAS_OPENSMILE:

    @parametrize_with_checks([OpenSmileFeatures()])
    def test_sklearn_compatible(estimator, check):
        check(estimator)

else:

    def test_sklearn_compatible():
        pytest.importorskip("opensmile")
