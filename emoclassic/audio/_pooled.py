"""The pooled-features extractor: :class:`PooledFeatures` and its functional twin.

What an extractor adds to the descriptor computation: parameters, validation, names and cache
identity, one BLAS thread per worker, and long files streamed in windows whose vectors are
averaged. How a vector is computed is in :mod:`._descriptors` (with the recipes in
:mod:`._presets`, their matrices and names in :mod:`._pooled_plan` and the statistics over
time in :mod:`._functionals`); the functional sets and ``functionals`` are re-exported from
there because benchmarks import them from this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable
from contextvars import ContextVar

import numpy as np

from ..exceptions import ConfigError
from ._base import AudioExtractor, single_thread_blas
from ._descriptors import _features_of, _Shared
from ._functionals import FUNCTIONALS
from ._functionals import functionals as functionals  # re-exported (benchmarks)
from ._io import NORMALIZE_CHOICES, _load, iter_windows, load_windows
from ._pooled_plan import FEATURE_DEFINITION, _Plan, _plan
from ._presets import _LEGACY_PRESETS, PRESETS, Preset
from ._presets import BASIC as BASIC  # re-exported, as the other sets (benchmarks)
from ._presets import LARGE as LARGE
from ._presets import MS as MS
from ._presets import STATS as STATS

logger = logging.getLogger(__name__)

__all__ = ["PooledFeatures", "PRESETS", "FUNCTIONALS", "Preset", "pooled_features"]


def pooled_features(y: np.ndarray, sr: int = 16000, *, preset: str = "default", **params):
    """Functional API: the feature vector of one waveform (see :class:`PooledFeatures`), with
    the same trimming and level normalisation as a file gets."""
    est = PooledFeatures(preset=preset, sr=sr, **params)
    est._check_params()
    with single_thread_blas():
        return est._features(np.asarray(y, dtype=np.float32))


# --------------------------------------------------------------------------- the estimator
#: the source of the item being computed (see PooledFeatures._compute_one)
_SOURCE: ContextVar[Hashable | None] = ContextVar("emoclassic_pooled_source", default=None)


class _Same:
    """A key part equal only to itself: an in-memory array by identity, held while keyed."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _source_key(payload) -> Hashable | None:
    """Who an item's samples are: a file (path, segment, size, modification time) or an
    in-memory array (its identity); None for what is not worth sharing."""
    kind, a, b, c = payload
    if kind == "file":
        try:
            st = os.stat(a)
        except (OSError, TypeError, ValueError):
            return None
        # a missing start/end may be NaN (from a table), which equals nothing, itself included
        b, c = (None if v is None or v != v else v for v in (b, c))
        return ("file", os.fspath(a), b, c, st.st_size, st.st_mtime_ns)
    if kind == "array" and isinstance(c, tuple) and len(c) == 3:  # (Waveform, first, end)
        return ("array", _Same(c[0]), c[1], c[2], b)
    return None


class SharedAnalysis(AudioExtractor):
    """What the descriptor extractors (pooled vectors, per-frame descriptors) share: a clip is
    read as it is (band limit, trimming and level normalisation happen in the descriptor code,
    after the band limit: see :func:`._descriptors._features_of`), and the decoding and analysis
    of one clip are shared with the model's other such blocks (:class:`._descriptors._Shared`,
    keyed by the item's source while it is computed)."""

    def _load_kwargs(self) -> dict:
        return {**super()._load_kwargs(), "trim": False, "normalize": None}

    def _prepare_wave(self, y: np.ndarray, name="waveform") -> np.ndarray:
        return y

    def _compute_one(self, item):
        token = _SOURCE.set(_source_key(item.payload))
        try:
            return super()._compute_one(item)
        finally:
            _SOURCE.reset(token)

    def _decoded(self, path: str, start, end, limit: float) -> np.ndarray | None:
        """The clip at ``sr`` (None when longer than ``limit`` seconds and not decoded whole),
        decoded once for every block of the model that reads it with the same settings."""
        kwargs = self._load_kwargs()
        return _Shared.get(_SOURCE.get(), ("decoded", limit, *sorted(kwargs.items())),
                           lambda: _load(path, start=start, end=end, max_seconds=limit,
                                         **kwargs))  # fmt: skip


