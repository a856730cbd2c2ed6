"""Pooled features: low-level descriptors per 10 ms frame, summarised over time by functionals.

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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..exceptions import ConfigError
from . import _voice
from ._base import AudioExtractor
from ._io import _load, iter_windows, load_windows
from ._pitch import yin
from ._spectrogram import (
    AMIN,
    _check_frames,
    _window,
    delta,
    frame_signal,
    mel_filterbank,
    single_thread_blas,
)

logger = logging.getLogger(__name__)

__all__ = ["PooledFeatures", "PRESETS", "FUNCTIONALS", "Preset", "pooled_features"]

# --------------------------------------------------------------------------- functionals
_PCT = {"p1": 1, "p5": 5, "p10": 10, "p25": 25, "p50": 50, "p75": 75, "p90": 90, "p95": 95,
        "p99": 99}
_RANGES = {
    "range": ("max", "min"),
    "range1_99": ("p99", "p1"),
    "range10_90": ("p90", "p10"),
    "iqr25_75": ("p75", "p25"),
    "iqr25_50": ("p50", "p25"),
    "iqr50_75": ("p75", "p50"),
}
_UPLEVEL = {"uplevel25": 0.25, "uplevel50": 0.50, "uplevel75": 0.75, "uplevel90": 0.90}

#: Every functional and what it means (units: those of the descriptor; times in seconds).
FUNCTIONALS: dict[str, str] = {
    "mean": "arithmetic mean",
    "std": "standard deviation (population)",
    "skew": "skewness (0 for a constant)",
    "kurtosis": "excess kurtosis (0 for a constant)",
    "min": "minimum",
    "max": "maximum",
    **{k: f"{v}th percentile (linear interpolation)" for k, v in _PCT.items()},
    **{k: f"{a} - {b}" for k, (a, b) in _RANGES.items()},
    "slope": "linear-regression slope over time (units per second)",
    "offset": "linear-regression value at the segment's start",
    "regerr": "RMS error of the linear regression",
    **{k: f"fraction of frames above min + {int(v * 100)} % of the range"
       for k, v in _UPLEVEL.items()},
    "risetime": "fraction of frames where the descriptor rises",
    "falltime": "fraction of frames where the descriptor falls",
    "meanabsdelta": "mean absolute frame-to-frame change (units per second)",
    "tcentroid": "temporal centroid of (x - min), 0 = start, 1 = end",
    "qmean": "quadratic mean (RMS)",
}

MS = ("mean", "std")
BASIC = ("mean", "std", "p10", "p50", "p90", "slope")
STATS = ("mean", "std", "skew", "kurtosis", "p10", "p50", "p90", "range10_90", "slope", "regerr")
LARGE = (
    "mean", "std", "skew", "kurtosis", "qmean", "min", "max", "range",
    "p1", "p5", "p25", "p50", "p75", "p95", "p99",
    "range1_99", "iqr25_75", "iqr25_50", "iqr50_75",
    "slope", "offset", "regerr",
    "uplevel25", "uplevel50", "uplevel75", "uplevel90",
    "risetime", "falltime", "meanabsdelta", "tcentroid",
)


def functionals(
    M: np.ndarray, funcs: tuple[str, ...], *, frame_rate: float, t: np.ndarray | None = None
) -> np.ndarray:
    """Apply ``funcs`` to each row of ``M`` ``(k, T)``: returns ``(k, len(funcs))`` float64.

    ``t`` are the frames' times in seconds (default ``arange(T) / frame_rate``). Every value is
    finite for finite input, whatever ``T >= 1`` (constants give 0 spread, slope and shape).
    """
    M = np.asarray(M, dtype=np.float64)
    k, T = M.shape
    out = np.zeros((k, len(funcs)))
    if T == 0 or k == 0:
        return out
    need = set(funcs)
    vals: dict[str, np.ndarray] = {}
    mean = M.mean(axis=1)
    vals["mean"] = mean
    C = M - mean[:, None]
    var = np.einsum("ij,ij->i", C, C) / T
    std = np.sqrt(var)
    vals["std"] = std
    if need & {"skew", "kurtosis"}:
        flat = var <= 1e-12 * np.maximum(1.0, mean * mean)
        safe = np.where(flat, 1.0, var)
        C2 = C * C
        vals["skew"] = np.where(flat, 0.0, np.einsum("ij,ij->i", C2, C) / T / safe**1.5)
        vals["kurtosis"] = np.where(flat, 0.0, np.einsum("ij,ij->i", C2, C2) / T / safe**2 - 3)
    if "qmean" in need:
        vals["qmean"] = np.sqrt(var + mean * mean)
    order_stats = {"min", "max", *(_PCT), *(_RANGES), *(_UPLEVEL), "tcentroid"}
    if need & order_stats:
        S = np.sort(M, axis=1)
        vals["min"], vals["max"] = S[:, 0], S[:, -1]
        for name, q in _PCT.items():
            pos = q / 100 * (T - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, T - 1)
            frac = pos - lo
            vals[name] = S[:, lo] * (1 - frac) + S[:, hi] * frac
        for name, (a, b) in _RANGES.items():
            vals[name] = vals[a] - vals[b]
        for name, p in _UPLEVEL.items():
            if name in need:
                thr = vals["min"] + p * vals["range"]
                vals[name] = (thr[:, None] < M).mean(axis=1)
        if "tcentroid" in need:
            W = M - vals["min"][:, None]
            s = W.sum(axis=1)
            rel = np.arange(T) / (T - 1) if T > 1 else np.full(1, 0.5)
            vals["tcentroid"] = np.divide(W @ rel, s, out=np.full(k, 0.5), where=s > 1e-12)
    if need & {"slope", "offset", "regerr"}:
        tt = np.arange(T) / frame_rate if t is None else np.asarray(t, dtype=np.float64)
        tbar = tt.mean()
        tc = tt - tbar
        stt = float(tc @ tc)
        slope = (C @ tc) / stt if stt > 0 else np.zeros(k)
        vals["slope"] = slope
        vals["offset"] = mean - slope * tbar
        vals["regerr"] = np.sqrt(np.maximum(var - slope * slope * stt / T, 0.0))
    if need & {"risetime", "falltime", "meanabsdelta"}:
        if T > 1:
            D = np.diff(M, axis=1)
            vals["risetime"] = (D > 0).mean(axis=1)
            vals["falltime"] = (D < 0).mean(axis=1)
            vals["meanabsdelta"] = np.abs(D).mean(axis=1) * frame_rate
        else:
            vals["risetime"] = vals["falltime"] = vals["meanabsdelta"] = np.zeros(k)
    for j, name in enumerate(funcs):
        out[:, j] = vals[name]
    return out


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """A recipe: blocks of ``(group, delta order, functionals)`` plus the pitch statistics.

    ``pitch`` are functionals of F0 over voiced frames, ``hnr`` those of the harmonics-to-noise
    ratio; either non-empty adds the voicing statistics too. ``n_mfcc`` is the default number
    of MFCCs (the ``n_mfcc`` parameter overrides it). ``voiced`` and ``unvoiced`` are blocks
    whose functionals are taken over the voiced (resp. unvoiced) frames only, as eGeMAPS does
    for its spectral descriptors: the spectrum of the voice itself, apart from pauses and
    fricatives (named ``voiced_{row}_{fn}`` / ``unvoiced_{row}_{fn}``; 0 with no such frame).
    ``vq`` are functionals of the voice-quality descriptors of voiced frames (formants,
    harmonic levels, autocorrelation HNR: ``voiced_f1_mean`` ...), ``perturbation`` those of
    the per-cycle jitter and shimmer (``jitter_mean``, ``shimmer_db_mean`` ...). ``smooth``
    > 1 smooths every descriptor group with a moving average of that many frames before deltas
    and functionals (ComParE's "sma"; pitch, voicing and the voiced-frame mask are unaffected).
    """

    description: str
    blocks: tuple[tuple[str, int, tuple[str, ...]], ...]
    pitch: tuple[str, ...] = ()
    hnr: tuple[str, ...] = ()
    n_mfcc: int = 13
    voiced: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    unvoiced: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    vq: tuple[str, ...] = ()
    perturbation: tuple[str, ...] = ()
    smooth: int = 0


#: The named recipes (dims at the defaults: n_mels=64, 16 kHz).
PRESETS: dict[str, Preset] = {
    "logmel-meanstd": Preset(
        "mean and std of each log-mel band: the bare baseline",
        (("logmel", 0, MS),),
    ),
    "compact": Preset(
        "MFCC 0-12 (+deltas), spectral shape, contrast, energy, pitch: ~170 dims",
        (
            ("mfcc", 0, BASIC),
            ("mfcc", 1, MS),
            ("spectral", 0, MS),
            ("contrast", 0, MS),
            ("energy", 0, BASIC),
        ),
        pitch=("mean", "std", "p10", "p50", "p90", "range10_90", "slope"),
        hnr=("mean", "std"),
        n_mfcc=13,
    ),
    "default": Preset(
        "log-mel mean/std, MFCC 0-19 with deltas, spectral, contrast, energy, pitch: ~850 dims",
        (
            ("logmel", 0, MS),
            ("mfcc", 0, STATS),
            ("mfcc", 1, STATS),
            ("mfcc", 2, MS),
            ("spectral", 0, STATS),
            ("contrast", 0, STATS),
            ("energy", 0, STATS),
            ("spectral", 1, MS),
            ("contrast", 1, MS),
            ("energy", 1, MS),
        ),
        pitch=("mean", "std", "skew", "kurtosis", "p10", "p50", "p90", "range10_90", "slope",
               "meanabsdelta"),
        hnr=("mean", "std", "p50"),
        n_mfcc=20,
    ),
    "large": Preset(
        "ComParE-like: every descriptor and its delta x 30 functionals: ~6 000 dims",
        (
            ("logmel", 0, LARGE),
            ("logmel", 1, LARGE),
            ("mfcc", 0, LARGE),
            ("mfcc", 1, LARGE),
            ("spectral", 0, LARGE),
            ("spectral", 1, LARGE),
            ("contrast", 0, LARGE),
            ("contrast", 1, LARGE),
            ("energy", 0, LARGE),
            ("energy", 1, LARGE),
        ),
        pitch=LARGE,
        hnr=LARGE,
        n_mfcc=14,
    ),
}
_VUV = (("logmel", 0, MS), ("mfcc", 0, STATS), ("spectral", 0, STATS), ("contrast", 0, STATS),
        ("energy", 0, STATS), ("mfcc", 1, MS), ("spectral", 1, MS))
PRESETS["large-vuv"] = Preset(
    "large plus functionals over voiced and over unvoiced frames (the eGeMAPS split)",
    PRESETS["large"].blocks,
    pitch=LARGE,
    hnr=LARGE,
    n_mfcc=14,
    voiced=_VUV,
    unvoiced=tuple((g, o, MS) for g, o, _ in _VUV),
)

PRESETS["large-vq"] = Preset(
    "large-vuv plus eGeMAPS-style voice quality: alpha ratio, Hammarberg index, spectral slopes, "
    "formants F1-F3, harmonic levels, autocorrelation HNR, jitter, shimmer",
    (*PRESETS["large"].blocks, ("bands", 0, LARGE), ("bands", 1, LARGE)),
    pitch=LARGE,
    hnr=LARGE,
    n_mfcc=14,
    voiced=(*_VUV, ("bands", 0, STATS)),
    unvoiced=(*PRESETS["large-vuv"].unvoiced, ("bands", 0, MS)),
    vq=STATS,
    perturbation=("mean", "std", "p10", "p50", "p90"),
)

PRESETS["rasta-vq"] = Preset(
    "what large-vq and RASTA add to large-vuv, alone: RASTA log-mel, eGeMAPS bands and voice "
    "quality (a second block beside large-vuv, for late fusion)",
    (("rasta", 0, LARGE), ("rasta", 1, LARGE), ("bands", 0, LARGE), ("bands", 1, LARGE)),
    voiced=(("bands", 0, STATS),),
    unvoiced=(("bands", 0, MS),),
    vq=STATS,
    perturbation=("mean", "std", "p10", "p50", "p90"),
)

#: presets whose cache keys predate recipe hashing (see PooledFeatures._extra_identity)
_LEGACY_PRESETS = frozenset({"logmel-meanstd", "compact", "default", "large", "large-vuv"})

SPECTRAL_NAMES = (
    "centroid", "bandwidth", "rolloff25", "rolloff50", "rolloff85", "rolloff95",
    "flatness", "entropy", "flux", "skewness", "kurtosis", "slope",
)
_ROLLOFF = np.array([0.25, 0.50, 0.85, 0.95], dtype=np.float32)
ENERGY_NAMES = ("rms_db", "loudness", "zcr")
VOICING_NAMES = (
    "voiced_ratio", "voiced_segments_per_s", "voiced_segment_mean_s", "voiced_segment_std_s",
    "unvoiced_segment_mean_s", "f0_jitter_st", "rms_db_voiced_mean", "rms_db_unvoiced_mean",
)
#: pitch is tracked at this rate (YIN needs no more; below it the signal is used as it is)
PITCH_SR = 4000
#: voice-quality rows (voiced frames), in output order
VQ_NAMES = (*_voice.FORMANT_NAMES, *_voice.HARMONIC_NAMES)
#: RASTA filter (numerator, denominator), as in Hermansky & Morgan / openSMILE
_RASTA_B = np.array([0.2, 0.1, 0.0, -0.1, -0.2])
_RASTA_A = np.array([1.0, -0.94])
#: frames per STFT block: bounds memory for long segments
_BLOCK = 2048
#: YIN aperiodicity below which a frame may be voiced (with enough energy)
VOICING_THRESHOLD = 0.3
#: frames more than this many dB below the loudest (or below -70 dBFS) are never voiced
VOICING_RANGE_DB = 45.0


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class _Plan:
    sr: int
    n_fft: int
    hop: int
    win: int
    window: np.ndarray
    melfb: np.ndarray  # (n_mels, F)
    dct_T: np.ndarray  # (n_mfcc, n_mels)
    freqs: np.ndarray  # (F,) Hz
    fpow_T: np.ndarray  # (4, F) kHz ** 1..4
    fcent: np.ndarray  # (F,) kHz, centred, for the spectral slope
    fcent_ss: float
    bands: tuple[tuple[int, int, int], ...]  # (lo, hi, q) for contrast
    preset: Preset
    groups: frozenset
    n_mfcc: int
    f0_min: float
    f0_max: float
    names: tuple[str, ...]


def _group_rows(group: str, n_mels: int, n_mfcc: int, n_bands: int) -> list[str]:
    if group == "logmel":
        return [f"logmel_{i}" for i in range(n_mels)]
    if group == "mfcc":
        return [f"mfcc_{i}" for i in range(n_mfcc)]
    if group == "spectral":
        return list(SPECTRAL_NAMES)
    if group == "contrast":
        return [f"contrast_{i}" for i in range(n_bands)]
    if group == "energy":
        return list(ENERGY_NAMES)
    if group == "bands":
        return list(_voice.BAND_NAMES)
    if group == "rasta":
        return [f"rasta_{i}" for i in range(n_mels)]
    raise ConfigError(f"unknown descriptor group {group!r}; use one of logmel, mfcc, spectral, "
                      "contrast, energy, bands, rasta")


def _contrast_bands(sr: int, n_fft: int) -> tuple[tuple[int, int, int], ...]:
    """Octave bands from 200 Hz (as librosa's spectral_contrast), the last up to Nyquist."""
    freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    edges = [0.0]
    f = 200.0
    while f < sr / 2 and len(edges) < 7:
        edges.append(f)
        f *= 2
    edges.append(sr / 2 + 1)
    out = []
    for lo_f, hi_f in zip(edges[:-1], edges[1:], strict=True):
        idx = np.flatnonzero((freqs >= lo_f) & (freqs < hi_f))
        if idx.size:
            out.append((int(idx[0]), int(idx[-1]) + 1, max(1, int(round(0.02 * idx.size)))))
    return tuple(out)


@lru_cache(maxsize=32)
def _plan(preset: str, sr: int, n_fft: int, hop: int, win_length, n_mels: int, n_mfcc,
          fmin: float, fmax, f0_min: float, f0_max: float) -> _Plan:
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} is unknown; use one of {sorted(PRESETS)}")
    p = PRESETS[preset]
    win = _check_frames(n_fft, hop, win_length)
    n_mfcc = int(p.n_mfcc if n_mfcc is None else n_mfcc)
    n_mels = int(n_mels)
    groups = frozenset(g for g, _, _ in (*p.blocks, *p.voiced, *p.unvoiced))
    if "mfcc" in groups and not 1 <= n_mfcc <= n_mels:
        raise ConfigError(f"n_mfcc={n_mfcc} must lie in [1, n_mels={n_mels}]")
    if (p.pitch or p.hnr) and not 0 < f0_min < f0_max < min(sr, PITCH_SR) / 2:
        raise ConfigError(
            f"need 0 < f0_min ({f0_min}) < f0_max ({f0_max}) < {min(sr, PITCH_SR) / 2} Hz; "
            "e.g. f0_min=60, f0_max=600"
        )
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=float(fmin),
                        fmax=None if fmax is None else float(fmax))
    from scipy.fft import dct as _dct

    dct_T = np.ascontiguousarray(
        _dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc], dtype=np.float32
    )
    freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    fk = freqs / 1000.0
    fpow_T = np.stack([fk, fk**2, fk**3, fk**4]).astype(np.float32)
    fcent = (fk - fk.mean()).astype(np.float32)
    bands = _contrast_bands(sr, n_fft)
    names: list[str] = []
    for part, blocks in (("", p.blocks), ("voiced_", p.voiced), ("unvoiced_", p.unvoiced)):
        for group, order, funcs in blocks:
            suffix = {0: "", 1: "_d", 2: "_dd"}.get(order)
            if suffix is None:
                raise ConfigError(f"delta order {order} is not supported; use 0, 1 or 2")
            unknown = [f for f in funcs if f not in FUNCTIONALS]
            if unknown:
                raise ConfigError(f"unknown functionals {unknown}; see FUNCTIONALS")
            for row in _group_rows(group, n_mels, n_mfcc, len(bands)):
                names.extend(f"{part}{row}{suffix}_{fn}" for fn in funcs)
    for fn in p.vq:
        if fn not in FUNCTIONALS:
            raise ConfigError(f"unknown functional {fn!r} in vq; see FUNCTIONALS")
    names.extend(f"voiced_{row}_{fn}" for row in VQ_NAMES for fn in p.vq)
    names.extend(f"{row}_{fn}" for row in _voice.PERTURBATION_NAMES for fn in p.perturbation)
    names.extend(f"f0_voiced_{fn}" for fn in p.pitch)
    names.extend(f"hnr_voiced_{fn}" for fn in p.hnr)
    if p.pitch or p.hnr:
        names.extend(VOICING_NAMES)
    return _Plan(sr, n_fft, hop, win, _window("hann", win, n_fft), fb,
                 dct_T, freqs.astype(np.float32), fpow_T, fcent, float(fcent @ fcent), bands, p,
                 groups, n_mfcc, float(f0_min), float(f0_max), tuple(names))


