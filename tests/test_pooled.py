"""Pooled features: names, presets, defined values on odd input, pitch, cache, batches, windows."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.utils.estimator_checks import parametrize_with_checks

from emoclassic.audio import PRESETS, PooledFeatures, functionals, pooled_features, yin
from emoclassic.exceptions import AudioError, BatchError, ConfigError
from emoclassic.features import FeatureStore, extract

SR = 16000


def _harmonic(f0=200.0, seconds=1.0, sr=SR, amp=0.3):
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (amp * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    paths = []
    for i, f0 in enumerate((120.0, 180.0, 260.0)):
        p = d / f"c{i}.wav"
        sf.write(p, _harmonic(f0, seconds=0.6 + 0.2 * i), SR)
        paths.append(str(p))
    return d, paths


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_names_match_columns_and_values_are_finite_on_odd_input(preset):
    est = PooledFeatures(preset)
    names = est.get_feature_names_out()  # correct before fit
    assert names.dtype == object and len(set(names)) == len(names)
    odd = [np.zeros(SR, np.float32),                # silence
           _harmonic(seconds=0.01),                  # 10 ms: shorter than one frame
           np.full(5, 0.2, np.float32),              # a few samples of DC
           _harmonic(seconds=0.5)]
    X = est.fit_transform(odd)
    assert X.shape == (4, len(names)) and X.dtype == np.float32
    assert np.isfinite(X).all()


def test_preset_sizes_are_as_documented():
    dims = {p: len(PooledFeatures(p).get_feature_names_out()) for p in PRESETS}
    assert dims["logmel-meanstd"] == 128
    assert 100 <= dims["compact"] <= 200
    assert 300 <= dims["default"] <= 1000
    assert 2000 <= dims["large"] <= 8000
    assert len(PooledFeatures("compact", n_mfcc=20).get_feature_names_out()) > dims["compact"]
    assert len(PooledFeatures("logmel-meanstd", n_mels=40).get_feature_names_out()) == 80


def test_logmel_meanstd_is_the_band_mean_and_std():
    from emoclassic.audio import log_mel_spectrogram
    from emoclassic.audio._spectrogram import band_limit

    y = _harmonic(seconds=0.7)
    v = pooled_features(y, SR, preset="logmel-meanstd", trim=False, normalize=None)
    top = band_limit(SR)  # the default band: 6.8 kHz at 16 kHz
    S = log_mel_spectrogram(y, SR, n_mels=64, fmax=top, top_db=None)
    # the band-limiting filter (ripple about 0.01 dB) and its roll-off: bands under 5 kHz
    ok = slice(0, 56)
    np.testing.assert_allclose(v[0::2][ok], S.mean(axis=1)[ok], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(v[1::2][ok], S.std(axis=1)[ok], rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
def test_band_filter_is_scipys_kaiser_design(sr):
    """The band-limiting FIR is written out in numpy (no scipy.signal import on a cold
    start); it must stay the filter scipy's ``kaiserord``/``firwin`` design, at float32."""
    from scipy.signal import firwin, kaiserord

    from emoclassic.audio._pooled_plan import LOWPASS_ATTENUATION, LOWPASS_WIDTH, _lowpass

    for top in (3800.0, 6800.0, 7600.0):
        nyq = sr / 2
        if top + LOWPASS_WIDTH * nyq / 2 >= nyq:
            assert _lowpass(sr, top) is None
            continue
        n, beta = kaiserord(LOWPASS_ATTENUATION, LOWPASS_WIDTH)
        ref = firwin(n | 1, top, window=("kaiser", beta), fs=sr).astype(np.float32)
        np.testing.assert_array_equal(_lowpass(sr, top), ref)


