"""Frame-level log-mel sequences as fixed-width rows: the input of sequence models (LSTM).

A feature block must give one fixed-length row per utterance (so it can be cached in the
:class:`~emoclassic.features.FeatureStore` and pass through a ColumnTransformer), but a
sequence model needs a variable-length ``(T, F)`` sequence. :class:`LogMelFrames` writes the
sequence padded with zeros (or truncated) to ``max_frames`` and flattened time-major, behind a
three-column header that says how to read it back::

    [n_valid_frames, F, max_frames, frame_0 (F values), ..., frame_{max_frames-1}]

:func:`split_frames` reverses it. Sequence models read only the first ``n_valid_frames``
frames (packed sequences), so the padding never changes a prediction.
"""

from __future__ import annotations

import logging

import numpy as np

from ..exceptions import ConfigError, DataError
from ._base import AudioExtractor
from ._spectrogram import LOG_MEL_DEFINITION, _check_log_mel, _log_mel_of, delta

logger = logging.getLogger(__name__)

__all__ = ["FRAME_HEADER", "LogMelFrames", "split_frames"]

#: columns before the frames: valid frames, values per frame, frames per row
FRAME_HEADER = 3


class LogMelFrames(AudioExtractor):
    """Log-mel frames (+ deltas) of each clip, padded or truncated to ``max_frames``.

    Stateless and cached like every extractor; the row layout is in the module docs.

    Parameters
    ----------
    sr, n_fft, hop_length, win_length, n_mels, fmin, fmax, top_db
        Decoding rate and log-mel options (see ``log_mel_spectrogram``; ``fmax=None`` is
        ``band_limit(sr)``, 6.8 kHz at 16 kHz, a band that survives resampling); the default hop of
        320 samples (20 ms at 16 kHz) halves the sequence length of the usual 10 ms frames,
        which an LSTM on a CPU feels directly.
    deltas : int
        0: log-mel only; 1: + deltas; 2: + delta-deltas (``(deltas + 1) * n_mels`` values
        per frame).
    max_frames : int
        Frames kept per clip (the first ones); shorter clips are zero-padded. 400 frames of
        20 ms are 8 s.
    trim, normalize
        Silence trimming and waveform normalisation (see ``load_audio``).
    cache, n_jobs, on_error, progress
        See :class:`~emoclassic.features.BaseExtractor`.
    """

    _chunk_size = 16
    _single_thread_blas = True

    def __init__(
        self,
        *,
        sr: int = 16000,
        n_fft: int = 512,
        hop_length: int = 320,
        win_length: int | None = None,
        n_mels: int = 26,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float | None = 80.0,
        deltas: int = 2,
        max_frames: int = 400,
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
        self.max_frames = max_frames
        self.trim = trim
        self.normalize = normalize
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("max_frames", "n_mels"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"frames: {name}={v!r} must be a positive integer")
        if self.deltas not in (0, 1, 2) or isinstance(self.deltas, bool):
            raise ConfigError(f"frames: deltas={self.deltas!r} must be 0, 1 or 2")
        _check_log_mel(self)

    @property
    def frame_dim(self) -> int:
        """Values per frame: ``(deltas + 1) * n_mels``."""
        return (int(self.deltas) + 1) * int(self.n_mels)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``frames_length``, ``frames_dim``, ``frames_max``, then ``t{frame}_{channel}{band}``."""
        self._check_params()
        chans = ["logmel", "d", "dd"][: int(self.deltas) + 1]
        per_frame = [f"{c}{b}" for c in chans for b in range(int(self.n_mels))]
        names = ["frames_length", "frames_dim", "frames_max"]
        names += [f"t{t}_{p}" for t in range(int(self.max_frames)) for p in per_frame]
        return np.asarray(names, dtype=object)

    def _extra_identity(self) -> dict:
        # cache key: rows of older layouts, and of the older band (fmax None = Nyquist), differ
        return {"layout": "length,dim,max_frames", "definition": LOG_MEL_DEFINITION}

    def _n_features_hint(self) -> int:
        return FRAME_HEADER + int(self.max_frames) * self.frame_dim

    def _features(self, y: np.ndarray) -> np.ndarray:
        S = _log_mel_of(self, y)
        chans = [S]
        for _ in range(int(self.deltas)):
            chans.append(delta(chans[-1], width=5))
        seq = np.concatenate(chans, axis=0).T  # (T, F), time-major
        t_max, dim = int(self.max_frames), self.frame_dim
        n = min(seq.shape[0], t_max)
        out = np.zeros(FRAME_HEADER + t_max * dim, dtype=np.float32)
        out[0], out[1], out[2] = n, dim, t_max
        out[FRAME_HEADER : FRAME_HEADER + n * dim] = seq[:n].ravel()
        return out


def split_frames(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of :class:`LogMelFrames` → ``(frames (n, T, F) float32, lengths (n,) int64)``.

    Raises :class:`DataError` when the rows are not in that layout (say, another block was
    fused beside the frames).
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] < FRAME_HEADER + 1 or X.shape[0] == 0:
        raise DataError(
            f"frame rows must be a 2-D array with at least {FRAME_HEADER + 1} columns; got shape "
            f"{X.shape}; use a 'frames' feature block"
        )
    lens, dims, tmax = X[:, 0], X[:, 1], X[:, 2]
    dim, t_max = int(round(float(dims[0]))), int(round(float(tmax[0])))
    width = X.shape[1] - FRAME_HEADER
    if (
        dim < 1
        or not np.all(dims == dim)
        or not np.all(tmax == t_max)
        or width != dim * t_max
        or not np.all(lens == np.rint(lens))
        or lens.min() < 0
        or lens.max() > t_max
    ):
        raise DataError(
            f"X is not in the frames layout [length, dim, max_frames, frames...] (first row "
            f"header {X[0, :FRAME_HEADER].tolist()}, {width} frame values): give the LSTM a lone "
            "'frames' feature block (no pca, select_k, weight or scale), or set input_dim for "
            "plain (T, F) rows"
        )
    lengths = np.clip(np.rint(X[:, 0]).astype(np.int64), 1, t_max)
    frames = np.ascontiguousarray(X[:, FRAME_HEADER:], dtype=np.float32).reshape(-1, t_max, dim)
    return frames, lengths