class PooledFeatures(SharedAnalysis):
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
    n_mels : int
        Mel bands.
    fmin, fmax : float
        The analysed band (Hz). ``fmax=None`` (default) is 0.85 x the Nyquist frequency of
        ``sr`` (6.8 kHz at 16 kHz; :func:`~._spectrogram.band_limit` says why): mel filters,
        spectral shape, roll-off, flatness, entropy, flux, slope, contrast, band energies,
        harmonic levels and HNR, level and zero-crossing rate all see this band only, so a
        file reads the same whatever rate it was stored at.
    n_mfcc : int or None
        Number of MFCCs (None: the preset's).
    f0_min, f0_max : float
        Pitch search range (Hz).
    trim, trim_db :
        Cut leading and trailing silence first (default True): what lies more than ``trim_db``
        (default 60) dB below the clip's loudest 25 ms, cut to the sample
        (:func:`trim_silence`, on the band-limited signal). Relative to the clip's own loudest
        frame, so the cut is the same at any gain, and a clip padded with digital silence (any
        number of samples) gives the same vector as without it. 60 dB, not 40: on EmoDB
        (leave one speaker out, ``recommended-audio`` at fixed C) a 40 dB cut, which also
        removes the low-level ends of the recordings (breath, onsets, room noise), cost 3
        points of UA (0.765 against 0.794 at 60 dB); docs/benchmarks.md has the runs.
    normalize : {"peak", "loudness", None}
        Level normalisation after trimming, so that the vector does not depend on the
        recording's gain: the default ``"peak"`` scales the kept (band-limited) samples to a
        maximum of 1; ``"loudness"`` puts their RMS at -23 dBFS; ``None`` (``"none"`` in a
        spec) keeps the level as stored. Peak, because it keeps what a corpus's level
        features mean when its files are peak-normalised, as EmoDB's are (every file peaks at
        exactly 1.0): there it costs nothing (UA 0.794, as without normalisation), while the
        RMS normalisation, which also removes the crest factor from every level, cost 0.8
        points (0.786). The band limit makes the peak stable under resampling (what
        resamplers change lies above the band); a click sets the peak, so the level of a
        clicky recording reads low.
    max_duration, window : float
        Segments longer than ``max_duration`` seconds are streamed in ``window``-second windows
        whose vectors are averaged, weighted by duration: memory stays bounded for hours-long
        files (each window is level-normalised on its own; ``trim`` does not apply to them).
    cache, n_jobs, on_error, progress :
        Runtime options of :class:`~emoclassic.features.BaseExtractor` (not part of cache keys).
    """

    #: the configuration and names are the parameters' and the recipes' (code) alone
    _identity_from_code = True
    _single_thread_blas = True

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
        trim: bool = True,
        trim_db: float = 60.0,
        normalize: str | None = "peak",
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
        self.trim_db = trim_db
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
        if isinstance(self.trim_db, bool) or not (
                isinstance(self.trim_db, (int, float)) and self.trim_db > 0):
            raise ConfigError(f"trim_db={self.trim_db!r} must be a positive number of dB, e.g. 60")
        if self.normalize not in NORMALIZE_CHOICES:
            raise ConfigError(f"normalize={self.normalize!r} is not valid; use 'peak', "
                              "'loudness' or None ('none')")
        if not (float(self.window) > 0 and float(self.max_duration) >= float(self.window)):
            raise ConfigError(
                f"window={self.window} and max_duration={self.max_duration} must satisfy "
                "0 < window <= max_duration (seconds)"
            )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of every column, e.g. ``logmel_12_mean``, ``mfcc_3_d_std``, ``f0_voiced_p50``."""
        self._check_input_features(input_features)
        return np.asarray(self._get_plan().names, dtype=object)

    def _extra_identity(self) -> dict:
        # the definition's version: vectors of an older definition (another band, no
        # trimming...) are never read back, whatever the parameters; presets added after the
        # first five also carry their recipe, so a recipe edited under the same name never
        # reads stale vectors
        out = {"definition": FEATURE_DEFINITION}
        if str(self.preset) in _LEGACY_PRESETS:
            return out
        import hashlib

        names = "\n".join(self._get_plan().names).encode()
        return {**out, "recipe": hashlib.sha1(names).hexdigest()[:16]}


    def _features(self, y: np.ndarray) -> np.ndarray:
        return _features_of(y, self._get_plan(), trim=bool(self.trim),
                            trim_db=float(self.trim_db), normalize=self.normalize,
                            share=_SOURCE.get())

    def _features_from_file(self, path: str, *, start=None, end=None) -> np.ndarray:
        limit = float(self.max_duration)
        y = self._decoded(path, start, end, limit)
        if y is None:  # too long: stream it in windows (nothing was decoded yet)
            return self._windowed(path, start, end)
        if len(y) > limit * self.sr:  # a long file of a format decoded whole: window in memory
            return self._pool(iter_windows(y, int(self.sr), window=float(self.window)))
        return self._features(y)

    def _windowed(self, path, start, end) -> np.ndarray:  # unshared: bounded memory first
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
            v = _features_of(y, plan, normalize=self.normalize).astype(np.float64) * w
            total = v if total is None else total + v
            weight += w
        logger.debug("%s: pooled %.1f s in %g s windows", name, weight, self.window)
        return (total / max(weight, 1e-12)).astype(np.float32)
