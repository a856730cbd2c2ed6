"""Pooled descriptors: low-level descriptors per 10 ms frame, summarised by functionals.

Speed is the design: ONE STFT per segment, and every descriptor derived from it with matrix
products (mel filterbank, DCT for MFCC, frequency moments for the spectral shape), ZCR and energy
from the same frames, pitch from one vectorised YIN pass at 4 kHz; then one ``(n_lld, n_frames)``
matrix per group goes through all functionals in a few numpy calls. Nothing calls
``librosa.feature.*`` (each call would recompute the STFT).

Descriptor groups (the rows of the LLD matrices)
    ``logmel``   log-mel energies in dB (``n_mels`` bands)
    ``mfcc``     DCT-II (orthonormal) of the log-mel bands, ``n_mfcc`` coefficients
    ``spectral`` centroid, bandwidth, roll-off 25/50/85/95 %, flatness, entropy, flux, skewness,
                 kurtosis, slope (dB/kHz) of the magnitude spectrum
    ``contrast`` spectral contrast in octave bands from 200 Hz (librosa's definition)
    ``energy``   RMS level (dB), loudness (sum of mel powers ** 0.3), zero-crossing rate
    ``pitch``    F0 (semitones re 27.5 Hz) and harmonics-to-noise ratio over voiced frames, plus
                 voicing statistics (ratio, segment rate and lengths, jitter, voiced/unvoiced level)
    ``bands``    alpha ratio, Hammarberg index, spectral slopes 0-500 / 500-1500 Hz (eGeMAPS)
    ``rasta``    RASTA-filtered log-mel bands (band-pass over time: slow channel effects and
                 fast frame noise removed, as ComParE's auditory spectrum)
    voice quality (``vq``, voiced frames only): formants F1-F3 and bandwidths (LPC), H1-H2,
                 H1-A1, H1-A3, autocorrelation HNR; per glottal cycle: jitter and shimmer

Each preset lists blocks ``(group, delta order, functionals)``; see :data:`PRESETS`.

This module holds the computation of one segment's vector (:func:`_features_of`) and
nothing else: the recipes are in :mod:`._presets`, the matrices and names they imply in
:mod:`._pooled_plan`, the statistics over time in :mod:`._functionals`, and the estimator
(input, caching, long files) in :mod:`._pooled`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any

import numpy as np

from . import _voice
from ._functionals import functionals
from ._io import _normalize, trim_silence
from ._pitch import yin
from ._pooled_plan import PITCH_SR, VQ_NAMES, _Plan
from ._spectrogram import AMIN, delta, frame_signal

_ROLLOFF = np.array([0.25, 0.50, 0.85, 0.95], dtype=np.float32)
#: RASTA filter (numerator, denominator), as in Hermansky & Morgan / openSMILE
_RASTA_B = np.array([0.2, 0.1, 0.0, -0.1, -0.2])
_RASTA_POLE = 0.94
_RASTA_BLOCK = 32
#: frames per STFT block: bounds memory for long segments
_BLOCK = 2048
#: YIN aperiodicity below which a frame may be voiced (with enough energy)
VOICING_THRESHOLD = 0.3
#: frames more than this many dB below the loudest (or below -70 dBFS) are never voiced
VOICING_RANGE_DB = 45.0


# --------------------------------------------------------------------------- descriptors
def _rolloff_bins(M: np.ndarray, fractions: np.ndarray, block: int = 16) -> list[np.ndarray]:
    """For each fraction, the first bin where the cumulative magnitude reaches it, per frame.

    Two levels instead of a full cumulative sum over ``(F, n)`` (numpy's cumsum is not
    vectorised: 3.5 ns an element): cumulate block sums to find the block of the crossing,
    then cumulate the ``block`` bins of that block only; all fractions at once (the arrays
    are small, so the number of numpy calls is what costs).
    """
    F, n = M.shape
    nb = F // block
    blk = M[: nb * block].reshape(nb, block, n).sum(axis=1)
    cblk = np.cumsum(blk, axis=0)
    total = cblk[-1] + M[nb * block :].sum(axis=0)
    thr = np.asarray(fractions, dtype=M.dtype)[:, None] * total  # (f, n)
    k = (cblk[None] < thr[:, None]).sum(axis=1, dtype=np.int32)  # block of each crossing
    cols = np.arange(n)
    before = np.where(k > 0, cblk[np.maximum(k - 1, 0), cols], 0)
    rows = np.minimum(k[None] * block + np.arange(block)[:, None, None], F - 1)  # (block, f, n)
    within = M.ravel().take(rows * n + cols).reshape(block, -1)
    fine = (_lower_ones(block) @ within).reshape(rows.shape)  # the cumulative sum, by BLAS
    out = k * block + (fine < (thr - before)[None]).sum(axis=0, dtype=np.int32)
    return list(np.minimum(out, F - 1))


@lru_cache(maxsize=4)
def _lower_ones(n: int) -> np.ndarray:
    """``(n, n)`` float32 lower-triangular ones: ``L @ x`` is the cumulative sum of ``x``."""
    out = np.tril(np.ones((n, n), dtype=np.float32))
    out.setflags(write=False)
    return out


def _top_mean(B: np.ndarray, q: int, largest: bool) -> np.ndarray:
    """Mean of the ``q`` largest (or smallest) values down each column of ``B`` ``(nb, n)``."""
    if q == 1:
        return B.max(axis=0) if largest else B.min(axis=0)
    if q == 2:
        cols = np.arange(B.shape[1])
        i = B.argmax(axis=0) if largest else B.argmin(axis=0)
        first = B[i, cols]
        C = B.copy()
        C[i, cols] = -np.inf if largest else np.inf
        return 0.5 * (first + (C.max(axis=0) if largest else C.min(axis=0)))
    S = np.sort(B, axis=0)
    return S[-q:].mean(axis=0) if largest else S[:q].mean(axis=0)


def _power(frames: np.ndarray, plan: _Plan) -> np.ndarray:
    """Power spectrum ``(n_bins, n)`` float32 of a block of frames, the analysed band only."""
    from scipy import fft as sfft

    # frequency-major straight from the FFT (along the frames' columns): no transpose copy
    X = sfft.rfft((frames * plan.window).T, axis=0)[: plan.n_bins]
    P = X.real * X.real
    P += X.imag * X.imag
    P.setflags(write=False)  # may be shared between blocks (_Shared): never changed in place
    return P


def _block_llds(
    P: np.ndarray, plan: _Plan, prev_pm: np.ndarray | None
) -> tuple[dict, np.ndarray | None]:
    """Descriptors of one block's power spectrum (:func:`_power`), each ``(k, n)`` float32;
    plus the last normalised spectrum.

    Frequency-major ``(F, n)`` arrays throughout: reductions and cumulative sums over frequency
    then run over contiguous rows, vectorised across frames.
    """
    g = plan.groups
    out: dict[str, np.ndarray] = {}
    mel = None
    if g & {"logmel", "mfcc", "energy", "rasta"}:
        mel = plan.melfb @ P  # (n_mels, n)
        logmel = 10.0 * np.log10(np.maximum(mel, AMIN))
        if g & {"logmel", "rasta"}:
            out["logmel"] = logmel
        if "mfcc" in g:
            out["mfcc"] = plan.dct_T @ logmel
    if "bands" in g:
        out["bands"] = _voice.band_llds(P, plan.sr, plan.n_fft, plan.top).astype(np.float32)
    last = prev_pm
    if g & {"spectral", "contrast"}:
        M = np.sqrt(P)
        F = M.shape[0]
        if "spectral" in g:
            msum = M.sum(axis=0)
            pm = M * (1.0 / np.maximum(msum, 1e-12))
            mom = plan.fpow_T @ pm  # raw moments in kHz, (4, n)
            mu, m2, m3r, m4r = mom
            var = np.maximum(m2 - mu * mu, 0.0)
            sd = np.sqrt(var)
            m3 = m3r - 3 * mu * m2 + 2 * mu**3
            m4 = m4r - 4 * mu * m3r + 6 * mu * mu * m2 - 3 * mu**4
            okv = var > 1e-9
            skew = np.divide(m3, sd**3, out=np.zeros_like(mu), where=okv)
            kurt = np.divide(m4, var * var, out=np.zeros_like(mu), where=okv)
            roll = [plan.freqs[i] for i in _rolloff_bins(M, _ROLLOFF)]
            Pc = np.maximum(P, AMIN)
            logP = np.log(Pc)
            flat = np.exp(logP.mean(axis=0)) / Pc.mean(axis=0)
            psum = Pc.sum(axis=0)
            ent = (np.log(psum) - np.einsum("ij,ij->j", Pc, logP) / psum) / np.log(F)
            slope = (plan.fcent @ logP) * (10 / np.log(10)) / plan.fcent_ss  # dB per kHz
            prev = pm[:, 0] if prev_pm is None else prev_pm
            dpm = np.empty_like(pm)
            dpm[:, 0] = pm[:, 0] - prev
            np.subtract(pm[:, 1:], pm[:, :-1], out=dpm[:, 1:])
            flux = np.sqrt(np.einsum("ij,ij->j", dpm, dpm))
            out["spectral"] = np.stack(
                [mu * 1000, sd * 1000, *roll, flat, ent, flux, skew, kurt, slope]
            ).astype(np.float32)
            last = pm[:, -1].copy()
        if "contrast" in g:
            rows = []
            for lo, hi, q in plan.bands:
                B = M[lo:hi]
                peak, valley = _top_mean(B, q, True), _top_mean(B, q, False)
                rows.append(10.0 * np.log10((peak + AMIN) / (valley + AMIN)))
            out["contrast"] = np.stack(rows).astype(np.float32)
    if "energy" in g:
        out["loudness"] = (np.maximum(mel, 0) ** 0.3).sum(axis=0)
    return out, last


def _energy_zcr(pad: np.ndarray, plan: _Plan, T: int, zcr: bool):
    """Frame RMS level (dB) and zero-crossing rate from running sums over the signal.

    ``pad`` is the signal as the STFT frames it (zero-padded by ``n_fft // 2`` at both ends,
    :func:`_centre_padded`): the same frames (``n_fft`` long, unwindowed), in O(len(y))
    instead of O(n_frames * n_fft).
    """
    n = plan.n_fft
    starts = np.arange(T) * plan.hop
    # frames start and end on multiples of g = gcd(hop, n_fft) (32 samples at the defaults):
    # sum the squares per g-sample piece (reduceat: vectorised), then cumulate the pieces
    g = math.gcd(plan.hop, n)
    m = len(pad) // g
    cs = np.zeros(m + 1)
    cs[1:] = np.add.reduceat(pad[: m * g] * pad[: m * g], np.arange(0, m * g, g),
                             dtype=np.float64).cumsum()
    ms = np.maximum(cs[(starts + n) // g] - cs[starts // g], 0.0) / n
    rms_db = (10.0 * np.log10(np.maximum(ms, AMIN))).astype(np.float32)
    if not zcr:
        return rms_db, None
    sb = np.signbit(pad)
    cz = np.zeros(len(pad), dtype=np.int32)
    np.cumsum(sb[1:] != sb[:-1], dtype=np.int32, out=cz[1:])
    return rms_db, ((cz[starts + n - 1] - cz[starts]) / (n - 1)).astype(np.float32)


def _centre_padded(y: np.ndarray, n_fft: int) -> np.ndarray:
    """``y`` with ``n_fft // 2`` zeros at both ends (at least ``n_fft`` long): what
    :func:`frame_signal` frames with ``center=True``, built once for the STFT and the running
    sums."""
    h = n_fft // 2
    out = np.zeros(max(len(y) + 2 * h, n_fft), dtype=np.float32)
    out[h : h + len(y)] = y
    return out


def _pitch_track(y: np.ndarray, plan: _Plan, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz) and aperiodicity on the STFT's frame grid, tracked at 4 kHz."""
    sr = plan.sr
    if sr > PITCH_SR:
        import soxr

        y = soxr.resample(y, sr, PITCH_SR, quality="LQ").astype(np.float32, copy=False)
        psr = PITCH_SR
    else:
        psr = sr
    hop = max(1, int(round(plan.hop * psr / sr)))
    f0, ap = yin(y, psr, f0_min=plan.f0_min, f0_max=plan.f0_max, hop_length=hop)
    if len(f0) != n_frames or hop * sr != plan.hop * psr:  # map onto the STFT frame times
        idx = np.minimum(np.round(np.arange(n_frames) * plan.hop / sr * psr / hop).astype(int),
                         len(f0) - 1)
        f0, ap = f0[idx], ap[idx]
    return _median5(f0), ap