@pytest.mark.parametrize("T", [1, 5, 31, 32, 33, 287, 3000])
def test_rasta_filter_is_scipys_lfilter_started_at_rest(T):
    """The RASTA filter is written out in numpy (no scipy.signal import on a cold start); it
    must stay lfilter's with the steady state of the first frame, to float rounding."""
    from scipy.signal import lfilter, lfilter_zi

    from emoclassic.audio._descriptors import _RASTA_B, _RASTA_POLE, _rasta

    rng = np.random.default_rng(T)
    logmel = (rng.normal(size=(26, T)) * 10 - 40 + np.linspace(0, 20, T)).astype(np.float32)
    a = np.array([1.0, -_RASTA_POLE])
    zi = lfilter_zi(_RASTA_B, a)[None, :] * logmel[:, :1]
    ref, _ = lfilter(_RASTA_B, a, logmel.astype(np.float64), axis=1, zi=zi)
    np.testing.assert_allclose(_rasta(logmel), ref.astype(np.float32), rtol=1e-6, atol=1e-9)


def test_pitch_and_spectral_values_are_right():
    est = PooledFeatures("default")
    names = list(est.get_feature_names_out())
    tone = est.fit_transform([_harmonic(f0=200.0)])[0]
    st200 = 12 * np.log2(200 / 27.5)
    assert abs(tone[names.index("f0_voiced_p50")] - st200) < 0.2
    assert tone[names.index("f0_voiced_std")] < 0.2
    assert tone[names.index("voiced_ratio")] > 0.9
    noise = np.random.default_rng(0).normal(size=SR).astype(np.float32) * 0.1
    row = est.transform([noise])[0]
    assert row[names.index("voiced_ratio")] < 0.2
    assert row[names.index("flatness_mean")] > 10 * tone[names.index("flatness_mean")]
    sine = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)).astype(np.float32)
    row = est.transform([sine])[0]
    assert abs(row[names.index("centroid_mean")] - 1000) < 60
    assert abs(row[names.index("rolloff50_p50")] - 1000) < 40
    assert abs(row[names.index("zcr_mean")] - 2 * 1000 / SR) < 0.01


def test_pitch_track_follows_a_glide():
    t = np.arange(SR) / SR
    f = 150 + 100 * t  # 150 -> 250 Hz
    y = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / SR)
    f0, ap = yin(y.astype(np.float32), SR, hop_length=160)
    mid = slice(10, -10)
    expected = 150 + 100 * np.arange(len(f0)) * 160 / SR
    np.testing.assert_allclose(f0[mid], expected[mid], rtol=0.02)
    assert (ap[mid] < 0.1).all()


def test_functionals_agree_with_numpy_and_scipy():
    from scipy import stats

    rng = np.random.default_rng(3)
    M = rng.normal(size=(4, 57)).cumsum(axis=1)
    funcs = ("mean", "std", "skew", "kurtosis", "p10", "p50", "p99", "iqr25_75", "slope",
             "offset", "regerr", "min", "max", "uplevel50", "risetime", "meanabsdelta", "qmean")
    F = functionals(M, funcs, frame_rate=100.0)
    col = dict(zip(funcs, F.T, strict=True))
    np.testing.assert_allclose(col["mean"], M.mean(1))
    np.testing.assert_allclose(col["std"], M.std(1))
    np.testing.assert_allclose(col["skew"], stats.skew(M, axis=1))
    np.testing.assert_allclose(col["kurtosis"], stats.kurtosis(M, axis=1))
    for q in (10, 50, 99):
        np.testing.assert_allclose(col[f"p{q}"], np.percentile(M, q, axis=1))
    np.testing.assert_allclose(col["iqr25_75"], np.subtract(*np.percentile(M, [75, 25], axis=1)))
    t = np.arange(57) / 100.0
    for i in range(4):
        slope, offset = np.polyfit(t, M[i], 1)
        assert np.isclose(col["slope"][i], slope) and np.isclose(col["offset"][i], offset)
        resid = M[i] - (slope * t + offset)
        assert np.isclose(col["regerr"][i], np.sqrt(np.mean(resid**2)))
    np.testing.assert_allclose(col["qmean"], np.sqrt((M**2).mean(1)))
    np.testing.assert_allclose(col["meanabsdelta"], np.abs(np.diff(M)).mean(1) * 100)
    const = functionals(np.ones((2, 1)), funcs, frame_rate=100.0)
    assert np.isfinite(const).all()