# --------------------------------------------------------------------------- descriptors
def _rolloff_bins(M: np.ndarray, fractions: np.ndarray, block: int = 16) -> list[np.ndarray]:
    """For each fraction, the first bin where the cumulative magnitude reaches it, per frame.

    Two levels instead of a full cumulative sum over ``(F, n)`` (numpy's cumsum is not
    vectorised): cumulate block sums to find the block of the crossing, then cumulate the
    ``block`` bins of that block only.
    """
    F, n = M.shape
    nb = F // block
    blk = M[: nb * block].reshape(nb, block, n).sum(axis=1)
    cblk = np.cumsum(blk, axis=0)
    total = cblk[-1] + M[nb * block :].sum(axis=0)
    cols = np.arange(n)
    offs = np.arange(block)[:, None]
    out = []
    for frac in fractions:
        thr = total * frac
        k = np.count_nonzero(cblk < thr, axis=0)  # block holding the crossing
        before = np.where(k > 0, cblk[np.maximum(k - 1, 0), cols], 0.0)
        rows = np.minimum(k * block + offs, F - 1)
        fine = np.cumsum(M[rows, cols], axis=0) + before
        out.append(np.minimum(k * block + np.count_nonzero(fine < thr, axis=0), F - 1))
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


def _block_llds(
    frames: np.ndarray, plan: _Plan, prev_pm: np.ndarray | None
) -> tuple[dict, np.ndarray | None]:
    """Descriptors of one block of frames, each ``(k, n)`` float32; plus the last norm. spectrum.

    Frequency-major ``(F, n)`` arrays throughout: reductions and cumulative sums over frequency
    then run over contiguous rows, vectorised across frames.
    """
    from scipy import fft as sfft

    g = plan.groups
    out: dict[str, np.ndarray] = {}
    X = sfft.rfft(frames * plan.window, axis=1)
    P = X.real * X.real
    P += X.imag * X.imag
    P = np.ascontiguousarray(P.T)  # power (F, n)
    mel = None
    if g & {"logmel", "mfcc", "energy", "rasta"}:
        mel = plan.melfb @ P  # (n_mels, n)
        logmel = 10.0 * np.log10(np.maximum(mel, AMIN))
        if g & {"logmel", "rasta"}:
            out["logmel"] = logmel
        if "mfcc" in g:
            out["mfcc"] = plan.dct_T @ logmel
    if "bands" in g:
        out["bands"] = _voice.band_llds(P, plan.sr, plan.n_fft).astype(np.float32)
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


