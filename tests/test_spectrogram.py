"""Spectrograms: known tones land in the right bins, librosa parity, images, PNGs, transformer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from emoclassic.audio import (
    Audio2Spectrogram,
    add_deltas,
    delta,
    log_mel_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    plot_spectrogram,
    power_spectrogram,
    power_to_db,
    resize_image,
    save_spectrogram_figure,
    save_spectrogram_png,
    save_spectrogram_pngs,
    spectrogram_image,
    stft_magnitude,
)
from emoclassic.audio._spectrogram import band_limit
from emoclassic.exceptions import BatchError, ConfigError

SR = 16000


def _tone(freq, seconds=0.5, sr=SR):
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_tone_peaks_in_the_right_stft_and_mel_bin():
    S = stft_magnitude(_tone(1000.0), n_fft=512, hop_length=160)
    assert S.shape == (257, 1 + 8000 // 160)
    assert np.all(np.argmax(S[:, 2:-2], axis=0) == 32)  # 1000 Hz / (16000 / 512 Hz per bin)
    mel = mel_spectrogram(_tone(1000.0), SR, n_mels=64)
    # the band whose centre (Slaney mel scale) is nearest 1 kHz: centres are linear in mel
    from emoclassic.audio._spectrogram import _hz_to_mel, _mel_to_hz

    centres = _mel_to_hz(np.linspace(_hz_to_mel(0), _hz_to_mel(8000), 66))[1:-1]
    expected = int(np.argmin(np.abs(centres - 1000)))
    assert np.all(np.argmax(mel[:, 2:-2], axis=0) == expected)
    assert abs(centres[expected] - 1000) < 60


def test_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(0).normal(size=4000).astype(np.float32) * 0.1
    ref = np.abs(librosa.stft(y, n_fft=400, hop_length=100, win_length=300))
    np.testing.assert_allclose(
        stft_magnitude(y, n_fft=400, hop_length=100, win_length=300), ref, atol=1e-4 * ref.max()
    )
    for kw in ({"n_mels": 64}, {"n_mels": 40, "fmin": 50.0, "fmax": 7000.0}):
        np.testing.assert_allclose(
            mel_filterbank(sr=SR, n_fft=512, **kw),
            librosa.filters.mel(sr=SR, n_fft=512, **kw), atol=1e-7,
        )
    X = np.random.default_rng(1).random((5, 40)).astype(np.float32)
    np.testing.assert_allclose(delta(X)[:, 4:-4], librosa.feature.delta(X)[:, 4:-4], atol=1e-6)


def test_power_and_db_are_finite_for_silence_and_tiny_clips():
    for y in (np.zeros(8000, np.float32), np.full(3, 0.1, np.float32)):
        S = log_mel_spectrogram(y, SR)
        assert S.shape[0] == 64 and S.shape[1] >= 1 and np.isfinite(S).all()
    P = power_spectrogram(_tone(500), power=2.0)
    np.testing.assert_allclose(P, stft_magnitude(_tone(500)) ** 2, rtol=1e-5)
    db = power_to_db(np.array([[1.0, 1e-3, 0.0]]), top_db=20)
    np.testing.assert_allclose(db, [[0.0, -20.0, -20.0]])
    np.testing.assert_allclose(power_to_db(np.array([[2.0, 1.0]]), ref="max", top_db=None),
                               [[0.0, -10 * np.log10(2)]], atol=1e-6)
    with pytest.raises(ConfigError):
        power_to_db(np.ones((2, 2)), ref="loudest")


def test_deltas():
    ramp = np.tile(np.arange(20, dtype=np.float32) * 3, (2, 1))
    d = delta(ramp, width=5)
    np.testing.assert_allclose(d[:, 2:-2], 3.0)
    stacked = add_deltas(ramp, order=2)
    assert stacked.shape == (6, 20)
    assert add_deltas(np.ones((4, 1)), order=2).shape == (12, 1)  # one frame is fine
    with pytest.raises(ConfigError):
        delta(ramp, width=4)


def test_resize_image_keeps_levels():
    img = np.full((64, 37), 0.25, np.float32)
    for size in ((32, 16), (128, 224), (64, 37)):
        out = resize_image(img, size)
        assert out.shape == size and np.allclose(out, 0.25)
    ramp = np.tile(np.arange(10, dtype=np.float32), (3, 1))
    np.testing.assert_allclose(resize_image(ramp, (3, 5)), np.tile([0.5, 2.5, 4.5, 6.5, 8.5],
                                                                   (3, 1)))


def test_spectrogram_image_range_orientation_and_png(tmp_path):
    img = spectrogram_image(_tone(300.0, seconds=1.0), SR, size=(224, 224))
    assert img.shape == (224, 224) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0 and img.max() > 0.9
    assert img[:40].mean() > img[-40:].mean()  # a low tone lives in the low rows (row 0 = low)
    small = spectrogram_image(np.zeros(10, np.float32), SR, size=(32, 48))
    assert small.shape == (32, 48) and np.isfinite(small).all()
    png = save_spectrogram_png(tmp_path / "sub" / "tone.png", img)
    from matplotlib import image as mpimg

    back = mpimg.imread(png)
    assert back.shape[:2] == (224, 224)
    assert not list((tmp_path / "sub").glob(".tmp-*"))
    grey = mpimg.imread(save_spectrogram_png(tmp_path / "g.png", img, cmap=None))
    # flipped for display: low frequencies (bright) at the bottom
    assert grey[-40:, :, 0].mean() > grey[:40, :, 0].mean()


def test_save_spectrogram_pngs_for_a_manifest(tmp_path, write_tone):
    from matplotlib import image as mpimg

    good = write_tone(tmp_path / "a.wav", freq=200)
    (tmp_path / "bad.wav").write_text("not audio")
    frame = pd.DataFrame({"id": ["a", "b"], "path": [str(good), str(tmp_path / "bad.wav")],
                          "label": ["anger", "sadness"]})  # fmt: skip
    # default: the figure for people (axes, colour bar, title), 800 x 320 px at dpi=100
    out = save_spectrogram_pngs(frame, tmp_path / "fig", on_error="skip")
    assert (tmp_path / "fig" / "a.png").exists() and pd.isna(out.loc["b", "png"])
    assert mpimg.imread(out.loc["a", "png"]).shape[:2] == (320, 800)
    # kind="cnn": the bare network input at `size`
    out = save_spectrogram_pngs(frame, tmp_path / "cnn", kind="cnn", size=(64, 48),
                                on_error="skip")  # fmt: skip
    assert mpimg.imread(out.loc["a", "png"]).shape[:2] == (64, 48)
    assert mpimg.imread(save_spectrogram_pngs(frame.iloc[:1], tmp_path / "cnn2", kind="cnn")
                        .loc["a", "png"]).shape[:2] == (224, 224)  # fmt: skip
    with pytest.raises(BatchError, match="bad.wav"):
        save_spectrogram_pngs(frame, tmp_path / "png2", kind="cnn", size=(64, 64))
    with pytest.raises(ConfigError, match="kind='cnn' only"):
        save_spectrogram_pngs(frame, tmp_path / "png3", size=(64, 64))
    with pytest.raises(ConfigError, match="kind='spectrum'"):
        save_spectrogram_pngs(frame, tmp_path / "png3", kind="spectrum")


def test_plot_spectrogram_is_a_figure_for_people_without_pyplot(tmp_path):
    from matplotlib.figure import Figure

    ax = plot_spectrogram(_tone(400, seconds=1.0), SR, title="a 400 Hz tone")
    fig = ax.figure
    assert isinstance(fig, Figure) and len(ax.images) == 1
    assert ax.get_xlabel() == "time (s)" and "Hz" in ax.get_ylabel()
    assert ax.get_title() == "a 400 Hz tone"
    assert ax.get_xlim() == pytest.approx((0.0, 1.0))
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert {"0", "1000", "8000"} <= set(ticks)
    bar = [a for a in fig.axes if a is not ax]  # the colour bar, in dB
    assert len(bar) == 1 and "dB" in bar[0].get_ylabel()
    lo, hi = ax.images[0].get_clim()
    assert (lo, hi) == (-80.0, 0.0)
    # the 400 Hz tone is drawn at the 400 Hz position of the mel-scaled axis
    img = ax.images[0]
    rows = np.asarray(img.get_array()).mean(axis=1)
    y0, y1 = img.get_extent()[2:]
    centre = y0 + (np.argmax(rows) + 0.5) * (y1 - y0) / len(rows)
    from emoclassic.audio._spectrogram import _hz_to_mel

    assert abs(centre - _hz_to_mel(400.0)) < 1.0
    png = save_spectrogram_figure(tmp_path / "s" / "tone.png", _tone(400), SR, dpi=50)
    from matplotlib import image as mpimg

    assert mpimg.imread(png).shape[:2] == (160, 400)
    assert not list((tmp_path / "s").glob(".tone.png.*"))


def test_plots_leave_the_matplotlib_backend_alone(tmp_path):
    """No pyplot import and no backend switch, even with a user's backend set (subprocess:
    other tests may have imported pyplot already)."""
    import subprocess
    import sys

    code = f"""
