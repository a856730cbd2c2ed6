"""A fast, vectorised YIN pitch tracker (de Cheveigné & Kawahara 2002) that also returns the
aperiodicity of every frame, so voicing needs no second pass.

``librosa.pyin`` is about 100x slower (an HMM over many thresholds) and ``librosa.yin`` returns
no voicing measure; this is YIN's cumulative mean normalised difference computed with FFTs on all
frames at once (the formulation ``librosa.yin`` uses), in float32 and in blocks of frames so
memory is bounded for long signals.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..exceptions import ConfigError
from ._spectrogram import frame_signal

__all__ = ["yin", "yin_frame_length"]

#: frames per FFT block: bounds memory for long signals (~10 MB at the default sizes)
_BLOCK = 2048


def yin_frame_length(sr: int, f0_min: float) -> int:
    """Smallest fast, even frame holding two periods of ``f0_min`` (YIN's window + lag)."""
    from scipy.fft import next_fast_len

    max_period = int(np.ceil(sr / f0_min))
    n = next_fast_len(2 * max_period + 2, real=True)
    return n + (n % 2)


@lru_cache(maxsize=8)
def _running_mean_matrix(n: int) -> np.ndarray:
    """``(n, n)`` float32: row ``k`` averages the first ``k + 1`` entries (YIN's cumulative
    mean over lags 1 .. k + 1)."""
    out = np.tril(np.ones((n, n), dtype=np.float64)) / np.arange(1, n + 1)[:, None]
    out = out.astype(np.float32)
    out.setflags(write=False)
    return out


def _cmndf(
    frames: np.ndarray, energy: np.ndarray, win: int, min_p: int, max_p: int
) -> np.ndarray:
    """Cumulative mean normalised difference, lag-major: ``(max_p - min_p + 1, n_frames)``.

    ``energy[t, k]`` is the energy of frame ``t``'s samples ``k+1 .. k+win``.
    """
    from scipy import fft as sfft

    L = frames.shape[1]
    a = sfft.rfft(frames, L, axis=1)
    b = sfft.rfft(frames[:, win:0:-1], L, axis=1)
    a *= b
    acf = sfft.irfft(a, L, axis=1)[:, win : win + max_p + 1]
    # d(tau) = e(0) + e(tau) - 2 r(tau), then lag-major (rows of lags)
    acf *= -2
    acf += energy
    acf += energy[:, :1]
    d = np.ascontiguousarray(acf.T)
    np.maximum(d, 0, out=d)
    # cumulative sum over lags as a product with a triangle of ones (numpy's cumsum along an
    # axis of rows is not vectorised; BLAS is, and here holds one thread)
    cum = _running_mean_matrix(max_p) @ d[1:]
    num = d[min_p:]
    den = cum[min_p - 1 :]
    ok = den > 1e-12
    out = np.ones_like(num)
    np.divide(num, den, out=out, where=ok)
    return out


def yin(
    y: np.ndarray,
    sr: int = 16000,
    *,
    f0_min: float = 60.0,
    f0_max: float = 600.0,
    hop_length: int = 160,
    frame_length: int | None = None,
    threshold: float = 0.15,
    center: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz) and aperiodicity (0 = periodic, ~1 = noise) per frame, both float32 ``(T,)``.

    With ``center=True`` there are ``1 + len(y) // hop_length`` frames, aligned with
    :func:`~emoclassic.audio.stft_magnitude` at the same hop. The period is YIN's first dip
    below ``threshold`` (else the deepest dip), refined by parabolic interpolation. Every frame
    gets an estimate: decide voicing from the aperiodicity (e.g. ``< 0.3``) and the energy.
    """
    if not 0 < f0_min < f0_max < sr / 2:
        raise ConfigError(
            f"need 0 < f0_min ({f0_min}) < f0_max ({f0_max}) < sr/2 ({sr / 2}); e.g. 60 and 600"
        )
    L = int(frame_length or yin_frame_length(sr, f0_min))
    win = L // 2
    min_p = max(1, int(np.floor(sr / f0_max)))
    max_p = min(int(np.ceil(sr / f0_min)), L - win - 1)
    if max_p <= min_p + 1:
        raise ConfigError(f"frame_length={L} is too short for f0_min={f0_min} Hz at sr={sr}")
    y = np.asarray(y, dtype=np.float32)
    # the signal as frame_signal pads it (built once: the frames and the running sums read it)
    h = L // 2 if center else 0
    pad = np.zeros(max(len(y) + 2 * h, L), dtype=np.float32)
    pad[h : h + len(y)] = y
    frames = frame_signal(pad, frame_length=L, hop_length=hop_length, center=False)
    # window energies from one cumulative sum over the padded signal, framed like the audio
    cs = np.empty(len(pad) + 1)
    cs[0] = 0.0
    np.cumsum(pad * pad, dtype=np.float64, out=cs[1:])
    ewin = (cs[win + 1 :] - cs[1:-win]).astype(np.float32)  # ewin[j] = sum x[j+1 .. j+win]
    T = frames.shape[0]
    energies = np.lib.stride_tricks.sliding_window_view(ewin, max_p + 1)[::hop_length][:T]
    f0 = np.empty(T, dtype=np.float32)
    ap = np.empty(T, dtype=np.float32)
    for s in range(0, T, _BLOCK):
        d = _cmndf(frames[s : s + _BLOCK], energies[s : s + _BLOCK], win, min_p, max_p)
        n_lag, n = d.shape
        cols = np.arange(n)
        # local minima (a dip at the range's edges counts too) below the threshold
        trough = np.empty(d.shape, dtype=bool)
        np.less(d[1:-1], d[:-2], out=trough[1:-1])
        trough[1:-1] &= d[1:-1] <= d[2:]
        trough[0] = d[0] < d[1]
        trough[-1] = d[-1] < d[-2]
        trough &= d < threshold
        first = np.argmax(trough, axis=0)
        idx = np.where(trough[first, cols], first, np.argmin(d, axis=0))
        # parabolic interpolation around the chosen lag
        lo = np.maximum(idx - 1, 0)
        hi = np.minimum(idx + 1, n_lag - 1)
        y0, y1, y2 = d[lo, cols], d[idx, cols], d[hi, cols]
        denom = y0 - 2 * y1 + y2
        shift = np.zeros(n, dtype=np.float32)
        np.divide(0.5 * (y0 - y2), denom, out=shift, where=np.abs(denom) > 1e-9)
        shift = np.where((idx > 0) & (idx < n_lag - 1), np.clip(shift, -1, 1), 0.0)
        f0[s : s + n] = sr / (idx + min_p + shift)
        ap[s : s + n] = np.clip(y1, 0.0, 1.0)
    return f0, ap