def _energy_zcr(y: np.ndarray, plan: _Plan, T: int, zcr: bool):
    """Frame RMS level (dB) and zero-crossing rate from running sums over the signal.

    The same frames as the STFT (centred, ``n_fft`` long, unwindowed), in O(len(y)) instead of
    O(n_frames * n_fft).
    """
    n = plan.n_fft
    pad = np.pad(y, n // 2)
    if len(pad) < n:
        pad = np.pad(pad, (0, n - len(pad)))
    starts = np.arange(T) * plan.hop
    cs = np.empty(len(pad) + 1)
    cs[0] = 0.0
    np.cumsum(np.square(pad, dtype=np.float64), out=cs[1:])
    ms = np.maximum(cs[starts + n] - cs[starts], 0.0) / n
    rms_db = (10.0 * np.log10(np.maximum(ms, AMIN))).astype(np.float32)
    if not zcr:
        return rms_db, None
    sb = np.signbit(pad)
    cz = np.zeros(len(pad), dtype=np.int64)
    np.cumsum(sb[1:] != sb[:-1], out=cz[1:])
    return rms_db, ((cz[starts + n - 1] - cz[starts]) / (n - 1)).astype(np.float32)


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
    """5-frame running median in log frequency: removes isolated octave jumps cheaply."""
    if x.size < 3:
        return x
    lg = np.log(np.pad(x, 2, mode="edge"))
    n = x.size
    stack = np.stack([lg[i : i + n] for i in range(5)])
    return np.exp(np.sort(stack, axis=0)[2]).astype(np.float32)


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
    t = vidx / frame_rate
    if p.pitch:
        if vidx.size:
            st = 12.0 * np.log2(f0[vidx] / 27.5)
            parts.append(functionals(st[None, :], p.pitch, frame_rate=frame_rate, t=t)[0])
        else:
            parts.append(np.zeros(len(p.pitch)))
    if p.hnr:
        if vidx.size:
            a = np.clip(ap[vidx].astype(np.float64), 1e-4, 1 - 1e-4)
            hnr = np.clip(10 * np.log10((1 - a) / a), -20, 40)
            parts.append(functionals(hnr[None, :], p.hnr, frame_rate=frame_rate, t=t)[0])
        else:
            parts.append(np.zeros(len(p.hnr)))
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
    """RASTA band-pass (Hermansky & Morgan 1994) of each log band along time, started at rest."""
    from scipy.signal import lfilter, lfilter_zi

    b, a = _RASTA_B, _RASTA_A
    zi = lfilter_zi(b, a)[None, :] * logmel[:, :1]
    out, _ = lfilter(b, a, logmel.astype(np.float64), axis=1, zi=zi)
    return out.astype(np.float32)


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
        X = sfft.rfft(frames[idx] * plan.window, axis=1)
        P = np.ascontiguousarray((X.real * X.real + X.imag * X.imag).T)
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


def _features_of(y: np.ndarray, plan: _Plan) -> np.ndarray:
    """The preset's feature vector of one mono float32 segment."""
    y = np.asarray(y, dtype=np.float32)
    frames_all = frame_signal(y, frame_length=plan.n_fft, hop_length=plan.hop, center=True)
    T = frames_all.shape[0]
    acc: dict[str, list[np.ndarray]] = {}
    prev = None
    for s in range(0, T, _BLOCK):
        block, prev = _block_llds(frames_all[s : s + _BLOCK], plan, prev)
        for k, v in block.items():
            acc.setdefault(k, []).append(v)
    llds = {k: (v[0] if len(v) == 1 else np.concatenate(v, axis=-1)) for k, v in acc.items()}
    has_pitch = bool(plan.preset.pitch or plan.preset.hnr)
    split_vuv = bool(plan.preset.voiced or plan.preset.unvoiced or plan.preset.vq
                     or plan.preset.perturbation)
    if "energy" in plan.groups or has_pitch or split_vuv:
        rms_db, zcr = _energy_zcr(y, plan, T, "energy" in plan.groups)
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
        f0, ap = _pitch_track(y, plan, T)
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
            f0, ap = _pitch_track(y, plan, T)
        parts.append(_pitch_features(f0, ap, llds["rms_db"], plan, frame_rate))
    out = np.concatenate(parts).astype(np.float32)
    if out.shape[0] != len(plan.names):  # pragma: no cover - a bug, not a user error
        raise RuntimeError(f"pooled features: {out.shape[0]} values for {len(plan.names)} names")
    return out


def pooled_features(y: np.ndarray, sr: int = 16000, *, preset: str = "default", **params):
    """Functional API: the feature vector of one waveform (see :class:`PooledFeatures`)."""
    est = PooledFeatures(preset=preset, sr=sr, **params)
    est._check_params()
    with single_thread_blas():
        return est._features(np.asarray(y, dtype=np.float32))


# --------------------------------------------------------------------------- the estimator
class PooledFeatures(AudioExtractor):
    """Pooled spectral, cepstral, energy and pitch statistics: one vector per clip.

    Parameters
    ----------
    preset : str
        Recipe name in :data:`PRESETS` ("logmel-meanstd", "compact", "default", "large",
        "large-vuv", "large-vq").
    sr : int
        Analysis rate; files are resampled to it (and array rows are assumed to be at it).
    n_fft, hop_length, win_length : int
        STFT frame, hop and window (samples; defaults 32 ms / 10 ms at 16 kHz).
    n_mels, fmin, fmax : mel bands and their frequency range (Hz; fmax None = sr / 2).
    n_mfcc : int or None
        Number of MFCCs (None: the preset's).
    f0_min, f0_max : float
        Pitch search range (Hz).
    trim, normalize : loading options (see :func:`load_audio`).
    max_duration, window : float
        Segments longer than ``max_duration`` seconds are streamed in ``window``-second windows
        whose vectors are averaged, weighted by duration: memory stays bounded for hours-long
        files (``trim`` and ``normalize`` do not apply to them).
    cache, n_jobs, on_error, progress :
        Runtime options of :class:`~emoclassic.features.BaseExtractor` (not part of cache keys).
    """

    #: the configuration and names are the parameters' and the recipes' (code) alone
    _identity_from_code = True

    def __init__(
        self,
        preset: str = "default",
        *,
        sr: int = 16000,
        n_fft: int = 512,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 64,
        fmin: float = 0.0,
        fmax: float | None = None,
        n_mfcc: int | None = None,
        f0_min: float = 60.0,
        f0_max: float = 600.0,
        trim: bool = False,
        normalize: str | None = None,
        max_duration: float = 600.0,
        window: float = 30.0,
        cache=None,
        n_jobs: int | None = None,
        on_error: str = "raise",
        progress: bool | None = None,
    ):
        self.preset = preset
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.n_mfcc = n_mfcc
        self.f0_min = f0_min
        self.f0_max = f0_max
        self.trim = trim
        self.normalize = normalize
        self.max_duration = max_duration
        self.window = window
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress

    def _get_plan(self) -> _Plan:
        return _plan(
            str(self.preset), int(self.sr), int(self.n_fft), int(self.hop_length),
            None if self.win_length is None else int(self.win_length), int(self.n_mels),
            None if self.n_mfcc is None else int(self.n_mfcc), float(self.fmin),
            None if self.fmax is None else float(self.fmax), float(self.f0_min),
            float(self.f0_max),
        )

    def _check_params(self) -> None:
        super()._check_params()
        self._get_plan()
        if not (float(self.window) > 0 and float(self.max_duration) >= float(self.window)):
            raise ConfigError(
                f"window={self.window} and max_duration={self.max_duration} must satisfy "
                "0 < window <= max_duration (seconds)"
            )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of every column, e.g. ``logmel_12_mean``, ``mfcc_3_d_std``, ``f0_voiced_p50``."""
        from sklearn.utils.validation import _check_feature_names_in

        if hasattr(self, "n_features_in_"):
            _check_feature_names_in(self, input_features)
        return np.asarray(self._get_plan().names, dtype=object)

    def _extra_identity(self) -> dict:
        # presets added after the first five carry their recipe in the cache key, so a recipe
        # edited under the same name never reads stale vectors (the first five keep their keys)
        if str(self.preset) in _LEGACY_PRESETS:
            return {}
        import hashlib

        names = "\n".join(self._get_plan().names).encode()
        return {"recipe": hashlib.sha1(names).hexdigest()[:16]}

    def _compute_batch(self, items):
        with single_thread_blas():
            return super()._compute_batch(items)

    def _features(self, y: np.ndarray) -> np.ndarray:
        return _features_of(y, self._get_plan())

    def _features_from_file(self, path: str, *, start=None, end=None) -> np.ndarray:
        limit = float(self.max_duration)
        y = _load(path, start=start, end=end, max_seconds=limit, **self._load_kwargs())
        if y is None:  # too long: stream it in windows (nothing was decoded yet)
            return self._windowed(path, start, end)
        if len(y) > limit * self.sr:  # a long file of a format decoded whole: window in memory
            return self._pool(iter_windows(y, int(self.sr), window=float(self.window)))
        return self._features(y)

    def _windowed(self, path, start, end) -> np.ndarray:
        """Stream a long segment in windows (bounded memory) and pool their vectors."""
        wins = load_windows(path, sr=int(self.sr), window=float(self.window), start=start,
                            end=end)
        return self._pool(wins, str(path))

    def _pool(self, windows, name: str = "waveform") -> np.ndarray:
        """Duration-weighted mean of per-window feature vectors."""
        plan = self._get_plan()
        total = None
        weight = 0.0
        for _, y in windows:
            w = len(y) / self.sr
            v = _features_of(y, plan).astype(np.float64) * w
            total = v if total is None else total + v
            weight += w
        logger.debug("%s: pooled %.1f s in %g s windows", name, weight, self.window)
        return (total / max(weight, 1e-12)).astype(np.float32)