import sys, numpy as np, matplotlib
matplotlib.use("svg")
from emoclassic.audio import (plot_spectrogram, save_spectrogram_figure, save_spectrogram_png,
                              spectrogram_image)
y = np.sin(np.arange(8000) / 5).astype(np.float32)
plot_spectrogram(y)
save_spectrogram_figure({str(tmp_path / "f.png")!r}, y)
save_spectrogram_png({str(tmp_path / "c.png")!r}, spectrogram_image(y))
assert "matplotlib.pyplot" not in sys.modules
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "params, dims",
    [
        ({}, 64 * 64),
        ({"image_size": (32, 20), "deltas": True}, 3 * 32 * 20),
        ({"output": "pooled"}, 128),
        ({"output": "pooled", "deltas": True, "n_mels": 40}, 240),
    ],
)
def test_audio2spectrogram_shapes_and_names(tmp_path, write_tone, params, dims):
    est = Audio2Spectrogram(**params)
    names = est.get_feature_names_out()  # before fit
    assert len(names) == dims and len(set(names)) == dims
    paths = [str(write_tone(tmp_path / f"{f}.wav", freq=f, seconds=s))
             for f, s in ((200, 0.3), (900, 1.1))]
    X = est.fit_transform(paths)
    assert X.shape == (2, dims) and X.dtype == np.float32 and np.isfinite(X).all()
    assert not np.allclose(X[0], X[1])


def test_audio2spectrogram_pooled_is_band_mean_and_std():
    y = _tone(700.0)
    est = Audio2Spectrogram(output="pooled", n_mels=32)
    row = est.fit_transform(y[None, :])[0]
    S = log_mel_spectrogram(y, SR, n_mels=32, fmax=band_limit(SR))  # the default band
    np.testing.assert_allclose(row[0::2], S.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(row[1::2], S.std(axis=1), rtol=1e-4, atol=1e-4)


def test_audio2spectrogram_rejects_bad_options():
    with pytest.raises(ConfigError, match="output"):
        Audio2Spectrogram(output="cube").fit_transform(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match="image_size"):
        Audio2Spectrogram(image_size=(0, 3)).fit_transform(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match="fmin"):
        Audio2Spectrogram(fmin=9000.0).fit_transform(np.zeros((1, 100)))


@parametrize_with_checks(
    [Audio2Spectrogram(image_size=(8, 6)), Audio2Spectrogram(output="pooled", n_mels=16)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
