"""Spectrograms in plain numpy: STFT, power, mel, log-mel, deltas, fixed-size images, PNGs.

Two kinds of picture: :func:`spectrogram_image` is the CNN input (a bare [0, 1] array, written
by :func:`save_spectrogram_png`), :func:`plot_spectrogram` the figure a person reads (time in
seconds, frequency in Hz, a dB colour bar, a title; written by :func:`save_spectrogram_figure`).
:func:`save_spectrogram_pngs` writes either for a whole manifest. Plots use bare
:class:`matplotlib.figure.Figure` objects (no pyplot), so the caller's backend is left alone.

Why not librosa for each of these: every ``librosa.feature.*`` call recomputes its own STFT and
importing ``librosa.filters`` pulls in numba (seconds per worker process). Here the STFT is one
``scipy.fft.rfft`` over a strided frame view, the mel filterbank (Slaney scale and area
normalisation, identical to ``librosa.filters.mel``'s defaults) is built once per
configuration, and everything else is a matrix product. Shapes follow librosa:
``(n_bins, n_frames)``; options are keyword-only.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "stft_magnitude",
    "power_spectrogram",
    "mel_filterbank",
    "mel_spectrogram",
    "log_mel_spectrogram",
    "power_to_db",
    "add_deltas",
    "delta",
    "resize_image",
    "spectrogram_image",
    "save_spectrogram_png",
    "plot_spectrogram",
    "save_spectrogram_figure",
    "save_spectrogram_pngs",
]

#: Floor added before taking logarithms (power units), as librosa's ``amin``.
AMIN = 1e-10


# --------------------------------------------------------------------------- building blocks
@lru_cache(maxsize=64)
def _window(window: str, win_length: int, n_fft: int) -> np.ndarray:
    """A periodic analysis window of ``win_length`` centred in ``n_fft`` samples (float32)."""
    n = np.arange(win_length)
    if window in ("hann", "hanning"):
        w = 0.5 - 0.5 * np.cos(2 * np.pi * n / win_length)
    elif window == "hamming":
        w = 0.54 - 0.46 * np.cos(2 * np.pi * n / win_length)
    elif window in ("rect", "boxcar", "ones"):
        w = np.ones(win_length)
    else:
        from scipy.signal import get_window

        try:
            w = get_window(window, win_length, fftbins=True)
        except ValueError as exc:
            raise ConfigError(f"window={window!r} is unknown ({exc}); use 'hann'") from exc
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        w = np.pad(w, (left, n_fft - win_length - left))
    out = np.asarray(w, dtype=np.float32)
    out.setflags(write=False)
    return out


def _check_frames(n_fft: int, hop_length: int, win_length: int | None) -> int:
    if int(n_fft) < 2 or int(hop_length) < 1:
        raise ConfigError(
            f"n_fft={n_fft} and hop_length={hop_length} must be positive (n_fft >= 2); "
            "use e.g. n_fft=512, hop_length=160 at 16 kHz"
        )
    win = int(n_fft if win_length is None else win_length)
    if not 1 <= win <= n_fft:
        raise ConfigError(f"win_length={win_length} must lie in [1, n_fft={n_fft}]")
    return win


def frame_signal(
    y: np.ndarray, *, frame_length: int, hop_length: int, center: bool = True
) -> np.ndarray:
    """A read-only ``(n_frames, frame_length)`` view of ``y`` (zero-padded as librosa does).

    With ``center=True`` frame ``t`` is centred on sample ``t * hop_length`` and there are
    ``1 + len(y) // hop_length`` frames; a signal shorter than one frame still gives one frame.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ConfigError(f"expected a 1-D waveform, got shape {y.shape}; mix channels to mono")
    if center:
        y = np.pad(y, frame_length // 2)
    if len(y) < frame_length:
        y = np.pad(y, (0, frame_length - len(y)))
    view = np.lib.stride_tricks.sliding_window_view(y, frame_length)
    return view[::hop_length]


def _stft_frames(
    y: np.ndarray,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int | None,
    window: str,
    center: bool,
) -> np.ndarray:
    """Complex STFT as ``(n_frames, 1 + n_fft // 2)`` complex64 (time-major, for speed)."""
    from scipy import fft as sfft

    win = _check_frames(n_fft, hop_length, win_length)
    y = np.asarray(y, dtype=np.float32)
    frames = frame_signal(y, frame_length=n_fft, hop_length=hop_length, center=center)
    return sfft.rfft(frames * _window(window, win, n_fft), axis=1)


def stft_magnitude(
    y: np.ndarray,
    *,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
) -> np.ndarray:
    """``|STFT|`` as float32 ``(1 + n_fft // 2, n_frames)``, equal to ``abs(librosa.stft(...))``.

    Defaults are 32 ms frames and a 10 ms hop at 16 kHz.
    """
    spec = _stft_frames(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center
    )
    return np.abs(spec).T.astype(np.float32, copy=False)


def power_spectrogram(
    y: np.ndarray,
    *,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    power: float = 2.0,
) -> np.ndarray:
    """``|STFT| ** power`` (``power=2``: energy, ``1``: magnitude), float32 (freq, frames)."""
    mag = stft_magnitude(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center
    )
    if power == 1:
        return mag
    if power == 2:
        return mag * mag
    return mag**power


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels
    )


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=32)
def mel_filterbank(
    *, sr: int, n_fft: int, n_mels: int = 64, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filters ``(n_mels, 1 + n_fft // 2)``, as ``librosa.filters.mel`` defaults.

    Cached per configuration and read-only: build once, multiply many times.
    """
    fmax = sr / 2 if fmax is None else float(fmax)
    if not (0 <= fmin < fmax <= sr / 2 + 1e-9) or int(n_mels) < 1:
        raise ConfigError(
            f"mel filterbank needs 0 <= fmin ({fmin}) < fmax ({fmax}) <= sr/2 ({sr / 2}) and "
            f"n_mels >= 1 (got {n_mels}); fix fmin/fmax/n_mels"
        )
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]  # Slaney area norm
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


def mel_spectrogram(
    y: np.ndarray | None = None,
    sr: int = 16000,
    *,
    S: np.ndarray | None = None,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    power: float = 2.0,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Mel spectrogram ``(n_mels, n_frames)`` from a waveform or a ready ``|STFT| ** power``."""
    if S is None:
        if y is None:
            raise ConfigError("mel_spectrogram needs a waveform y or a spectrogram S")
        S = power_spectrogram(
            y,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            power=power,
        )
    else:
        n_fft = 2 * (S.shape[0] - 1)
    fb = mel_filterbank(sr=int(sr), n_fft=int(n_fft), n_mels=int(n_mels), fmin=fmin, fmax=fmax)
    return fb @ np.asarray(S, dtype=np.float32)


def power_to_db(
    S: np.ndarray, *, ref: float | str = 1.0, amin: float = AMIN, top_db: float | None = 80.0
) -> np.ndarray:
    """``10 * log10(S / ref)`` floored at ``amin``; ``top_db`` clips below ``max - top_db``.

    ``ref="max"`` makes the loudest bin 0 dB (scale invariant, used for images); a float keeps
    absolute levels (loudness stays a feature). All-zero input gives a constant, finite array.
    """
    S = np.asarray(S, dtype=np.float32)
    db = 10.0 * np.log10(np.maximum(S, amin))
    if isinstance(ref, str):
        if ref != "max":
            raise ConfigError(f"ref={ref!r} is not valid; use a positive number or 'max'")
        db -= db.max() if db.size else 0.0
    elif ref != 1.0:
        db -= 10.0 * np.log10(max(float(ref), amin))
    if top_db is not None and db.size:
        if top_db < 0:
            raise ConfigError(f"top_db={top_db} must be non-negative (or None)")
        db = np.maximum(db, db.max() - top_db)
    return db.astype(np.float32, copy=False)


def log_mel_spectrogram(
    y: np.ndarray | None = None,
    sr: int = 16000,
    *,
    S: np.ndarray | None = None,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    power: float = 2.0,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
    ref: float | str = 1.0,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Log-mel spectrogram in dB, ``(n_mels, n_frames)`` float32 (see :func:`power_to_db`)."""
    mel = mel_spectrogram(
        y,
        sr,
        S=S,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        power=power,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
    )
    return power_to_db(mel, ref=ref, top_db=top_db)


def delta(S: np.ndarray, *, width: int = 9, axis: int = -1) -> np.ndarray:
    """Regression deltas (HTK formula) along ``axis``; edges repeat, so one frame works.

    ``width`` (odd, >= 3) is the window: ``width=9`` equals ``librosa.feature.delta`` away from
    the edges (librosa interpolates the edges instead and refuses clips shorter than ``width``).
    """
    width = int(width)
    if width < 3 or width % 2 == 0:
        raise ConfigError(f"delta width={width} must be odd and >= 3 (e.g. 5 or 9)")
    S = np.asarray(S, dtype=np.float32)
    n = width // 2
    S = np.moveaxis(S, axis, -1)
    T = S.shape[-1]
    pad = [(0, 0)] * (S.ndim - 1) + [(n, n)]
    P = np.pad(S, pad, mode="edge")
    out = np.zeros_like(S)
    for k in range(1, n + 1):
        out += k * (P[..., n + k : n + k + T] - P[..., n - k : n - k + T])
    out /= 2 * sum(k * k for k in range(1, n + 1))
    return np.moveaxis(out, -1, axis)


def add_deltas(S: np.ndarray, *, order: int = 2, width: int = 9) -> np.ndarray:
    """Stack ``S`` with its deltas up to ``order`` along the feature axis: ``((order+1)*F, T)``."""
    if int(order) < 0:
        raise ConfigError(f"order={order} must be >= 0")
    parts = [np.asarray(S, dtype=np.float32)]
    for _ in range(int(order)):
        parts.append(delta(parts[-1], width=width, axis=-1))
    return np.concatenate(parts, axis=0)


# --------------------------------------------------------------------------- images
@lru_cache(maxsize=256)
def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` weights: area average when shrinking, linear when stretching."""
    if n_in == n_out:
        m = np.eye(n_in, dtype=np.float32)
    elif n_out < n_in:
        edges = np.linspace(0, n_in, n_out + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        cells = np.arange(n_in)[None, :]
        overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0, None)
        m = (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)
    else:
        pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        pos = np.clip(pos, 0, n_in - 1)
        left = np.floor(pos).astype(int)
        right = np.minimum(left + 1, n_in - 1)
        frac = pos - left
        m = np.zeros((n_out, n_in))
        np.add.at(m, (np.arange(n_out), left), 1 - frac)
        np.add.at(m, (np.arange(n_out), right), frac)
        m = m.astype(np.float32)
    m.setflags(write=False)
    return m


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D array to ``size=(rows, cols)`` (area-average down, linear up), float32."""
    h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ConfigError(f"image size {size} must be two positive integers, e.g. (64, 64)")
    image = np.asarray(image, dtype=np.float32)
    if image.shape == (h, w):
        return image
    return _resample_matrix(image.shape[0], h) @ image @ _resample_matrix(image.shape[1], w).T


def spectrogram_image(
    y: np.ndarray,
    sr: int = 16000,
    *,
    size: tuple[int, int] = (224, 224),
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = None,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float = 80.0,
) -> np.ndarray:
    """The log-mel spectrogram as a float32 image ``size=(H, W)`` with values in [0, 1].

    Scaled per clip: 1 is the loudest bin, 0 is ``top_db`` dB below it (or quieter). Row 0 is
    the lowest mel band (flip it to display with low frequencies at the bottom); the time axis
    is stretched or squeezed to ``W`` columns, so clips of any length give the same shape. This
    is the CNN input (AlexNet) and what :func:`save_spectrogram_png` writes.
    """
    if top_db is None or top_db <= 0:
        raise ConfigError(f"top_db={top_db} must be positive for images, e.g. 80")
    db = log_mel_spectrogram(
        y,
        sr,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        ref="max",
        top_db=top_db,
    )
    img = (db + float(top_db)) / float(top_db)
    img = resize_image(img, size)
    return np.clip(img, 0.0, 1.0).astype(np.float32, copy=False)


def save_spectrogram_png(
    path: str | os.PathLike, image: np.ndarray, *, cmap: str | None = "magma"
) -> Path:
    """Write ``image`` (H, W) in [0, 1] (row 0 = lowest band) as a PNG, atomically.

    Low frequencies are drawn at the bottom. ``cmap=None`` writes grey levels. A 3-D
    ``(H, W, 3|4)`` array is written as it is. The folder is created if needed.
    """
    from matplotlib import image as mpimg  # imsave writes PNGs through Pillow, no backend

    path = Path(path)
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ConfigError(f"save_spectrogram_png: image of shape {arr.shape} is not (H, W)")
    arr = np.flipud(arr)
    with atomic_path(path, suffix=".png") as tmp:
        if arr.ndim == 2:
            mpimg.imsave(tmp, arr, cmap=cmap or "gray", vmin=0.0, vmax=1.0, format="png")
        else:
            mpimg.imsave(tmp, arr, format="png")
    return path


#: candidate frequency ticks (Hz) of the figure's mel-scaled axis
_HZ_TICKS = (0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 20000)


def plot_spectrogram(
    y: np.ndarray,
    sr: int = 16000,
    *,
    ax=None,
    title: str | None = None,
    n_fft: int = 512,
    hop_length: int = 160,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float = 80.0,
    cmap: str = "magma",
):
    """Draw the log-mel spectrogram for a person: time (s), frequency (Hz), dB colour bar.

    The frequency axis keeps the mel spacing (as the features see it) but is labelled in Hz;
    levels are dB relative to the clip's loudest bin (0 dB), floored ``top_db`` below. With
    ``ax=None`` a new :class:`matplotlib.figure.Figure` is made (no pyplot: nothing is shown
    and the global backend is untouched); pass a pyplot axis to draw into your own figure.
    Returns the axis (its figure is ``ax.figure``).
    """
    if top_db is None or top_db <= 0:
        raise ConfigError(f"top_db={top_db} must be positive for a plot, e.g. 80")
    y = np.asarray(y, dtype=np.float32)
    db = log_mel_spectrogram(
        y,
        sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        ref="max",
        top_db=top_db,
    )
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(8.0, 3.2), layout="constrained").add_subplot(1, 1, 1)
    top = sr / 2 if fmax is None else float(fmax)
    lo, hi = float(_hz_to_mel(fmin)), float(_hz_to_mel(top))
    step = (hi - lo) / (n_mels + 1)  # band centres are equally spaced on the mel scale
    hop_s = hop_length / sr
    n_frames = db.shape[1]
    im = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=-float(top_db),
        vmax=0.0,
        interpolation="nearest",
        extent=(-0.5 * hop_s, (n_frames - 0.5) * hop_s, lo + 0.5 * step, hi - 0.5 * step),
    )
    ax.set_xlim(0.0, max(len(y) / sr, hop_s))
    ticks = [f for f in _HZ_TICKS if fmin <= f <= top]
    kept: list[float] = []
    for f in ticks:  # drop ticks closer than 6 % of the axis to the previous one
        if not kept or _hz_to_mel(f) - _hz_to_mel(kept[-1]) >= 0.06 * (hi - lo):
            kept.append(f)
    ax.set_yticks([float(_hz_to_mel(f)) for f in kept], labels=[f"{f:g}" for f in kept])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz, mel scale)")
    ax.figure.colorbar(im, ax=ax, format="%.0f", label="level (dB re. loudest)", pad=0.02)
    if title:
        ax.set_title(title)
    return ax


def save_spectrogram_figure(
    path: str | os.PathLike,
    y: np.ndarray,
    sr: int = 16000,
    *,
    title: str | None = None,
    dpi: int = 100,
    **plot_options,
) -> Path:
    """Write :func:`plot_spectrogram` of ``y`` as a PNG (``dpi=100``: 800 x 320 px), atomically.

    ``plot_options`` go to :func:`plot_spectrogram` (``n_mels``, ``fmax``, ``cmap`` ...).
    The folder is created if needed.
    """
    ax = plot_spectrogram(y, sr, title=title, **plot_options)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        ax.figure.savefig(tmp, format="png", dpi=dpi)
    return path


_CONTROLLER = None


def single_thread_blas():
    """Context limiting BLAS to one thread: our matrix products are tiny, and idle BLAS threads
    spinning beside the main one slow them several-fold on a loaded machine."""
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.fft  # noqa: F401 - load every BLAS before the controller looks for them
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


# --------------------------------------------------------------------------- the transformer
def _image_size(size) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        h = w = 0
    if h < 1 or w < 1:
        raise ConfigError(f"image_size={size!r} must be two positive integers (rows, columns)")
    return h, w


from ._base import AudioExtractor  # noqa: E402 - the functions above need no extractor


def _log_mel_of(est, y: np.ndarray) -> np.ndarray:
    """``log_mel_spectrogram`` of ``y`` with an extractor's own STFT and mel parameters
    (``sr``, ``n_fft``, ``hop_length``, ``win_length``, ``n_mels``, ``fmin``, ``fmax``,
    ``top_db``): one place for the transformers that read a log-mel spectrogram."""
    return log_mel_spectrogram(
        y,
        int(est.sr),
        n_fft=int(est.n_fft),
        hop_length=int(est.hop_length),
        win_length=est.win_length,
        n_mels=int(est.n_mels),
        fmin=float(est.fmin),
        fmax=None if est.fmax is None else float(est.fmax),
        top_db=est.top_db,
    )


class Audio2Spectrogram(AudioExtractor):
    """Log-mel spectrogram of each clip as a fixed-length vector (stateless transformer).

    ``output="image"`` (default): the log-mel spectrogram in dB (absolute level, clipped
    ``top_db`` below the clip's maximum) resized to ``image_size=(rows, columns)`` — mel bands
    by area-averaging or interpolation, time stretched or squeezed so every clip has the same
    number of columns — and flattened row-major (``rows * columns`` values; with
    ``deltas=True`` the delta and delta-delta images follow, 3x as many).
    ``output="pooled"``: the mean and standard deviation over time of each band (``2 * n_mels``,
    or ``6 * n_mels`` with deltas) — the cheap baseline.

    For a CNN's [0, 1] image use :func:`spectrogram_image`; for richer pooled statistics use
    :class:`PooledFeatures`.
    """

    def __init__(
        self,
        *,
        sr: int = 16000,
        n_fft: int = 512,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 64,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float | None = 80.0,
        deltas: bool = False,
        output: str = "image",
        image_size: tuple[int, int] = (64, 64),
        trim: bool = False,
        normalize: str | None = None,
        cache=None,
        n_jobs: int | None = None,
        on_error: str = "raise",
        progress: bool | None = None,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.deltas = deltas
        self.output = output
        self.image_size = image_size
        self.trim = trim
        self.normalize = normalize
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress

    def _check_params(self) -> None:
        super()._check_params()
        if self.output not in ("image", "pooled"):
            raise ConfigError(f"output={self.output!r} is not valid; use 'image' or 'pooled'")
        if self.output == "image":
            _image_size(self.image_size)
        _check_frames(int(self.n_fft), int(self.hop_length), self.win_length)
        mel_filterbank(sr=int(self.sr), n_fft=int(self.n_fft), n_mels=int(self.n_mels),
                       fmin=float(self.fmin), fmax=None if self.fmax is None else float(self.fmax))

    def _channels(self) -> list[str]:
        return ["logmel", "logmel_d", "logmel_dd"] if self.deltas else ["logmel"]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``logmel_m{row}_t{col}`` (image) or ``logmel_{band}_mean|std`` (pooled) names."""
        from sklearn.utils.validation import _check_feature_names_in

        if hasattr(self, "n_features_in_"):
            _check_feature_names_in(self, input_features)
        self._check_params()
        names: list[str] = []
        for ch in self._channels():
            if self.output == "image":
                h, w = _image_size(self.image_size)
                names.extend(f"{ch}_m{r}_t{c}" for r in range(h) for c in range(w))
            else:
                names.extend(f"{ch}_{b}_{s}" for b in range(int(self.n_mels))
                             for s in ("mean", "std"))
        return np.asarray(names, dtype=object)

    def _compute_batch(self, items):
        with single_thread_blas():
            return super()._compute_batch(items)

    def _features(self, y: np.ndarray) -> np.ndarray:
        S = _log_mel_of(self, y)
        chans = [S]
        if self.deltas:
            chans.append(delta(S, width=9))
            chans.append(delta(chans[-1], width=9))
        if self.output == "image":
            size = _image_size(self.image_size)
            return np.concatenate([resize_image(c, size).reshape(-1) for c in chans])
        return np.concatenate(
            [np.stack([c.mean(axis=1), c.std(axis=1)], axis=1).reshape(-1) for c in chans]
        )


#: what :func:`save_spectrogram_pngs` can draw
SPECTROGRAM_KINDS = ("figure", "cnn")


def save_spectrogram_pngs(
    X,
    out_dir: str | os.PathLike,
    *,
    kind: str = "figure",
    sr: int = 16000,
    size: tuple[int, int] | None = None,
    n_mels: int = 128,
    cmap: str | None = "magma",
    dpi: int = 100,
    on_error: str = "raise",
):
    """Write one ``<id>.png`` spectrogram per item of ``X`` (manifest, paths) into ``out_dir``.

    The one place that writes spectrogram PNGs for a manifest (the CLI's
    ``features --spectrogram-png`` and scripts call it). ``kind="figure"`` (default) draws
    :func:`plot_spectrogram` for a person — time axis (s), frequency axis (Hz), dB colour bar,
    the id (and label, when ``X`` has a ``label`` column) as title — at ``dpi``.
    ``kind="cnn"`` writes the bare :func:`spectrogram_image` at ``size`` (default 224 x 224),
    the AlexNet input, through :func:`save_spectrogram_png` (``cmap=None``: grey levels).
    Rows with ``start``/``end`` are cut to that segment. Files are named by the row's ``id``
    (by the file's stem for a list of paths). Returns a DataFrame ``id -> png`` path (missing
    for failed items when ``on_error="skip"``).
    """
    import re

    import pandas as pd

    from ..exceptions import BatchError, EmoclassicError
    from ._base import audio_items
    from ._io import load_audio

    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error={on_error!r} is not valid; use 'raise' or 'skip'")
    if kind not in SPECTROGRAM_KINDS:
        raise ConfigError(
            f"kind={kind!r} is not valid; use 'figure' (for people) or 'cnn' (the network input)"
        )
    if kind == "figure" and size is not None:
        raise ConfigError(
            f"size={size!r} applies to kind='cnn' only; drop it or pass kind='cnn'"
        )
    if kind == "cnn":
        size = _image_size((224, 224) if size is None else size)
    labels: dict[str, str] = {}
    if isinstance(X, pd.DataFrame) and {"id", "label"} <= set(X.columns):
        labels = {str(i): str(v) for i, v in zip(X["id"], X["label"], strict=True)
                  if isinstance(v, str) and v.strip()}  # fmt: skip
    out = Path(out_dir)
    rows, failures = [], []
    for it in audio_items(None, X):
        payload_kind, a, b, c = it.payload
        name = Path(a).stem if payload_kind == "file" and it.id == a else it.id
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "clip"
        try:
            if payload_kind == "wave":
                y = np.asarray(a, dtype=np.float32)
            elif payload_kind == "file":
                y = load_audio(a, sr=sr, start=b, end=c)
            else:
                raise EmoclassicError(f"{it.id}: no usable audio path; fix the row")
            target = out / f"{safe}.png"
            if kind == "figure":
                label = labels.get(str(it.id))
                title = f"{name} ({label})" if label else name
                png = save_spectrogram_figure(target, y, sr, title=title, n_mels=n_mels,
                                              cmap=cmap or "magma", dpi=dpi)  # fmt: skip
            else:
                png = save_spectrogram_png(target,
                                           spectrogram_image(y, sr, size=size, n_mels=n_mels),
                                           cmap=cmap)  # fmt: skip
            rows.append((it.id, str(png)))
        except EmoclassicError as exc:
            failures.append((it.id, str(exc)))
            rows.append((it.id, None))
    if failures and on_error == "raise":
        from ..features import Failure

        records = [Failure(id=str(i), message=m) for i, m in failures]
        if len(failures) == 1:
            raise BatchError(failures[0][1], records)
        raise BatchError(f"{len(failures)} spectrogram PNG(s) failed, first: {failures[0][1]}",
                         records)
    return pd.DataFrame(rows, columns=["id", "png"]).set_index("id")
