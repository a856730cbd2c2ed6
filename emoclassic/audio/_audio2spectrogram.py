"""Audio2Spectrogram: each clip's log-mel spectrogram as one fixed-length feature vector.

The extractor (parameters, names, caching through :class:`~._base.AudioExtractor`) around the
array functions of :mod:`._spectrogram`, kept apart from them so that module stays free of
extractor machinery.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from ._base import AudioExtractor
from ._spectrogram import (
    LOG_MEL_DEFINITION,
    _check_log_mel,
    _image_size,
    _log_mel_of,
    delta,
    resize_image,
)

__all__ = ["Audio2Spectrogram"]


class Audio2Spectrogram(AudioExtractor):
    """Log-mel spectrogram of each clip as a fixed-length vector (stateless transformer).

    ``output="image"`` (default): the log-mel spectrogram in dB (absolute level, clipped
    ``top_db`` below the clip's maximum) resized to ``image_size=(rows, columns)`` — mel bands
    by area-averaging or interpolation, time stretched or squeezed so every clip has the same
    number of columns — and flattened row-major (``rows * columns`` values; with
    ``deltas=True`` the delta and delta-delta images follow, 3x as many).
    ``output="pooled"``: the mean and standard deviation over time of each band (``2 * n_mels``,
    or ``6 * n_mels`` with deltas) — the cheap baseline.

    ``fmax=None`` is ``band_limit(sr)`` (6.8 kHz at 16 kHz; see :func:`band_limit`).
    For a CNN's [0, 1] image use :func:`spectrogram_image`; for richer pooled statistics use
    :class:`PooledFeatures`.
    """

    _single_thread_blas = True

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
        _check_log_mel(self)

    def _extra_identity(self) -> dict:
        return {"definition": LOG_MEL_DEFINITION}  # older vectors had another default band

    def _channels(self) -> list[str]:
        return ["logmel", "logmel_d", "logmel_dd"] if self.deltas else ["logmel"]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``logmel_m{row}_t{col}`` (image) or ``logmel_{band}_mean|std`` (pooled) names."""
        self._check_input_features(input_features)
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