def _median5(x: np.ndarray) -> np.ndarray:
    """5-frame running median (edges repeated): removes isolated octave jumps cheaply.

    The median of five by six comparisons (the median of three of ``e``, the larger of the
    two pairs' minima and the smaller of their maxima) instead of a sort of five shifted
    copies: 17 against 37 us a clip. A median is one of its values, so taking it in log
    frequency, as the tracker's octave errors suggest, gives the same value: no logarithm.
    """
    if x.size < 3:
        return x
    n = x.size
    p = np.pad(x, 2, mode="edge")
    a, b, c, d, e = (p[i : i + n] for i in range(5))
    lo = np.maximum(np.minimum(a, b), np.minimum(c, d))
    hi = np.minimum(np.maximum(a, b), np.maximum(c, d))
    return np.maximum(np.minimum(e, lo), np.minimum(np.maximum(e, lo), hi)).astype(np.float32)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths (frames) of the True runs and of the False runs of a boolean vector."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    on = ends - starts
    m2 = np.concatenate([[True], mask, [True]]).astype(np.int8)
    d2 = np.diff(m2)
    s2, e2 = np.flatnonzero(d2 == -1), np.flatnonzero(d2 == 1)
    return on, e2 - s2


def _voiced_mask(f0, ap, rms_db, plan: _Plan) -> np.ndarray:
    """Voiced frames: periodic enough, loud enough, F0 in range."""
    loud_enough = (rms_db > rms_db.max() - VOICING_RANGE_DB) & (rms_db > -70.0)
    return (ap < VOICING_THRESHOLD) & loud_enough & (f0 >= plan.f0_min) & (f0 <= plan.f0_max)