def test_two_level_rolloff_equals_a_full_cumulative_sum():
    from emoclassic.audio._descriptors import _rolloff_bins

    rng = np.random.default_rng(5)
    fractions = np.array([0.25, 0.5, 0.85, 0.95], dtype=np.float32)
    for F, n in ((257, 120), (513, 9), (129, 1)):
        M = (rng.random((F, n)) ** 4).astype(np.float32)
        M[:, 0] = 0.0  # a silent frame
        cs = np.cumsum(M.astype(np.float64), axis=0)
        for got, frac in zip(_rolloff_bins(M, fractions), fractions, strict=True):
            np.testing.assert_array_equal(got, np.count_nonzero(cs < cs[-1] * frac, axis=0))


def test_file_input_cache_hit_is_identical_and_decodes_nothing(clips, tmp_path, monkeypatch):
    _, paths = clips
    store = FeatureStore(tmp_path / "cache")
    est = PooledFeatures("compact", cache=store)
    first = est.fit_transform(paths)
    assert store.writes == 3
    import soundfile

    opened = []
    real_sf, real_info = soundfile.SoundFile, soundfile.info

    def counting_sf(*a, **k):
        opened.append(a)
        return real_sf(*a, **k)

    def counting_info(*a, **k):
        opened.append(a)
        return real_info(*a, **k)

    monkeypatch.setattr(soundfile, "SoundFile", counting_sf)
    monkeypatch.setattr(soundfile, "info", counting_info)
    second = PooledFeatures("compact", cache=tmp_path / "cache").transform(paths)
    np.testing.assert_array_equal(first, second)
    assert opened == []  # fully cached: no file opened, nothing decoded
    from emoclassic.audio._descriptors import _Shared

    _Shared.clear()  # the first run's decoded samples are still held for other blocks
    other = PooledFeatures("compact", n_mels=40, cache=tmp_path / "cache").transform(paths[:1])
    assert len(opened) >= 1 and not np.array_equal(other[0], first[0])  # new config: computed


def test_a_bad_file_in_a_batch_keeps_the_others(clips, tmp_path):
    _, paths = clips
    bad = tmp_path / "bad.wav"
    bad.write_text("definitely not audio")
    frame = pd.DataFrame({
        "id": ["a", "bad", "b", "gone"],
        "path": [paths[0], str(bad), paths[1], str(tmp_path / "gone.wav")],
        "start": [None, None, 0.1, None],
        "end": [None, None, pd.NA, None],
    })
    est = PooledFeatures("compact", cache=tmp_path / "c")
    res = extract(est, frame)
    assert res.ids == ["a", "b"] and res.features.shape == (2, len(res.feature_names))
    assert [f.id for f in res.failures] == ["bad", "gone"]
    assert "bad.wav" in res.failures[0].message and "not found" in res.failures[1].message
    with pytest.raises(BatchError) as info:
        est.transform(frame)
    assert len(info.value.failures) == 2
    with pytest.raises(AudioError, match="bad.wav"):
        est.transform([str(bad)])
    rows = PooledFeatures("compact", on_error="nan").transform(frame)
    assert np.isnan(rows[1]).all() and np.isfinite(rows[0]).all()


def test_process_helpers(clips):
    _, paths = clips
    est = PooledFeatures("logmel-meanstd")
    one = est.process_file(paths[0])
    seg = est.process_file(paths[0], start=0.1, end=0.4)
    assert one.shape == (128,) and not np.allclose(one, seg)
    many = est.process_files(paths)
    assert list(many.index) == paths and list(many.columns) == list(est.get_feature_names_out())
    np.testing.assert_allclose(many.iloc[0].to_numpy(), one)
    manifest = pd.DataFrame({"id": ["x", "y"], "path": paths[:2], "text": ["hi", "ho"],
                             "label": ["a", "b"], "start": [np.nan, 0.1], "end": [np.nan, 0.5]})
    idx = est.process_index(manifest)
    assert list(idx.index) == ["x", "y"] and idx.index.name == "id"
    np.testing.assert_allclose(idx.loc["x"].to_numpy(), one)


