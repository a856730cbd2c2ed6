"""Voice-quality descriptors (emoclassic/audio/_voice.py) and the presets that use them.

Generated signals only: a glottal pulse train (optionally with cycle-to-cycle period or
amplitude perturbation) through second-order resonators at known formant frequencies.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sfft
from scipy.signal import lfilter

from emoclassic.audio import PRESETS, PooledFeatures, pooled_features, yin
from emoclassic.audio._spectrogram import _window, frame_signal
from emoclassic.audio._voice import (
    band_llds,
    cycle_perturbation,
    formant_llds,
    harmonic_llds,
)

SR = 16000
N_FFT = 512
HOP = 160
WIN = _window("hann", N_FFT, N_FFT)


def vowel(f0=120.0, *, jitter=0.0, shimmer=0.0, formants=(700.0, 1200.0, 2600.0), dur=1.0,
          noise=0.0, seed=0) -> np.ndarray:
    """A pulse train with Gaussian period/amplitude perturbation, through formant resonators."""
    rng = np.random.default_rng(seed)
    n = int(dur * SR)
    x = np.zeros(n)
    t = 0.0
    while t < n - 1:
        i = int(t)
        frac = t - i  # fractional pulse position: linear split keeps sub-sample timing
        amp = 1.0 + shimmer * rng.standard_normal()
        x[i] += amp * (1 - frac)
        x[i + 1] += amp * frac
        t += SR / f0 * (1.0 + jitter * rng.standard_normal())
    for f in formants:
        r = np.exp(-np.pi * 80.0 / SR)
        x = lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)
    x = 0.5 * x / np.abs(x).max() + noise * rng.standard_normal(n)
    return x.astype(np.float32)


def power(y: np.ndarray) -> np.ndarray:
    fr = frame_signal(y, frame_length=N_FFT, hop_length=HOP)
    X = sfft.rfft(fr * WIN, axis=1)
    return np.ascontiguousarray((np.abs(X) ** 2).T)


def track(y):
    f0, ap = yin(y, SR, hop_length=HOP)
    return f0, ap < 0.3


def test_formants_near_the_resonances():
    y = vowel(formants=(650.0, 1150.0, 2500.0))
    P = power(y)[:, 5:-5]  # skip the padded edges
    F = formant_llds(P, SR, N_FFT)
    med = np.nanmedian(F, axis=1)
    assert abs(med[0] - 650) < 60
    assert abs(med[1] - 1150) < 80
    assert abs(med[2] - 2500) < 120
    assert np.all(med[3:] > 0) and np.all(med[3:] < 700)  # bandwidths, Hz


def test_formants_follow_a_different_vowel():
    a = np.nanmedian(formant_llds(power(vowel(formants=(300.0, 2200.0, 3000.0)))[:, 5:-5],
                                  SR, N_FFT), axis=1)
    # LPC pulls a low F1 towards a harmonic (3 x 120 Hz here): a loose bound on F1
    assert abs(a[0] - 300) < 100 and abs(a[1] - 2200) < 120


def test_jitter_grows_with_period_perturbation():
    clean, jittery = vowel(), vowel(jitter=0.02)
    j0, _ = cycle_perturbation(clean, SR, *track(clean), HOP)
    j1, _ = cycle_perturbation(jittery, SR, *track(jittery), HOP)
    assert j0.size > 50 and j1.size > 20
    assert j0.mean() < 0.005
    assert j1.mean() > 2 * j0.mean()


def test_shimmer_grows_with_amplitude_perturbation():
    clean, shaky = vowel(), vowel(shimmer=0.15)
    _, s0 = cycle_perturbation(clean, SR, *track(clean), HOP)
    _, s1 = cycle_perturbation(shaky, SR, *track(shaky), HOP)
    assert s1.mean() > 3 * s0.mean()


def test_no_voicing_gives_no_cycles():
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    f0 = np.full(1 + len(y) // HOP, 100.0)
    j, s = cycle_perturbation(y, SR, f0, np.zeros(len(f0), bool), HOP)
    assert j.size == 0 and s.size == 0


def _perturbation_one_run_at_a_time(y, sr, f0, voiced, hop, max_ratio=1.3):
    """The definition of cycle_perturbation: scipy's find_peaks on each voiced run alone."""
    from scipy.signal import find_peaks

    y = np.asarray(y, dtype=np.float64)
    T, jit, shim = len(f0), [], []
    m = np.diff(np.concatenate([[0], np.asarray(voiced, np.int8), [0]]))
    period = sr / np.maximum(np.asarray(f0, dtype=np.float64), 1.0)
    for s, e in zip(np.flatnonzero(m == 1), np.flatnonzero(m == -1), strict=True):
        a, b = max(0, s * hop - hop // 2), min(len(y), (e - 1) * hop + hop // 2 + 1)
        pmed = float(np.median(period[s:e]))
        if b - a < 4 * pmed:
            continue
        seg = y[a:b] if y[a:b].max() >= -y[a:b].min() else -y[a:b]
        pk, _ = find_peaks(seg, distance=max(1, int(0.7 * pmed)))
        if pk.size < 4:
            continue
        y0, y1, y2 = seg[pk - 1], seg[pk], seg[pk + 1]
        den = y0 - 2 * y1 + y2
        sh = np.clip(np.divide(0.5 * (y0 - y2), den, out=np.zeros_like(den),
                               where=np.abs(den) > 1e-12), -0.5, 0.5)
        pos, amp = pk + sh, np.maximum(y1 - 0.25 * (y0 - y2) * sh, 1e-9)
        per = np.diff(pos)
        expect = period[np.minimum(T - 1, (a + pk[1:] + hop // 2) // hop)]
        good = (per < max_ratio * expect) & (per > expect / max_ratio)
        ratio = per[1:] / per[:-1]
        keep = good[1:] & good[:-1] & (ratio < max_ratio) & (ratio > 1 / max_ratio)
        jit.append((np.abs(np.diff(per)) / (0.5 * (per[1:] + per[:-1])))[keep])
        shim.append(np.abs(20 * np.log10(amp[2:] / amp[1:-1]))[keep])
    return (np.concatenate(jit), np.concatenate(shim)) if jit else (np.zeros(0), np.zeros(0))


@pytest.mark.parametrize("clip", [None, 0.3])
def test_perturbation_of_all_runs_at_once_is_one_run_at_a_time(clip):
    """All voiced runs go through one peak picking (no scipy.signal import on a cold start):
    the values must be scipy's find_peaks run by run, flat (clipped) tops included."""
    rng = np.random.default_rng(7)
    for seed in range(12):
        parts = [vowel(float(rng.uniform(90, 260)), jitter=0.01 * (seed % 3),
                       shimmer=0.05 * (seed % 2), dur=float(rng.uniform(0.15, 0.6)), seed=seed)
                 for _ in range(4)]
        gaps = [np.zeros(int(rng.uniform(0.05, 0.3) * SR)) for _ in parts]
        y = np.concatenate([p for pair in zip(parts, gaps, strict=True) for p in pair])
        y += 1e-3 * rng.standard_normal(y.size)
        if clip is not None:
            y = np.clip(y / np.abs(y).max(), -clip, clip)
        f0, voiced = track(y)
        voiced &= rng.random(voiced.size) > 0.03  # split runs at random frames too
        got = cycle_perturbation(y, SR, f0, voiced, HOP)
        want = _perturbation_one_run_at_a_time(y, SR, f0, voiced, HOP)
        assert got[0].size > 0
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_segment_peaks_are_scipys_find_peaks():
    from scipy.signal import find_peaks

    from emoclassic.audio._voice import segment_peaks

    rng = np.random.default_rng(3)
    for trial in range(200):
        segs = []
        for _ in range(int(rng.integers(1, 5))):
            n = int(rng.integers(3, 800))
            t = np.arange(n)
            kind = (trial + len(segs)) % 3
            if kind == 0:
                s = rng.normal(size=n)
            elif kind == 1:  # flat tops
                s = np.clip(2 * np.sin(2 * np.pi * t / rng.uniform(10, 80))
                            + 0.2 * rng.normal(size=n), -1, 1)
            else:  # equal heights
                s = np.round(rng.normal(size=n) * 3) / 3
            segs.append(s)
        dist = rng.integers(1, 60, size=len(segs))
        starts = np.cumsum([0] + [s.size + 1 for s in segs[:-1]])
        x = np.concatenate([np.append(s, np.inf) for s in segs])
        pk, run = segment_peaks(x, starts, dist)
        for r, s in enumerate(segs):
            want, _ = find_peaks(s, distance=int(dist[r]))
            np.testing.assert_array_equal(pk[run == r] - starts[r], want)


def test_hnr_higher_for_harmonic_than_noisy():
    out = []
    for noise in (0.0, 0.05):
        y = vowel(noise=noise)
        f0, v = track(vowel())  # the clean signal's F0, so only the noise differs
        P = power(y)[:, v]
        F = formant_llds(P, SR, N_FFT)
        out.append(np.median(harmonic_llds(P, f0[v], F, SR, N_FFT, WIN)[3]))
    noise_only = np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    Pn = power(noise_only)
    hn = harmonic_llds(Pn, np.full(Pn.shape[1], 120.0), formant_llds(Pn, SR, N_FFT), SR,
                       N_FFT, WIN)[3]
    assert out[0] > out[1] > np.median(hn)
    assert out[0] > 10


def test_band_llds_tilt():
    """A low-pass (steep) spectrum has a higher alpha ratio and Hammarberg index than white."""
    rng = np.random.default_rng(0)
    white = rng.standard_normal(SR)
    dull = lfilter([1.0], [1.0, -0.95], white)
    bw, bd = band_llds(power(white.astype(np.float32)), SR, N_FFT), band_llds(
        power(dull.astype(np.float32)), SR, N_FFT)
    assert np.median(bd[0]) > np.median(bw[0]) + 10  # alpha ratio, dB
    assert np.median(bd[1]) > np.median(bw[1]) + 10  # Hammarberg, dB
    assert abs(np.median(bw[2])) < 10  # white noise: flat slope (dB/kHz)
    assert np.median(bd[3]) < np.median(bw[3])  # falling slope 500-1500 Hz


def test_silence_and_tiny_inputs_are_finite():
    for y in (np.zeros(SR, np.float32), np.zeros(10, np.float32)):
        P = power(y)
        assert np.isfinite(band_llds(P, SR, N_FFT)).all()
        F = formant_llds(P, SR, N_FFT)
        H = harmonic_llds(P, np.full(P.shape[1], 100.0), F, SR, N_FFT, WIN)
        assert np.isfinite(H).all()


# --------------------------------------------------------------------------- the presets
def _named(y, preset="large-vq", **kw) -> dict[str, float]:
    est = PooledFeatures(preset, **kw)
    return dict(zip(est.get_feature_names_out(), est.transform(y[None, :])[0], strict=True))


def test_existing_presets_keep_their_sizes():
    sizes = {"logmel-meanstd": 128, "compact": 177, "default": 853, "large": 6068,
             "large-vuv": 6860}
    for name, n in sizes.items():
        assert len(PooledFeatures(name).get_feature_names_out()) == n
    assert len(PooledFeatures("large-vuv", n_mels=26).get_feature_names_out()) == 4428


def test_large_vq_is_large_vuv_plus_voice_quality():
    vuv = set(PooledFeatures("large-vuv", n_mels=26).get_feature_names_out())
    names = PooledFeatures("large-vq", n_mels=26).get_feature_names_out()
    assert len(names) == len(set(names)) == 4826
    assert vuv < set(names)
    for col in ("voiced_f1_mean", "voiced_hnr_acf_p50", "voiced_h1_h2_mean", "jitter_mean",
                "shimmer_db_p50", "alpha_ratio_mean", "hammarberg_d_std",
                "voiced_slope0_500_mean", "unvoiced_alpha_ratio_std"):
        assert col in set(names), col
    # the new preset's recipe is in its cache key; the first five keep their keys
    assert "recipe" in PooledFeatures("large-vq")._config()
    assert "recipe" not in PooledFeatures("large-vuv")._config()


def test_large_vq_values_on_vowels():
    clean = _named(vowel(dur=1.5))
    jittery = _named(vowel(dur=1.5, jitter=0.02, shimmer=0.15))
    assert all(np.isfinite(v) for v in clean.values())
    assert abs(clean["voiced_f1_p50"] - 700) < 80
    assert abs(clean["voiced_f2_p50"] - 1200) < 100
    assert jittery["jitter_mean"] > 2 * clean["jitter_mean"]
    assert jittery["shimmer_db_mean"] > 2 * clean["shimmer_db_mean"]
    assert clean["voiced_hnr_acf_mean"] > 10


def test_large_vq_silence_is_defined():
    v = _named(np.zeros(SR, np.float32))
    assert all(np.isfinite(x) for x in v.values())
    assert v["jitter_mean"] == 0 and v["voiced_f1_mean"] == 0


def test_rasta_and_smoothing_groups():
    from emoclassic.audio._presets import MS, Preset

    PRESETS["_test-rasta"] = Preset("test", (("logmel", 0, MS), ("rasta", 0, MS)))
    PRESETS["_test-sma"] = Preset("test", (("logmel", 0, MS),), smooth=5)
    try:
        y = np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
        f = pooled_features(y, preset="_test-rasta", n_mels=8, normalize=None)  # level as is
        logmel_mean, rasta_mean = f[0:16:2], f[16:32:2]
        assert np.all(np.abs(logmel_mean) > 5)  # stationary noise: a large level
        assert np.all(np.abs(rasta_mean) < 1)  # RASTA is a band-pass: no DC
        raw = pooled_features(y, preset="_test-rasta", n_mels=8)[1:16:2]
        smooth = pooled_features(y, preset="_test-sma", n_mels=8)[1::2]
        assert np.all(smooth < raw)  # the moving average lowers the frame-to-frame spread
    finally:
        del PRESETS["_test-rasta"], PRESETS["_test-sma"]


@pytest.mark.parametrize("sr", [8000, 22050])
def test_large_vq_other_rates(sr):
    y = np.sin(2 * np.pi * 150 * np.arange(sr) / sr).astype(np.float32) * 0.3
    v = pooled_features(y, sr, preset="large-vq")
    assert np.isfinite(v).all()


def test_rasta_vq_is_the_complement_of_large_vuv():
    vuv = set(PooledFeatures("large-vuv", n_mels=26).get_feature_names_out())
    vq = set(PooledFeatures("large-vq", n_mels=26).get_feature_names_out())
    rv = PooledFeatures("rasta-vq", n_mels=26).get_feature_names_out()
    assert len(rv) == len(set(rv)) == 1958
    assert not vuv & set(rv)
    assert vq - vuv < set(rv)  # every voice-quality column of large-vq, plus RASTA
    assert {f"rasta_{i}_mean" for i in range(26)} < set(rv)
    v = pooled_features(vowel(), preset="rasta-vq", n_mels=26)
    assert np.isfinite(v).all()


def test_no_preset_of_the_recommended_specs_imports_scipy_signal(tmp_path):
    """scipy.signal costs 70-100 ms of a cold `predict` (issue 16): the blocks of the
    recommended specs compute without it."""
    import subprocess
    import sys

    import soundfile as sf

    wav = tmp_path / "v.wav"
    sf.write(wav, np.concatenate([vowel(140.0, dur=0.6), vowel(220.0, dur=0.6)]), SR)
    code = (
        "import sys\n"
        "from emoclassic.audio import PooledFeatures\n"
        "for preset in ('default', 'large-vuv', 'rasta-vq', 'large-vq'):\n"
        f"    PooledFeatures(preset, n_mels=26).transform([{str(wav)!r}])\n"
        "assert 'scipy.signal' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
