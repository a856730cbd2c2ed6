"""Spectrograms in plain numpy: STFT, power, mel, log-mel, deltas, fixed-size images.

The numbers only: every function here maps arrays to arrays and imports neither an extractor
nor matplotlib. Pictures of them (PNG files, the figure a person reads) are in
:mod:`._spectrogram_plots`, the extractor that turns them into feature vectors
(:class:`Audio2Spectrogram`) in :mod:`._audio2spectrogram`; both names stay importable from
here. :func:`spectrogram_image` is the CNN input (a bare [0, 1] array).

Why not librosa for each of these: every ``librosa.feature.*`` call recomputes its own STFT and
importing ``librosa.filters`` pulls in numba (seconds per worker process). Here the STFT is one
``scipy.fft.rfft`` over a strided frame view, the mel filterbank (Slaney scale and area
normalisation, identical to ``librosa.filters.mel``'s defaults) is built once per
configuration, and everything else is a matrix product. Shapes follow librosa:
``(n_bins, n_frames)``; options are keyword-only.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from .._lazy import lazy_attributes
from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "band_limit",
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
]

#: names that moved out of this module, still importable from it (old imports, old pickles);
#: the leading dot makes each a sibling of this module (``lazy_attributes`` resolves against it)
_MOVED = {
    "Audio2Spectrogram": "._audio2spectrogram",
    "SPECTROGRAM_KINDS": "._spectrogram_plots",
    "plot_spectrogram": "._spectrogram_plots",
    "save_spectrogram_figure": "._spectrogram_plots",
    "save_spectrogram_png": "._spectrogram_plots",
    "save_spectrogram_pngs": "._spectrogram_plots",
}
__getattr__, __dir__ = lazy_attributes(__name__, _MOVED, globals())

#: Version of what the log-mel extractors and the CNN images mean (part of their cache keys):
#: 2 = the default band ends at :func:`band_limit`.
LOG_MEL_DEFINITION = 2
#: Floor added before taking logarithms (power units), as librosa's ``amin``.
AMIN = 1e-10

#: the analysed band ends at this fraction of the analysis rate's Nyquist frequency (below)
BAND_FRACTION = 0.85


def band_limit(sr: int) -> float:
    """Top of the band every spectral descriptor analyses by default: 0.85 x Nyquist (Hz).

    6.8 kHz at 16 kHz. Why: whatever rate a file was stored at, the loader brings it to the
    analysis rate, and every resampler, like every ADC's decimation filter, rolls off below
    Nyquist. Measured on white noise taken from 16 kHz to 22.05/44.1/48 kHz and back with
    soxr 'HQ' (the loader's): -0.1 dB at 7.44 kHz, -3 dB at 7.56 kHz, -5.7 dB at 7.6 kHz (0.95 x
    Nyquist); up with scipy's ``resample_poly`` (a common default): -0.1 dB at 6.86 kHz, -1 dB
    at 7.3 kHz; a typical audio ADC's passband ends at 0.454 fs (7.26 kHz). Below 0.85 x Nyquist
    all of them are flat within 0.1 dB, so a clip analysed there reads the same whether it was
    stored at 16, 22.05, 44.1 or 48 kHz; above it the same clip's top band differed by up to
    tens of dB (the old ``contrast_6`` moved by 100x its spread across clips). Mel filters,
    spectral shape, roll-off, flatness, entropy, flux, slope, contrast, band energies and the
    harmonic/HNR analysis of :class:`PooledFeatures` stop here (``fmax`` sets another top), as
    do the default mel filters of the log-mel extractors (``LogMelFrames``,
    ``Audio2Spectrogram``) and of :func:`spectrogram_image` (the AlexNet input). The array
    functions ``mel_filterbank``, ``mel_spectrogram`` and ``log_mel_spectrogram`` keep
    librosa's default (up to Nyquist).
    """
    return BAND_FRACTION * float(sr) / 2.0



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
        S = power_spectrogram(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                              window=window, center=center, power=power)
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
    mel = mel_spectrogram(y, sr, S=S, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                          window=window, center=center, power=power, n_mels=n_mels, fmin=fmin,
                          fmax=fmax)
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
    P = np.concatenate([np.repeat(S[..., :1], n, axis=-1), S,
                        np.repeat(S[..., -1:], n, axis=-1)], axis=-1)  # edges repeated
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
    is the CNN input (AlexNet) and what :func:`save_spectrogram_png` writes. ``fmax=None`` is
    :func:`band_limit` (6.8 kHz at 16 kHz): the rows do not depend on the rate the file was
    stored at.
    """
    fmax = band_limit(sr) if fmax is None else fmax
    db = _log_mel_re_loudest(y, sr, top_db, "images", n_fft=n_fft, hop_length=hop_length,
                             win_length=win_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    img = (db + float(top_db)) / float(top_db)
    img = resize_image(img, size)
    return np.clip(img, 0.0, 1.0).astype(np.float32, copy=False)


def _log_mel_re_loudest(y, sr: int, top_db, what: str, **options) -> np.ndarray:
    """Log-mel in dB re. the clip's loudest bin (0 dB), floored ``top_db`` below: what the CNN
    image and the figure both show (``what`` names the caller in the error)."""
    if top_db is None or top_db <= 0:
        raise ConfigError(f"top_db={top_db} must be positive for {what}, e.g. 80")
    return log_mel_spectrogram(y, sr, ref="max", top_db=top_db, **options)


def _image_size(size) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        h = w = 0
    if h < 1 or w < 1:
        raise ConfigError(f"image_size={size!r} must be two positive integers (rows, columns)")
    return h, w


# --------------------------------------------------------------------------- for extractors
def _log_mel_of(est, y: np.ndarray) -> np.ndarray:
    """``log_mel_spectrogram`` of ``y`` with an extractor's own STFT and mel parameters
    (``sr``, ``n_fft``, ``hop_length``, ``win_length``, ``n_mels``, ``fmin``, ``fmax``,
    ``top_db``): one place for the transformers that read a log-mel spectrogram. ``fmax``
    None is :func:`band_limit` (0.85 x Nyquist), not librosa's Nyquist."""
    return log_mel_spectrogram(
        y,
        int(est.sr),
        n_fft=int(est.n_fft),
        hop_length=int(est.hop_length),
        win_length=est.win_length,
        n_mels=int(est.n_mels),
        fmin=float(est.fmin),
        fmax=band_limit(int(est.sr)) if est.fmax is None else float(est.fmax),
        top_db=est.top_db,
    )


def _check_log_mel(est) -> None:
    """Raise :class:`ConfigError` unless an extractor's STFT and mel parameters (those
    :func:`_log_mel_of` reads) make a valid frame grid and mel filterbank."""
    _check_frames(int(est.n_fft), int(est.hop_length), est.win_length)
    mel_filterbank(sr=int(est.sr), n_fft=int(est.n_fft), n_mels=int(est.n_mels),
                   fmin=float(est.fmin),
                   fmax=band_limit(int(est.sr)) if est.fmax is None else float(est.fmax))