def test_long_files_are_windowed_and_pooled(tmp_path):
    rng = np.random.default_rng(1)
    y = np.concatenate([_harmonic(150, 2.0), 0.05 * rng.normal(size=SR * 2),
                        _harmonic(300, 1.0)]).astype(np.float32)
    sf.write(tmp_path / "long.wav", y, SR, subtype="FLOAT")
    est = PooledFeatures("compact", max_duration=2.0, window=2.0)
    got = est.process_file(tmp_path / "long.wav")
    parts = [y[:2 * SR], y[2 * SR:4 * SR], y[4 * SR:]]
    vecs = [pooled_features(p, SR, preset="compact", trim=False) for p in parts]  # no trim
    expected = (2 * vecs[0] + 2 * vecs[1] + 1 * vecs[2]) / 5
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    whole = PooledFeatures("compact").process_file(tmp_path / "long.wav")
    assert not np.allclose(got, whole)  # the same file in one piece: exact utterance statistics


def test_parallel_equals_serial(clips):
    _, paths = clips
    serial = PooledFeatures("compact").transform(paths * 6)
    parallel = PooledFeatures("compact", n_jobs=2).transform(paths * 6)
    np.testing.assert_allclose(serial, parallel)


def test_invalid_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="preset"):
        PooledFeatures("huge").fit(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match="n_mfcc"):
        PooledFeatures("default", n_mfcc=100).fit(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match="f0_min"):
        PooledFeatures("default", f0_min=700.0).fit(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match="window"):
        PooledFeatures("compact", window=60.0, max_duration=30.0).fit(np.zeros((1, 100)))


