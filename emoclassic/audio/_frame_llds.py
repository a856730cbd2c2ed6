"""Frame-level low-level descriptors (MFCC, energy, pitch ...) as frame rows, for encoders.

:class:`~emoclassic.audio.LogMelFrames` gives log-mel frames for sequence models; the encoders
of frame sequences (:class:`~emoclassic.audio.BagOfAudioWords`,
:class:`~emoclassic.audio.FisherVectors`) work best on compact, decorrelated descriptors such
as MFCCs with energy and pitch (the openXBOW and Fisher-vector recipes of the paralinguistics
challenges). :class:`FrameDescriptors` gives those: the per-frame descriptors the pooled
functionals summarise (:func:`~._descriptors.frame_llds`), computed on the segment prepared
as for :class:`~emoclassic.audio.PooledFeatures` (band limit at 0.85 x Nyquist, trimming
60 dB below the loudest frame, peak normalisation), so the frames are as recording-invariant
as the pooled vector. Rows use the frames layout of :mod:`._frames` (a three-column header,
then ``max_frames`` frames, zero-padded), so every reader of frames reads them.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..exceptions import ConfigError
from ._descriptors import FRAME_GROUP_ROWS, frame_llds
from ._frames import FRAME_HEADER
from ._io import NORMALIZE_CHOICES, _load
from ._pooled import _SOURCE, SharedAnalysis
from ._pooled_plan import FEATURE_DEFINITION, SPECTRAL_NAMES, _plan

logger = logging.getLogger(__name__)

__all__ = ["FRAME_GROUPS", "FrameDescriptors"]

#: descriptor groups a frame may hold, in the order they are written
FRAME_GROUPS = ("mfcc", "logmel", "rasta", "spectral", "energy", "pitch")
#: what the frame rows mean: part of the cache key (raise when a value moves)
FRAME_DEFINITION = 1
#: the pooled decoder's limit, so that the decoded samples are shared with pooled blocks
_DECODE_LIMIT = 600.0


class FrameDescriptors(SharedAnalysis):
    """Low-level descriptors per frame (+ deltas), padded or truncated to ``max_frames``.

    Stateless and cached like every extractor; the row layout is that of
    :class:`~emoclassic.audio.LogMelFrames` (``[n_valid, dim, max_frames, frames...]``,
    :func:`~emoclassic.audio.split_frames` reads it back).

    Parameters
    ----------
    descriptors : sequence of str
        Groups per frame, from ``mfcc`` (``n_mfcc`` coefficients), ``logmel`` (``n_mels``
        bands, dB), ``rasta`` (RASTA-filtered log-mel), ``spectral`` (centroid, bandwidth,
        roll-offs, flatness, entropy, flux, skewness, kurtosis, slope), ``energy`` (RMS level
        in dB, loudness, zero-crossing rate) and ``pitch`` (F0 in semitones on voiced frames,
        0 elsewhere; periodicity). Default MFCC + energy + pitch: 19 values per frame.
    deltas : int
        0, 1 or 2 orders of deltas of every row (``(deltas + 1) * rows`` values per frame).
    max_frames : int
        Frames kept per clip (the first ones; 1 000 frames of 10 ms are 10 s).
    sr, n_fft, hop_length, win_length, n_mels, n_mfcc, fmin, fmax, f0_min, f0_max
        Analysis settings, as :class:`~emoclassic.audio.PooledFeatures` (the same defaults but
        26 mel bands and 14 MFCCs, those of the recommended specs' blocks; with equal
        settings a model's pooled and frame blocks share one decoding and one STFT per clip).
    trim, trim_db, normalize
        Silence trimming and level normalisation after the band limit, as PooledFeatures.
    cache, n_jobs, on_error, progress
        See :class:`~emoclassic.features.BaseExtractor`.
    """

    _identity_from_code = True
    _single_thread_blas = True

    def __init__(
        self,
        descriptors: tuple[str, ...] | list[str] = ("mfcc", "energy", "pitch"),
        *,
        deltas: int = 1,
        max_frames: int = 1000,
        sr: int = 16000,
        n_fft: int = 512,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 26,
        n_mfcc: int = 14,
        fmin: float = 0.0,
        fmax: float | None = None,
        f0_min: float = 60.0,
        f0_max: float = 600.0,
        trim: bool = True,
        trim_db: float = 60.0,
        normalize: str | None = "peak",
        cache=None,
        n_jobs: int | None = None,
        on_error: str = "raise",
        progress: bool | None = None,
    ):
        self.descriptors = descriptors
        self.deltas = deltas
        self.max_frames = max_frames
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.n_mfcc = n_mfcc
        self.fmin = fmin
        self.fmax = fmax
        self.f0_min = f0_min
        self.f0_max = f0_max
        self.trim = trim
        self.trim_db = trim_db
        self.normalize = normalize
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags

    # -- parameters ----------------------------------------------------------------------
    def _groups(self) -> tuple[str, ...]:
        d = self.descriptors
        groups = (d,) if isinstance(d, str) else tuple(d) if isinstance(d, (list, tuple)) else ()
        bad = [g for g in groups if g not in FRAME_GROUPS]
        if not groups or bad or len(set(groups)) != len(groups):
            raise ConfigError(
                f"frame_llds: descriptors={d!r} must be a list of distinct groups from "
                f"{', '.join(FRAME_GROUPS)}, e.g. ['mfcc', 'energy', 'pitch']"
            )
        return groups

    def _get_plan(self):
        plan = _plan("large", int(self.sr), int(self.n_fft), int(self.hop_length),
                     None if self.win_length is None else int(self.win_length),
                     int(self.n_mels), int(self.n_mfcc), float(self.fmin),
                     None if self.fmax is None else float(self.fmax), float(self.f0_min),
                     float(self.f0_max))  # fmt: skip
        spectral = {"logmel" if g == "rasta" else g for g in self._groups()}
        spectral &= {"mfcc", "logmel", "spectral", "energy"}
        return dataclasses.replace(plan, groups=frozenset(spectral))

    def _check_params(self) -> None:
        super()._check_params()
        groups = self._groups()
        for name in ("max_frames", "n_mels", "n_mfcc"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"frame_llds: {name}={v!r} must be a positive integer")
        if self.deltas not in (0, 1, 2) or isinstance(self.deltas, bool):
            raise ConfigError(f"frame_llds: deltas={self.deltas!r} must be 0, 1 or 2")
        if "mfcc" in groups and self.n_mfcc > self.n_mels:
            raise ConfigError(f"frame_llds: n_mfcc={self.n_mfcc} must be <= n_mels={self.n_mels}")
        if isinstance(self.trim_db, bool) or not (
                isinstance(self.trim_db, (int, float)) and self.trim_db > 0):
            raise ConfigError(f"frame_llds: trim_db={self.trim_db!r} must be a positive number")
        if self.normalize not in NORMALIZE_CHOICES:
            raise ConfigError(f"frame_llds: normalize={self.normalize!r} is not valid; use "
                              "'peak', 'loudness' or None ('none')")  # fmt: skip
        if "pitch" in groups and not 0 < self.f0_min < self.f0_max:
            raise ConfigError(f"frame_llds: need 0 < f0_min < f0_max; got {self.f0_min}, "
                              f"{self.f0_max}")  # fmt: skip
        self._get_plan()

    def _rows(self) -> list[str]:
        names: list[str] = []
        for g in self._groups():
            if g == "mfcc":
                names += [f"mfcc{i}" for i in range(int(self.n_mfcc))]
            elif g in ("logmel", "rasta"):
                names += [f"{g}{i}" for i in range(int(self.n_mels))]
            elif g == "spectral":
                names += list(SPECTRAL_NAMES)
            else:
                names += list(FRAME_GROUP_ROWS[g])
        out = list(names)
        for suffix in ("_d", "_dd")[: int(self.deltas)]:
            out += [n + suffix for n in names]
        return out

    @property
    def frame_dim(self) -> int:
        """Values per frame."""
        return len(self._rows())

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``frames_length``, ``frames_dim``, ``frames_max``, then ``t{frame}_{row}``."""
        self._check_params()
        rows = self._rows()
        names = ["frames_length", "frames_dim", "frames_max"]
        names += [f"t{t}_{r}" for t in range(int(self.max_frames)) for r in rows]
        return np.asarray(names, dtype=object)

    def _extra_identity(self) -> dict:
        return {"layout": "length,dim,max_frames", "definition": FEATURE_DEFINITION,
                "frames": FRAME_DEFINITION}  # fmt: skip

    def _n_features_hint(self) -> int:
        return FRAME_HEADER + int(self.max_frames) * self.frame_dim

    # -- computing -----------------------------------------------------------------------
    def _features_from_file(self, path: str, *, start=None, end=None) -> np.ndarray:
        kwargs = self._load_kwargs()
        y = self._decoded(path, start, end, _DECODE_LIMIT)  # shared with the pooled blocks
        if y is None:  # longer than the pooled blocks decode whole: the frames kept only
            seconds = int(self.max_frames) * int(self.hop_length) / int(self.sr) + 1.0
            end_s = seconds if start is None else float(start) + seconds
            y = _load(path, start=start, end=end_s if end is None else min(float(end), end_s),
                      **kwargs)
        return self._features(y)

    def _features(self, y: np.ndarray) -> np.ndarray:
        M = frame_llds(y, self._get_plan(), self._groups(), deltas=int(self.deltas),
                       trim=bool(self.trim), trim_db=float(self.trim_db),
                       normalize=self.normalize, share=_SOURCE.get())  # fmt: skip
        seq = M.T  # (T, F), time-major
        t_max, dim = int(self.max_frames), seq.shape[1]
        n = min(seq.shape[0], t_max)
        out = np.zeros(FRAME_HEADER + t_max * dim, dtype=np.float32)
        out[0], out[1], out[2] = n, dim, t_max
        out[FRAME_HEADER : FRAME_HEADER + n * dim] = seq[:n].ravel()
        return out