def _pitch_features(f0, ap, rms_db, plan: _Plan, frame_rate: float) -> np.ndarray:
    p = plan.preset
    T = len(f0)
    voiced = _voiced_mask(f0, ap, rms_db, plan)
    vidx = np.flatnonzero(voiced)
    parts = []
    if vidx.size and (p.pitch or p.hnr):  # both rows through one functionals call
        st = 12.0 * np.log2(f0[vidx].astype(np.float64) / 27.5)
        a = np.clip(ap[vidx].astype(np.float64), 1e-4, 1 - 1e-4)
        hnr = np.clip(10 * np.log10((1 - a) / a), -20, 40)
        funcs = tuple(dict.fromkeys((*p.pitch, *p.hnr)))
        F = functionals(np.stack([st, hnr]), funcs, frame_rate=frame_rate, t=vidx / frame_rate)
        col = {f: j for j, f in enumerate(funcs)}
        parts.append(F[0, [col[f] for f in p.pitch]])
        parts.append(F[1, [col[f] for f in p.hnr]])
    else:
        parts += [np.zeros(len(p.pitch)), np.zeros(len(p.hnr))]
    on, off = _runs(voiced)
    dur = T / frame_rate
    if vidx.size > 1:
        st = 12.0 * np.log2(f0.astype(np.float64) / 27.5)
        both = voiced[1:] & voiced[:-1]
        jitter = float(np.abs(np.diff(st))[both].mean()) if both.any() else 0.0
    else:
        jitter = 0.0
    overall = float(rms_db.mean())
    parts.append(np.array([
        vidx.size / T,
        on.size / dur,
        on.mean() / frame_rate if on.size else 0.0,
        on.std() / frame_rate if on.size else 0.0,
        off.mean() / frame_rate if off.size else 0.0,
        jitter,
        float(rms_db[voiced].mean()) if vidx.size else overall,
        float(rms_db[~voiced].mean()) if vidx.size < T else overall,
    ]))
    return np.concatenate(parts)