@parametrize_with_checks([PooledFeatures("compact"), PooledFeatures("logmel-meanstd", n_mels=8)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_large_vuv_adds_voiced_and_unvoiced_functionals_to_large():
    """large-vuv = large's columns + functionals over voiced / unvoiced frames (eGeMAPS split)."""
    rng = np.random.default_rng(0)
    quiet = (0.003 * rng.standard_normal(SR // 2)).astype(np.float32)  # unvoiced: faint noise
    y = np.concatenate([quiet, _harmonic(150.0, seconds=0.5), quiet])
    big, vuv = PooledFeatures("large"), PooledFeatures("large-vuv")
    nb, nv = list(big.get_feature_names_out()), list(vuv.get_feature_names_out())
    xb, xv = big.fit_transform([y])[0], vuv.fit_transform([y])[0]
    col = {n: i for i, n in enumerate(nv)}
    # every column of large is there, with the same value
    np.testing.assert_array_equal(xv[[col[n] for n in nb]], xb)
    extra = [n for n in nv if n not in set(nb)]
    assert extra and all(n.startswith(("voiced_", "unvoiced_")) for n in extra)
    # the harmonic middle is voiced and loud, the noise around it unvoiced and quiet
    assert xv[col["voiced_rms_db_mean"]] > xv[col["unvoiced_rms_db_mean"]] + 30
    # voiced frames' level is the voicing statistic computed from the same mask
    np.testing.assert_allclose(xv[col["voiced_rms_db_mean"]], xv[col["rms_db_voiced_mean"]],
                               rtol=1e-5)
    # the voiced spectrum is centred near the harmonics (150-750 Hz), far below the noise's
    assert xv[col["voiced_centroid_mean"]] < xv[col["unvoiced_centroid_mean"]] / 2
    # silence has no voiced frame: its voiced functionals are 0, the unvoiced ones are not all 0
    xs = vuv.fit_transform([np.zeros(SR, np.float32)])[0]
    voiced_cols = [i for n, i in col.items() if n.startswith("voiced_")]
    assert np.all(xs[voiced_cols] == 0)


# --------------------------------------------------------------------------- shared analysis
def test_blocks_of_one_model_share_the_analysis_of_a_clip_bit_identically(
        clips, monkeypatch, tmp_path):
    """Two pooled blocks run one after the other on the same clip (a warm Recognizer) decode,
    band-limit, trim, frame, transform and track pitch once; the vectors equal those computed
    apart, a changed file is analysed again, and a batch (block after block) is unchanged."""
    import emoclassic.audio._descriptors as D
    import emoclassic.audio._pooled as PP

    a = PooledFeatures("large-vuv", n_mels=26)
    b = PooledFeatures("rasta-vq", n_mels=26)
    _, files = clips
    D._Shared.clear()
    apart_a, apart_b = a.transform(files), b.transform(files)
    calls = {"load": 0, "pitch": 0}
    real_load, real_pitch = PP._load, D._pitch_track

    def load(*args, **kw):
        calls["load"] += 1
        return real_load(*args, **kw)

    def pitch(*args, **kw):
        calls["pitch"] += 1
        return real_pitch(*args, **kw)

    monkeypatch.setattr(PP, "_load", load)
    monkeypatch.setattr(D, "_pitch_track", pitch)
    D._Shared.clear()
    for k, f in enumerate(files):  # the warm path: block after block on one clip
        np.testing.assert_array_equal(a.transform([f])[0], apart_a[k])
        np.testing.assert_array_equal(b.transform([f])[0], apart_b[k])
    assert calls == {"load": len(files), "pitch": len(files)}
    D._Shared.clear()  # a small batch (stream's windows), block after block: shared as well
    np.testing.assert_array_equal(a.transform(files), apart_a)
    np.testing.assert_array_equal(b.transform(files), apart_b)
    assert calls == {"load": 2 * len(files), "pitch": 2 * len(files)}
    monkeypatch.setattr(D, "SHARED_SEGMENTS", 1)  # more rows than it holds: recomputed, equal
    D._Shared.clear()
    np.testing.assert_array_equal(a.transform(files), apart_a)
    np.testing.assert_array_equal(b.transform(files), apart_b)
    assert calls == {"load": 4 * len(files), "pitch": 4 * len(files)}
    monkeypatch.undo()
    # the same path with other samples (a new modification time): analysed again
    moved = tmp_path / "moved.wav"
    sf.write(moved, _harmonic(150.0, seconds=0.8), SR)
    first = b.transform([str(moved)])[0]  # the slot now holds the old samples' analysis
    sf.write(moved, _harmonic(330.0, seconds=0.8), SR)
    os.utime(moved, ns=(1, 1))  # whatever the clock's resolution
    again = b.transform([str(moved)])[0]
    D._Shared.clear()
    np.testing.assert_array_equal(again, b.transform([str(moved)])[0])
    assert not np.array_equal(again, first)
    # another analysis (other mel bands, no pitch) after these: nothing wrongly shared
    c = PooledFeatures("logmel-meanstd", n_mels=40)
    shared = c.transform([files[1]])[0]
    D._Shared.clear()
    np.testing.assert_array_equal(shared, c.transform([files[1]])[0])


def test_blocks_share_the_analysis_of_an_in_memory_waveform_too(clips, monkeypatch):
    import emoclassic.audio._descriptors as D
    from emoclassic.audio._base import Waveform

    _, files = clips
    y, sr = sf.read(files[0], dtype="float32")
    X = pd.DataFrame({"id": ["w"], "path": [None], "waveform": [Waveform.from_array(y, sr)]})
    a = PooledFeatures("large-vuv", n_mels=26)
    b = PooledFeatures("rasta-vq", n_mels=26)
    D._Shared.clear()
    apart = b.transform(X)[0]
    D._Shared.clear()
    calls = []
    real = D._pitch_track
    monkeypatch.setattr(D, "_pitch_track", lambda *a_, **k: calls.append(1) or real(*a_, **k))
    a.transform(X)
    np.testing.assert_array_equal(b.transform(X)[0], apart)
    assert len(calls) == 1
