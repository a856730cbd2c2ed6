"""Voice-quality descriptors (eGeMAPS-style) the spectral groups of the pooled features lack.

Per voiced frame, from the frame's power spectrum and its F0 (so nothing here re-tracks pitch):

- ``formant_llds``: F1-F3 and their bandwidths from an LPC fit of the 0-5 kHz band. The LPC
  autocorrelation is the inverse FFT of the frame's (pre-emphasised) power spectrum truncated
  at 5 kHz, i.e. of the signal band-limited and resampled to 10 kHz, for all frames at once;
  Levinson-Durbin runs vectorised over frames and the formants are the peaks of the LPC
  envelope (one FFT of the coefficients), not polynomial roots.
- ``band_llds``: alpha ratio (50-1000 Hz over 1-5 kHz energy, dB), Hammarberg index (strongest
  0-2 kHz bin over strongest 2-5 kHz bin, dB), spectral slopes 0-500 Hz and 500-1500 Hz (dB/kHz,
  regression over the log power spectrum) -- defined for any frame, voiced or not.
- ``harmonic_llds``: H1-H2, H1-A1, H1-A3 (dB; the first two harmonics' levels, the strongest
  harmonic near F1 / F3) and HNR from the normalised autocorrelation at the period lag
  (Boersma's window correction), dB.

Per glottal cycle, from the waveform (``cycle_perturbation``): local jitter (relative period
change between consecutive cycles) and local shimmer (dB amplitude change), from one waveform
peak per period (checked against the F0 track), as Praat's point process does in spirit.

Everything is vectorised numpy; the only Python loop is over voiced runs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "BAND_NAMES",
    "FORMANT_NAMES",
    "HARMONIC_NAMES",
    "PERTURBATION_NAMES",
    "band_llds",
    "cycle_perturbation",
    "formant_llds",
    "harmonic_llds",
    "lpc_from_power",
    "segment_peaks",
]

BAND_NAMES = ("alpha_ratio", "hammarberg", "slope0_500", "slope500_1500")
FORMANT_NAMES = ("f1", "f2", "f3", "f1_bw", "f2_bw", "f3_bw")
HARMONIC_NAMES = ("h1_h2", "h1_a1", "h1_a3", "hnr_acf")
PERTURBATION_NAMES = ("jitter", "shimmer_db")

_AMIN = 1e-10
#: LPC analysis band (Hz) and order: 5 formants below 5 kHz, as Praat's default for speech
LPC_CEILING = 5000.0
LPC_ORDER = 10
#: roots wider than this (Hz) or below this frequency are not formants
_MAX_BW = 700.0
_MIN_FORMANT = 90.0


# --------------------------------------------------------------------------- band energies
@lru_cache(maxsize=16)
def _band_plan(sr: int, n_fft: int, top: float | None = None):
    f = np.arange(1 + n_fft // 2) * sr / n_fft
    top = sr / 2 if top is None else float(top)
    f = f[f <= top + 1e-6]  # the bins the caller analyses (its power spectrum's rows)

    def idx(lo, hi):
        i = np.flatnonzero((f >= lo) & (f < min(hi, top + 1)))
        return i if i.size else np.array([min(len(f) - 1, int(round(lo * n_fft / sr)))])

    lo_a, hi_a = idx(50, 1000), idx(1000, 5000)
    lo_h, hi_h = idx(0, 2000), idx(2000, 5000)
    slopes = []
    for lo, hi in ((0, 500), (500, 1500)):
        i = idx(lo, hi)
        fc = f[i] / 1000.0 - (f[i] / 1000.0).mean()
        ss = float(fc @ fc)
        slopes.append((i, (fc / ss if ss > 0 else fc * 0).astype(np.float64)))
    return lo_a, hi_a, lo_h, hi_h, tuple(slopes)


def band_llds(P: np.ndarray, sr: int, n_fft: int, top: float | None = None) -> np.ndarray:
    """``(4, n)``: alpha ratio, Hammarberg index (dB), slopes 0-500 / 500-1500 Hz (dB/kHz).

    ``P`` is the power spectrum, frequency-major: its bins up to ``top`` Hz (default: Nyquist,
    ``1 + n_fft // 2`` rows); no band reaches above ``top``.
    """
    lo_a, hi_a, lo_h, hi_h, slopes = _band_plan(int(sr), int(n_fft),
                                                None if top is None else float(top))
    P = np.asarray(P, dtype=np.float64)
    out = np.empty((4, P.shape[1]))
    out[0] = 10 * np.log10((P[lo_a].sum(axis=0) + _AMIN) / (P[hi_a].sum(axis=0) + _AMIN))
    out[1] = 10 * np.log10((P[lo_h].max(axis=0) + _AMIN) / (P[hi_h].max(axis=0) + _AMIN))
    for r, (i, w) in enumerate(slopes, start=2):
        out[r] = w @ (10 * np.log10(P[i] + _AMIN))
    return out


# --------------------------------------------------------------------------- LPC and formants
def lpc_from_power(
    P: np.ndarray, sr: int, n_fft: int, *, order: int = LPC_ORDER, ceiling: float = LPC_CEILING,
    preemphasis: float = 0.97,
) -> tuple[np.ndarray, float]:
    """LPC coefficients ``(n, order + 1)`` (``a[:, 0] == 1``) of the 0-``ceiling`` Hz band.

    Returns them with the band's sampling rate (``2 * ceiling`` rounded to whole bins).
    """
    from scipy import fft as sfft

    P = np.asarray(P, dtype=np.float64)
    n_bins = P.shape[0]
    df = sr / n_fft
    nb = int(min(n_bins - 1, round(min(ceiling, sr / 2) / df))) + 1
    w = 2 * np.pi * np.arange(nb) * df / sr
    pre = 1 + preemphasis**2 - 2 * preemphasis * np.cos(w)
    R = sfft.irfft(P[:nb].T * pre, n=2 * (nb - 1), axis=1)[:, : order + 1]
    R[:, 0] *= 1 + 1e-9  # white-noise floor: keeps the recursion stable
    n = R.shape[0]
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = R[:, 0].copy()
    for i in range(1, order + 1):
        acc = R[:, i] + np.einsum("ij,ij->i", a[:, 1:i], R[:, i - 1 : 0 : -1])
        k = -np.divide(acc, err, out=np.zeros(n), where=err > 1e-300)
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1 : 0 : -1]
        a[:, i] = k
        err *= np.maximum(1.0 - k * k, 1e-12)
    return a, 2 * (nb - 1) * df


#: points of the LPC envelope (over 0 .. band rate / 2)
_ENV_FFT = 512


def formant_llds(P: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    """``(6, n)``: F1, F2, F3 and their bandwidths (Hz); NaN where a frame has too few.

    Formants are the first three peaks of the LPC envelope above 90 Hz (one FFT of the
    coefficients per frame, vectorised: no polynomial roots), refined by parabolic
    interpolation; the bandwidth is the -3 dB width of that parabola (a single resonance's
    envelope near its peak). Peaks wider than 700 Hz are not formants.
    """
    from scipy import fft as sfft

    n = P.shape[1]
    out = np.full((6, n), np.nan)
    if n == 0:
        return out
    a, sr_lpc = lpc_from_power(P, sr, n_fft)
    A = sfft.rfft(a, _ENV_FFT, axis=1)
    env = -10 * np.log10(np.maximum(A.real * A.real + A.imag * A.imag, 1e-30))  # dB, (n, K)
    env[~np.isfinite(env).all(axis=1)] = 0.0
    h = sr_lpc / _ENV_FFT  # Hz per envelope point
    y0, y1, y2 = env[:, :-2], env[:, 1:-1], env[:, 2:]
    k = np.arange(1, env.shape[1] - 1)
    curv = y0 - 2 * y1 + y2  # < 0 at a peak
    peak = (y1 > y0) & (y1 >= y2) & (curv < 0) & (k * h > _MIN_FORMANT)
    shift = np.divide(0.5 * (y0 - y2), curv, out=np.zeros_like(curv), where=peak)
    bw = np.sqrt(np.divide(-80.0 / np.log(10), curv, out=np.full_like(curv, np.inf),
                           where=peak)) * h
    peak &= bw < _MAX_BW
    rank = np.cumsum(peak, axis=1)
    rows = np.arange(n)
    for r in range(3):
        hit = peak & (rank == r + 1)
        j = np.argmax(hit, axis=1)
        ok = hit[rows, j]
        out[r] = np.where(ok, (k[j] + shift[rows, j]) * h, np.nan)
        out[3 + r] = np.where(ok, bw[rows, j], np.nan)
    return out


# --------------------------------------------------------------------------- harmonics
@lru_cache(maxsize=8)
def _window_acf(window_bytes: bytes, n_fft: int) -> np.ndarray:
    from scipy import fft as sfft

    w = np.frombuffer(window_bytes, dtype=np.float32).astype(np.float64)
    r = sfft.irfft(np.abs(sfft.rfft(w, 2 * n_fft)) ** 2)[:n_fft]
    return r / r[0]


def _peak_db(P: np.ndarray, centre_bin: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Max of ``P[:, j]`` (dB) over bins ``centre - half .. centre + half``, per column."""
    F, n = P.shape
    width = int(max(1, half.max()))
    offs = np.arange(-width, width + 1)[:, None]
    rows = centre_bin[None, :] + offs
    inside = (np.abs(offs) <= half[None, :]) & (rows >= 0) & (rows < F)
    vals = np.where(inside, P[np.clip(rows, 0, F - 1), np.arange(n)], 0.0)
    return 10 * np.log10(vals.max(axis=0) + _AMIN)


def harmonic_llds(
    P: np.ndarray, f0: np.ndarray, formants: np.ndarray, sr: int, n_fft: int, window: np.ndarray
) -> np.ndarray:
    """``(4, n)``: H1-H2, H1-A1, H1-A3 (dB) and autocorrelation HNR (dB) of voiced frames.

    ``f0`` (Hz) and ``formants`` (the output of :func:`formant_llds`) belong to the same frames.
    """
    from scipy import fft as sfft

    P = np.asarray(P, dtype=np.float64)
    n = P.shape[1]
    out = np.zeros((4, n))
    if n == 0:
        return out
    df = sr / n_fft
    f0 = np.asarray(f0, dtype=np.float64)
    half_h = np.full(n, 1)
    h1 = _peak_db(P, np.rint(f0 / df).astype(int), half_h)
    h2 = _peak_db(P, np.rint(2 * f0 / df).astype(int), half_h)
    half_f = np.maximum(1, np.rint(0.5 * f0 / df).astype(int))
    out[0] = h1 - h2
    for r, row in ((1, 0), (2, 2)):
        fr = formants[row]
        fr = np.where(np.isfinite(fr), fr, 0.0)
        a = _peak_db(P, np.rint(fr / df).astype(int), half_f)
        out[r] = np.where(np.isfinite(formants[row]), h1 - a, 0.0)
    # HNR from the normalised autocorrelation at the period lag, corrected for the window
    acf = sfft.irfft(P.T, n=n_fft, axis=1)
    acf /= np.maximum(acf[:, :1], _AMIN)
    wacf = _window_acf(np.asarray(window, dtype=np.float32).tobytes(), n_fft)
    lag = np.clip(sr / np.maximum(f0, 1.0), 1.0, n_fft / 3)
    lo = np.floor(lag).astype(int)
    frac = lag - lo
    cols = np.arange(n)
    r_lo = acf[cols, lo] / np.maximum(wacf[lo], 1e-3)
    r_hi = acf[cols, lo + 1] / np.maximum(wacf[lo + 1], 1e-3)
    r = np.clip(r_lo * (1 - frac) + r_hi * frac, 1e-4, 1 - 1e-4)
    out[3] = np.clip(10 * np.log10(r / (1 - r)), -20, 40)
    return out


# --------------------------------------------------------------------------- jitter, shimmer
def _local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of ``x``, a flat top at its middle sample (rounded down);
    the ends never count: ``scipy.signal.find_peaks``'s candidates."""
    n = x.size
    if n < 3:
        return np.zeros(0, dtype=np.intp)
    mid = x[1:-1]
    if np.all(x[1:] != x[:-1]):  # no flat tops (the usual case): one comparison each side
        return np.flatnonzero((mid > x[:-2]) & (mid > x[2:])) + 1
    change = np.flatnonzero(x[1:] != x[:-1])  # runs of equal values
    starts = np.concatenate(([0], change + 1))
    ends = np.concatenate((change, [n - 1]))
    ok = (starts >= 1) & (ends <= n - 2)
    starts, ends = starts[ok], ends[ok]
    peak = (x[starts - 1] < x[starts]) & (x[ends + 1] < x[ends])
    return (starts[peak] + ends[peak]) // 2


def _window_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``values[lo[i]:hi[i]].max()`` for every i (windows not empty), by a sparse table: the
    maxima over 1, 2, 4, ... entries, then two lookups a window."""
    width = hi - lo
    levels = [values]
    span = 1
    while 2 * span <= int(width.max()):
        prev = levels[-1]
        nxt = prev.copy()
        np.maximum(prev[: prev.size - span], prev[span:], out=nxt[: prev.size - span])
        levels.append(nxt)
        span *= 2
    k = np.log2(width).astype(np.intp) if len(levels) > 1 else np.zeros(width.size, np.intp)
    table = np.stack(levels)
    return np.maximum(table[k, lo], table[k, hi - (1 << k)])


def segment_peaks(
    x: np.ndarray, seg_start: np.ndarray, distance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.find_peaks(segment, distance=distance[r])[0]`` for every segment of
    ``x`` at once: ``(indices into x, segment of each)``.

    ``x`` holds the segments end to end from ``seg_start``, each followed by ``+inf`` (so no
    candidate or flat top spans two segments). The same indices as scipy's, ties and flat tops
    included (``tests/test_voice_quality.py``), for every voiced run of a clip in a few numpy
    calls, without importing ``scipy.signal`` (70-100 ms of a cold ``predict``, issue 16). By
    height, highest first, each peak removes the lower ones closer than its segment's
    distance: a peak that is the highest within that distance on both sides is kept, and
    removes its neighbours (two windowed maxima settle almost every peak); the few left are
    settled in rounds (kept when no undecided or kept higher peak is near, removed when a
    kept one is). Equal heights are ordered by numpy's ``argsort`` of the segment's heights,
    as scipy orders them.
    """
    cand = _local_maxima(x)
    cand = cand[np.isfinite(x[cand])]  # a separator between two segments is a maximum too
    run = np.searchsorted(seg_start, cand, side="right") - 1
    n = cand.size
    if n == 0:
        return cand, run
    D = distance[run]
    bounds = np.searchsorted(cand, np.append(seg_start, x.size))  # each segment's candidates
    lo = np.maximum(np.searchsorted(cand, cand - D + 1), bounds[run])
    hi = np.minimum(np.searchsorted(cand, cand + D), bounds[run + 1])
    h = x[cand]
    order = np.lexsort((h, run))
    rank = np.empty(n, dtype=np.intp)
    rank[order] = np.arange(n)
    srt, srun = h[order], run[order]
    tied = srun[1:][(srt[1:] == srt[:-1]) & (srun[1:] == srun[:-1])]
    for r in np.unique(tied):  # equal heights in a segment: argsort's order, as scipy's
        members = np.flatnonzero(run == r)
        rank[members[np.argsort(h[members])]] = rank[members].min() + np.arange(members.size)
    top = _window_max(rank, lo, hi) == rank
    near_kept = _window_max(np.where(top, rank, -1), lo, hi) > rank
    state = np.where(top, 1, np.where(near_kept, -1, 0)).astype(np.int8)
    todo = np.flatnonzero(state == 0)
    while todo.size:
        idx = lo[todo][:, None] + np.arange(int((hi[todo] - lo[todo]).max()))
        higher = idx < hi[todo][:, None]
        idx = np.minimum(idx, n - 1)
        higher &= rank[idx] > rank[todo][:, None]
        st = state[idx]
        kept_hi = (higher & (st == 1)).any(axis=1)
        live_hi = (higher & (st >= 0)).any(axis=1)
        state[todo[kept_hi]] = -1
        state[todo[~live_hi]] = 1
        todo = np.flatnonzero(state == 0)
    keep = state == 1
    return cand[keep], run[keep]


def cycle_perturbation(
    y: np.ndarray, sr: int, f0: np.ndarray, voiced: np.ndarray, hop: int,
    *, max_ratio: float = 1.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cycle local jitter (relative) and shimmer (dB) over the voiced runs of ``y``.

    ``f0`` (Hz) and ``voiced`` are per frame, frame ``t`` centred on sample ``t * hop``. In each
    voiced run (at least 4 median periods long) the cycle peaks are the waveform maxima at
    least 0.7 median periods apart (the polarity with the larger peaks;
    :func:`segment_peaks`, scipy's ``find_peaks`` for all runs at once), refined by parabolic
    interpolation; a run with fewer than 4 peaks gives nothing. A period more than
    ``max_ratio`` away from the F0 track's, or from the previous period (a missed or doubled
    cycle), is skipped. All runs are computed together: the values are those of one run at a
    time, in run order.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    T = len(f0)
    empty = (np.zeros(0), np.zeros(0))
    if n < 3 or T == 0 or not np.any(voiced):
        return empty
    m = np.concatenate([[False], np.asarray(voiced, dtype=bool), [False]]).astype(np.int8)
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    period = sr / np.maximum(np.asarray(f0, dtype=np.float64), 1.0)
    a = np.maximum(0, starts * hop - hop // 2)
    b = np.minimum(n, (ends - 1) * hop + hop // 2 + 1)
    # each run's median period (np.median's value): one sort of all runs' frames by run, then
    # period, and the middle one or two of each run
    lens = ends - starts
    first = np.concatenate(([0], np.cumsum(lens)[:-1]))
    frames = np.repeat(starts - first, lens) + np.arange(int(lens.sum()))
    srt = period[frames][np.lexsort((period[frames], np.repeat(np.arange(lens.size), lens)))]
    mid_lo, mid_hi = srt[first + (lens - 1) // 2], srt[first + lens // 2]
    pmed = np.where(lens % 2 == 1, mid_lo, (mid_lo + mid_hi) / 2)
    ok = b - a >= 4 * pmed
    if not ok.any():
        return empty
    a, pmed, L = a[ok], pmed[ok], (b - a)[ok]
    # the runs' samples end to end, each in the polarity with the larger peaks, +inf after each
    cat_start = np.concatenate(([0], np.cumsum(L)[:-1]))
    ycat = y[np.repeat(a - cat_start, L) + np.arange(int(L.sum()))]
    flip = np.maximum.reduceat(ycat, cat_start) < -np.minimum.reduceat(ycat, cat_start)
    seg_start = cat_start + np.arange(L.size)
    x = np.full(int(L.sum()) + L.size, np.inf)
    x[np.repeat(seg_start - cat_start, L) + np.arange(int(L.sum()))] = np.where(
        np.repeat(flip, L), -ycat, ycat)
    pk, run = segment_peaks(x, seg_start, np.maximum(1, (0.7 * pmed).astype(np.intp)))
    enough = np.bincount(run, minlength=L.size)[run] >= 4
    pk, run = pk[enough], run[enough]
    if pk.size < 4:
        return empty
    y0, y1, y2 = x[pk - 1], x[pk], x[pk + 1]  # a peak is never a segment's end
    den = y0 - 2 * y1 + y2
    sh = np.clip(np.divide(0.5 * (y0 - y2), den, out=np.zeros_like(den),
                           where=np.abs(den) > 1e-12), -0.5, 0.5)
    local = pk - seg_start[run]
    pos = local + sh
    amp = np.maximum(y1 - 0.25 * (y0 - y2) * sh, 1e-9)
    per = np.diff(pos)
    expect = period[np.minimum(T - 1, (a[run[1:]] + local[1:] + hop // 2) // hop)]
    good = (per < max_ratio * expect) & (per > expect / max_ratio)
    with np.errstate(divide="ignore", invalid="ignore"):  # periods across two runs: dropped
        ratio = per[1:] / per[:-1]
        keep = good[1:] & good[:-1] & (ratio < max_ratio) & (ratio > 1 / max_ratio)
        keep &= run[2:] == run[:-2]
        jit = (np.abs(np.diff(per)) / (0.5 * (per[1:] + per[:-1])))[keep]
        shim = np.abs(20 * np.log10(amp[2:] / amp[1:-1]))[keep]
    return jit, shim