def _rasta(logmel: np.ndarray) -> np.ndarray:
    """RASTA band-pass (Hermansky & Morgan 1994) of each log band along time, started at rest.

    ``H(z) = 0.1 (2 + z^-1 - z^-3 - 2 z^-4) / (1 - 0.94 z^-1)``, with the state of a band that
    held its first value forever (what ``scipy.signal.lfilter`` gives with ``lfilter_zi``
    times the first column; the numerator sums to 0, so that state outputs 0). Written out
    because importing ``scipy.signal`` costs 70-100 ms of a cold ``predict`` (issue 16): the
    numerator is four shifted products; the one-pole recursion runs in blocks of
    :data:`_RASTA_BLOCK` frames, each block from rest by one product with a triangle of pole
    powers and the blocks' ends carried by a second one (powers <= 1: nothing overflows). It
    equals lfilter's to 2e-15 dB (``tests/test_pooled.py``), and is faster (180 against 260 us
    for 26 bands of 3 s).
    """
    x = logmel.astype(np.float64)
    R, T = x.shape
    xp = np.empty((R, T + 4))
    xp[:, :4] = x[:, :1]
    xp[:, 4:] = x
    b = _RASTA_B
    v = b[0] * xp[:, 4:] + b[1] * xp[:, 3:-1] + b[3] * xp[:, 1:-3] + b[4] * xp[:, :-4]
    B = _RASTA_BLOCK
    nb = -(-T // B)
    V = np.zeros((R, nb * B))
    V[:, :T] = v
    Z = V.reshape(R, nb, B) @ _pole_powers(B, 1).T  # each block's response from rest
    ends = Z[:, :, -1] @ _pole_powers(nb, B).T  # the output at each block's end, carried
    Z[:, 1:, :] += ends[:, :-1, None] * _RASTA_POLE ** np.arange(1, B + 1)
    return Z.reshape(R, nb * B)[:, :T].astype(np.float32)


@lru_cache(maxsize=16)
def _pole_powers(n: int, step: int) -> np.ndarray:
    """``(n, n)`` lower triangle of ``pole ** ((i - j) * step)``: a one-pole recursion as a
    product."""
    k = np.arange(n)
    e = (k[:, None] - k[None, :]) * step
    out = np.where(e >= 0, _RASTA_POLE ** np.maximum(e, 0), 0.0)
    out.setflags(write=False)
    return out


def _vq_features(frames: np.ndarray, f0: np.ndarray, voiced: np.ndarray, plan: _Plan,
                 frame_rate: float) -> np.ndarray:
    """Functionals of the voice-quality descriptors over the voiced frames (0 with none)."""
    from scipy import fft as sfft

    funcs = plan.preset.vq
    vidx = np.flatnonzero(voiced)
    if vidx.size == 0:
        return np.zeros(len(VQ_NAMES) * len(funcs))
    out = []
    for s in range(0, vidx.size, _BLOCK):
        idx = vidx[s : s + _BLOCK]
        X = sfft.rfft(frames[idx] * plan.window, axis=1)[:, : plan.n_bins]
        P = np.ascontiguousarray((X.real * X.real + X.imag * X.imag).T)  # the analysed band
        fm = _voice.formant_llds(P, plan.sr, plan.n_fft)
        out.append(np.concatenate(
            [fm, _voice.harmonic_llds(P, f0[idx], fm, plan.sr, plan.n_fft, plan.window)]))
    V = out[0] if len(out) == 1 else np.concatenate(out, axis=1)
    # a frame with too few formant candidates: the clip's median of that formant (0 if none)
    bad = ~np.isfinite(V)
    if bad.any():
        med = np.array([np.median(r[np.isfinite(r)]) if np.isfinite(r).any() else 0.0
                        for r in V])
        V = np.where(bad, med[:, None], V)
    return functionals(V, funcs, frame_rate=frame_rate, t=vidx / frame_rate).reshape(-1)


def _band_limited(y: np.ndarray, plan: _Plan, *, full: bool = False) -> np.ndarray:
    """``y`` without what lies above the analysed band (``plan.top``), float32.

    The descriptors computed from the waveform itself (RMS level, zero-crossing rate, pitch,
    per-cycle jitter and shimmer), the silence trimming and the STFT (whose window leaks a
    few bins across the band's edge) then see the same band as the spectral descriptors, so
    the rate a file was stored at, whose resampler's roll-off lies above the band, reaches
    none of them: without it the zero-crossing rate, which counts the crossings of broadband
    noise in quiet frames, moved by several times its spread across clips when 7-8 kHz was lost
    to resampling, and the trimming cut (hence the frame grid) moved by a few samples.

    A linear-phase FIR (:func:`~._pooled_plan._lowpass`) by linear convolution
    (:func:`_fir_full`): zero padding before the signal stays zero padding after the filter,
    which an FFT brick wall (circular) or an IIR filter (whose state starts at the first
    sample) would not give. ``full``: the whole convolution, the filter's tails included
    (``len(y) + taps - 1`` samples; what trimming cuts, so that a clip and the same clip padded
    with zeros trim to the same samples); else the ``len(y)`` samples aligned with ``y``.
    """
    h = plan.lowpass
    if h is None or y.size == 0:
        return y
    out = _fir_full(y, h)
    if full:
        return out
    d = (h.size - 1) // 2
    return out[d : d + y.size]


def _fir_full(y: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The full linear convolution ``y * h`` (float32), by overlap-save in one batch of FFTs.

    Why not ``scipy.signal.oaconvolve`` (the same algorithm): it transforms its blocks one
    call at a time at a block length chosen for long filters; here every block of a segment
    goes through one 2-D ``rfft``/``irfft`` pair at a short block (:func:`_fir_block`, 512
    samples for the 99-tap band filter): 0.33 against 0.73 ms an EmoDB clip (2.8 s at
    16 kHz; ``np.convolve``, direct, 0.65-0.85 ms). Equal to ``np.convolve`` in float64
    within float32 rounding (4e-7 at full scale).
    """
    from scipy import fft as sfft

    m = h.size
    N, H = _fir_block(h.tobytes(), m)
    step = N - m + 1
    n = y.size + m - 1
    nb = -(-n // step)
    pad = np.zeros(nb * step + N - step + m - 1, dtype=np.float32)
    pad[m - 1 : m - 1 + y.size] = y
    blocks = np.lib.stride_tricks.sliding_window_view(pad, N)[::step][:nb]
    out = sfft.irfft(sfft.rfft(blocks, axis=1) * H, N, axis=1)[:, m - 1 :]
    return out.reshape(-1)[:n].astype(np.float32, copy=False)


@lru_cache(maxsize=8)
def _fir_block(h_bytes: bytes, m: int) -> tuple[int, np.ndarray]:
    """Block length (the smallest power of two at least 4x the filter, 512 at least: measured
    fastest for 99 taps, from 384 to 4 096) and the filter's spectrum at that length."""
    from scipy import fft as sfft

    h = np.frombuffer(h_bytes, dtype=np.float32, count=m)
    N = max(512, 1 << int(np.ceil(np.log2(4 * m))))
    H = sfft.rfft(h, N).astype(np.complex64)
    H.setflags(write=False)
    return N, H


class _Shared:
    """The intermediate results of the segments analysed last on this thread, for the next
    block of the same model that analyses the same segment the same way.

    A model with two pooled blocks (both recommended specs) decodes, band-limits, trims and
    normalises each clip, frames it, takes its power spectrum, tracks its pitch and its level
    twice, identically. A warm application (:class:`emoclassic.Recognizer`, the server) runs
    the blocks on one clip one after the other, and ``stream`` on the few windows that have
    arrived, so the second block finds all of that here. Per thread (the server predicts in a
    thread pool), the last :data:`SHARED_SEGMENTS` segments and at most
    :data:`SHARED_BYTES` of arrays, least recently used first out: a large batch, which runs
    block after block over all rows, only cycles through it. The key names the source (a file
    by path, segment, size and modification time; an in-memory array by identity, kept
    referenced while held so that its identity is not reused); each result's name holds
    everything else it depends on (the plan's analysis parameters, trimming, normalisation;
    the decoding options). The values are the ones the unshared path computes, so vectors are
    bit-identical (tests/test_pooled.py). Arrays held are read-only.
    """

    _local = threading.local()

    @classmethod
    def _held(cls) -> OrderedDict:
        held = getattr(cls._local, "held", None)
        if held is None:
            held = cls._local.held = OrderedDict()
            cls._local.nbytes = 0
        return held

    @classmethod
    def get(cls, key: Hashable | None, name: Hashable, compute: Callable[[], Any]) -> Any:
        if key is None:
            return compute()
        held = cls._held()
        store = held.get(key)
        if store is None:
            store = held[key] = {}
        held.move_to_end(key)
        if name not in store:
            value = compute()
            for a in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(a, np.ndarray):
                    a.setflags(write=False)  # shared: a block that wrote into it would fail
                    cls._local.nbytes += a.nbytes
            store[name] = value
            while len(held) > 1 and (len(held) > SHARED_SEGMENTS
                                     or cls._local.nbytes > SHARED_BYTES):
                _, old = held.popitem(last=False)
                cls._local.nbytes -= _nbytes(old)
        return store[name]

    @classmethod
    def clear(cls) -> None:
        cls._local.held = None


def _nbytes(store: dict) -> int:
    return sum(a.nbytes for v in store.values()
               for a in (v if isinstance(v, (tuple, list)) else (v,))
               if isinstance(a, np.ndarray))  # fmt: skip


#: segments (and bytes of arrays) each thread keeps for the next block (:class:`_Shared`):
#: enough for the windows ``stream`` predicts at once (32)
SHARED_SEGMENTS = 32
SHARED_BYTES = 64 * 2**20


def _analysed(y: np.ndarray, plan: _Plan, *, trim: bool, trim_db: float,
              normalize: str | None, share: Hashable | None):
    """A segment prepared (band-limited, trimmed, level-normalised) and its spectral
    descriptors per frame: ``(how, y, pad, frames, llds)``, what :func:`_features_of` and
    :func:`frame_llds` share (``how``: the analysis settings, part of every shared name)."""
    # everything the shared results depend on besides the source: part of their names
    how = (plan.sr, plan.n_fft, plan.hop, plan.win, plan.top, plan.f0_min, plan.f0_max,
           bool(trim), float(trim_db), normalize)

    def prepared():
        z = _band_limited(np.asarray(y, dtype=np.float32), plan, full=trim)
        if trim:
            z = trim_silence(z, plan.sr, top_db=trim_db)
        z = _normalize(z, normalize, "waveform")
        if share is not None and np.may_share_memory(z, y):
            z = z.copy()  # the slot freezes what it holds: never the caller's array
        return z, _centre_padded(z, plan.n_fft)  # as frame_signal(center=True) pads

    z, pad = _Shared.get(share, ("prepared", how), prepared)
    frames_all = frame_signal(pad, frame_length=plan.n_fft, hop_length=plan.hop, center=False)
    T = frames_all.shape[0]
    powers = _Shared.get(share, ("power", how), lambda: [
        _power(frames_all[s : s + _BLOCK], plan) for s in range(0, T, _BLOCK)])
    acc: dict[str, list[np.ndarray]] = {}
    prev = None
    for P in powers:
        block, prev = _block_llds(P, plan, prev)
        for k, v in block.items():
            acc.setdefault(k, []).append(v)
    llds = {k: (v[0] if len(v) == 1 else np.concatenate(v, axis=-1)) for k, v in acc.items()}
    return how, z, pad, frames_all, llds


#: the frame-level descriptor groups of :func:`frame_llds` and their rows' names
FRAME_GROUP_ROWS = {
    "energy": ("rms_db", "loudness", "zcr"),
    "pitch": ("f0_st", "voicing"),
}


def frame_llds(y: np.ndarray, plan: _Plan, groups: tuple[str, ...], *, deltas: int,
               trim: bool = True, trim_db: float = 60.0, normalize: str | None = "peak",
               share: Hashable | None = None) -> np.ndarray:
    """The low-level descriptors of one segment per frame, ``(rows, T)`` float32: the
    sequence the pooled functionals summarise, for encoders of frame sequences
    (:class:`~emoclassic.audio.FrameDescriptors`).

    The segment is prepared exactly as for the pooled vector (band limit, trimming, level
    normalisation), so the frames inherit its recording invariance. ``groups`` in order, from
    ``mfcc``, ``logmel``, ``rasta``, ``spectral``, ``energy`` (RMS level in dB, loudness,
    zero-crossing rate) and ``pitch`` (F0 in semitones re 27.5 Hz on voiced frames, 0 on
    unvoiced ones, and the periodicity 1 - YIN's aperiodicity); then ``deltas`` orders of
    deltas of every row. ``plan.groups`` must hold the spectral groups asked for.
    """
    how, y, pad, frames_all, llds = _analysed(y, plan, trim=trim, trim_db=trim_db,
                                              normalize=normalize, share=share)
    T = frames_all.shape[0]
    rms_db = None
    if "energy" in groups or "pitch" in groups:
        rms_db, zcr = _Shared.get(share, ("energy", how), lambda: _energy_zcr(pad, plan, T, True)) \
            if share is not None else _energy_zcr(pad, plan, T, True)
    rows: list[np.ndarray] = []
    for g in groups:
        if g == "rasta":
            rows.append(_rasta(llds["logmel"]))
        elif g == "energy":
            rows.append(np.stack([rms_db, llds["loudness"], zcr]))
        elif g == "pitch":
            f0, ap = _Shared.get(share, ("pitch", how), lambda: _pitch_track(y, plan, T))
            voiced = _voiced_mask(f0, ap, rms_db, plan)
            st = np.zeros(T, dtype=np.float32)
            st[voiced] = 12.0 * np.log2(f0[voiced] / 27.5)
            rows.append(np.stack([st, np.clip(1.0 - ap, 0.0, 1.0)]))
        else:
            rows.append(llds[g])
    M = np.concatenate(rows, axis=0).astype(np.float32)
    out = [M]
    for _ in range(int(deltas)):
        out.append(delta(out[-1], width=5))
    return np.concatenate(out, axis=0).astype(np.float32, copy=False)


def _features_of(y: np.ndarray, plan: _Plan, *, trim: bool = False, trim_db: float = 60.0,
                 normalize: str | None = None, share: Hashable | None = None) -> np.ndarray:
    """The preset's feature vector of one mono float32 segment.

    In this order: band-limited (:func:`_band_limited`), trimmed (``trim``:
    :func:`~._io.trim_silence`) and level-normalised (``normalize``), then analysed. Trimming
    the band-limited signal makes the cut, and so the frame grid that every descriptor is
    computed on, the same whatever rate the file was stored at: the cut lands on the first
    sample as loud as the threshold, and what the resamplers change (above the band) would
    otherwise move that sample by a few samples, and every frame with it.

    ``share``: the key of the segment's source, when another block may analyse the same
    segment next (:class:`_Shared`); None computes everything here.
    """
    how, y, pad, frames_all, llds = _analysed(y, plan, trim=trim, trim_db=trim_db,
                                              normalize=normalize, share=share)
    T = frames_all.shape[0]
    has_pitch = bool(plan.preset.pitch or plan.preset.hnr)
    split_vuv = bool(plan.preset.voiced or plan.preset.unvoiced or plan.preset.vq
                     or plan.preset.perturbation)
    if "energy" in plan.groups or has_pitch or split_vuv:
        # with the zero-crossing rate whenever shared: a block that needs it may come next
        want_zcr = "energy" in plan.groups
        rms_db, zcr = _Shared.get(share, ("energy", how), lambda: _energy_zcr(pad, plan, T, True)) \
            if share is not None else _energy_zcr(pad, plan, T, want_zcr)
        zcr = zcr if want_zcr else None
        llds["rms_db"] = rms_db
        if zcr is not None:
            llds["energy"] = np.stack([rms_db, llds.pop("loudness"), zcr]).astype(np.float32)
    frame_rate = plan.sr / plan.hop
    if "rasta" in plan.groups:
        llds["rasta"] = _rasta(llds["logmel"])
    if plan.preset.smooth > 1:  # ComParE's "sma": a moving average before deltas/functionals
        from scipy.ndimage import uniform_filter1d

        for g in plan.groups:
            llds[g] = uniform_filter1d(llds[g], plan.preset.smooth, axis=1, mode="nearest")
    # deltas of every group that needs them in one call per order (groups stacked)
    deltas: dict[tuple[str, int], np.ndarray] = {}
    for order in (1, 2):
        groups = list(dict.fromkeys(
            g for g, o, _ in (*plan.preset.blocks, *plan.preset.voiced, *plan.preset.unvoiced)
            if o >= order
        ))
        if not groups:
            break
        base = [llds[g] if order == 1 else deltas[(g, 1)] for g in groups]
        D = delta(np.concatenate(base, axis=0), width=5)
        r = 0
        for g, b in zip(groups, base, strict=True):
            deltas[(g, order)] = D[r : r + b.shape[0]]
            r += b.shape[0]

    # one functionals call per distinct functional set, over all its blocks stacked
    by_funcs: dict[tuple[str, ...], list[int]] = {}
    mats = []
    for b, (group, order, funcs) in enumerate(plan.preset.blocks):
        mats.append(deltas[(group, order)] if order else llds[group])
        by_funcs.setdefault(funcs, []).append(b)
    results: dict[int, np.ndarray] = {}
    for funcs, blocks in by_funcs.items():
        stacked = np.concatenate([mats[b] for b in blocks], axis=0)
        F = functionals(stacked, funcs, frame_rate=frame_rate)
        r = 0
        for b in blocks:
            k = mats[b].shape[0]
            results[b] = F[r : r + k].reshape(-1)
            r += k
    parts: list[np.ndarray] = [results[b] for b in range(len(mats))]
    f0 = ap = None
    if split_vuv:
        f0, ap = _Shared.get(share, ("pitch", how), lambda: _pitch_track(y, plan, T))
        voiced = _voiced_mask(f0, ap, llds["rms_db"], plan)
        t_all = np.arange(T) / frame_rate
        for blocks, mask in ((plan.preset.voiced, voiced), (plan.preset.unvoiced, ~voiced)):
            for group, order, funcs in blocks:
                M = deltas[(group, order)] if order else llds[group]
                parts.append(functionals(M[:, mask], funcs, frame_rate=frame_rate,
                                         t=t_all[mask]).reshape(-1))
        if plan.preset.vq:
            parts.append(_vq_features(frames_all, f0, voiced, plan, frame_rate))
        if plan.preset.perturbation:
            jit, shim = _voice.cycle_perturbation(y, plan.sr, f0, voiced, plan.hop)
            for v in (jit, shim):
                parts.append(functionals(v[None, :], plan.preset.perturbation,
                                         frame_rate=frame_rate)[0] if v.size
                             else np.zeros(len(plan.preset.perturbation)))
    if has_pitch:
        if f0 is None:
            f0, ap = _Shared.get(share, ("pitch", how), lambda: _pitch_track(y, plan, T))
        parts.append(_pitch_features(f0, ap, llds["rms_db"], plan, frame_rate))
    out = np.concatenate(parts).astype(np.float32)
    if out.shape[0] != len(plan.names):  # pragma: no cover - a bug, not a user error
        raise RuntimeError(f"pooled features: {out.shape[0]} values for {len(plan.names)} names")
    return out
