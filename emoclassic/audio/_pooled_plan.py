"""The plan of a pooled-feature configuration: every matrix and name fixed by the parameters.

A preset and the STFT/mel/pitch parameters determine, before any audio is read, the window,
the analysed band and its low-pass filter, mel filterbank, DCT matrix, frequency moments,
contrast bands and the full list of column names. :func:`_plan` builds that once per
configuration (cached) and validates the parameters on the way; the descriptor code
(:mod:`._descriptors`) only multiplies by it, and ``PooledFeatures.get_feature_names_out`` only
reads its names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..exceptions import ConfigError
from . import _voice
from ._functionals import FUNCTIONALS
from ._presets import PRESETS, Preset
from ._spectrogram import _check_frames, _window, band_limit, mel_filterbank

SPECTRAL_NAMES = (
    "centroid", "bandwidth", "rolloff25", "rolloff50", "rolloff85", "rolloff95",
    "flatness", "entropy", "flux", "skewness", "kurtosis", "slope",
)
ENERGY_NAMES = ("rms_db", "loudness", "zcr")
VOICING_NAMES = (
    "voiced_ratio", "voiced_segments_per_s", "voiced_segment_mean_s", "voiced_segment_std_s",
    "unvoiced_segment_mean_s", "f0_jitter_st", "rms_db_voiced_mean", "rms_db_unvoiced_mean",
)
#: pitch is tracked at this rate (YIN needs no more; below it the signal is used as it is)
PITCH_SR = 4000
#: voice-quality rows (voiced frames), in output order
VQ_NAMES = (*_voice.FORMANT_NAMES, *_voice.HARMONIC_NAMES)
#: Version of what a pooled vector means, part of every cache key (PooledFeatures'
#: ``_extra_identity``): raise it whenever a change moves any value, so vectors computed by
#: older code are never read back. 3: band limited to 0.85 x Nyquist (99-tap FIR), silence
#: trimmed to the sample, level normalised, level and zero-crossing rate from the band-limited
#: waveform (2: the same with a 147-tap filter, never released). 4: the same definition, the
#: band filter by batched overlap-save and the pitch median by a comparison network: values
#: move by float32 rounding only (a roll-off bin in a rare frame), yet cached vectors are
#: recomputed so that a cache never mixes the two.
FEATURE_DEFINITION = 4
# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class _Plan:
    sr: int
    n_fft: int
    hop: int
    win: int
    window: np.ndarray
    melfb: np.ndarray  # (n_mels, n_bins)
    dct_T: np.ndarray  # (n_mfcc, n_mels)
    n_bins: int  # bins 0 .. n_bins - 1 are analysed (at or below ``top`` Hz)
    top: float  # top of the analysed band, Hz
    lowpass: np.ndarray | None  # FIR low-pass at ``top`` (None: the band reaches Nyquist)
    freqs: np.ndarray  # (n_bins,) Hz
    fpow_T: np.ndarray  # (4, n_bins) kHz ** 1..4
    fcent: np.ndarray  # (n_bins,) kHz, centred, for the spectral slope
    fcent_ss: float
    bands: tuple[tuple[int, int, int], ...]  # (lo, hi, q) for contrast
    preset: Preset
    groups: frozenset
    n_mfcc: int
    f0_min: float
    f0_max: float
    names: tuple[str, ...]


#: the band-limiting filter: transition width (fraction of Nyquist) and stopband (dB)
LOWPASS_WIDTH = 0.075
LOWPASS_ATTENUATION = 60.0


def _lowpass(sr: int, top: float) -> np.ndarray | None:
    """Linear-phase FIR low-pass, -6 dB at ``top``, 60 dB down from ``top`` + 3.75 % of Nyquist.

    A Kaiser-window design (Kaiser's formulas for the length and beta, a windowed sinc scaled
    to unit gain at 0 Hz; what ``scipy.signal.kaiserord`` and ``firwin`` compute, equal to them
    at float32 for every rate tested in ``tests/test_pooled_plan.py``): at 16 kHz, 99 taps, flat
    within 0.1 dB to 6.5 kHz and 60 dB down from 7.1 kHz, where every resampler measured in
    :func:`band_limit` is still flat within 0.5 dB: what the resamplers change reaches no
    descriptor but 60 dB down. (147 taps for a 400 Hz transition cost 50 % more time for no
    measurable difference.) None when the band reaches (near) Nyquist. Written out in numpy
    because importing ``scipy.signal`` costs 70-100 ms of a cold ``emoclassic predict``
    (issue 16), for three lines of arithmetic.
    """
    nyq = sr / 2.0
    width = LOWPASS_WIDTH * nyq
    if top + width / 2 >= nyq:
        return None
    a = LOWPASS_ATTENUATION  # Kaiser (1974): length and beta for an `a` dB stopband (a > 50)
    n = int(np.ceil((a - 7.95) / 2.285 / (np.pi * width / nyq) + 1)) | 1
    beta = 0.1102 * (a - 8.7)
    c = top / nyq
    h = c * np.sinc(c * (np.arange(n) - 0.5 * (n - 1))) * np.kaiser(n, beta)
    h = (h / h.sum()).astype(np.float32)
    h.setflags(write=False)
    return h


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


def _contrast_bands(sr: int, n_fft: int, top: float) -> tuple[tuple[int, int, int], ...]:
    """Octave bands from 200 Hz (as librosa's spectral_contrast), the last up to ``top`` Hz
    (librosa's goes up to Nyquist, where resampling changes it: see :func:`band_limit`)."""
    freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    edges = [0.0]
    f = 200.0
    while f < top and len(edges) < 7:
        edges.append(f)
        f *= 2
    edges.append(top + 1e-6)
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
    top = band_limit(sr) if fmax is None else float(fmax)
    if not 0 <= float(fmin) < top <= sr / 2:
        raise ConfigError(f"need 0 <= fmin ({fmin}) < fmax ({top}) <= sr/2 ({sr / 2}) Hz; "
                          "leave fmax unset for the default band (0.85 x Nyquist)")
    freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    n_bins = int(np.count_nonzero(freqs <= top + 1e-6))
    lowpass = _lowpass(sr, top)
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=float(fmin), fmax=top)
    fb = np.ascontiguousarray(fb[:, :n_bins])  # the filters end at fmax: nothing is lost
    from scipy.fft import dct as _dct

    dct_T = np.ascontiguousarray(
        _dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc], dtype=np.float32
    )
    freqs = freqs[:n_bins]
    fk = freqs / 1000.0
    fpow_T = np.stack([fk, fk**2, fk**3, fk**4]).astype(np.float32)
    fcent = (fk - fk.mean()).astype(np.float32)
    bands = _contrast_bands(sr, n_fft, top)
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
                 dct_T, n_bins, top, lowpass, freqs.astype(np.float32), fpow_T, fcent,
                 float(fcent @ fcent), bands, p, groups, n_mfcc, float(f0_min), float(f0_max),
                 tuple(names))
