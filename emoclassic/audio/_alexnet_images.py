"""What the AlexNet estimators read: spectrogram images, their size and the shared checks.

Both estimators turn each clip into one ``(H, W)`` log-mel image in [0, 1]
(:func:`~._spectrogram.spectrogram_image`) with the same parameters, validated the same way;
the classifier also caches them (:class:`_SpectrogramImages`) so CV folds and refits never
recompute an image. Kept apart from the network code because none of it needs torch.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from ..features import Item
from ._alexnet_net import _check_weights_path
from ._base import AudioExtractor
from ._spectrogram import LOG_MEL_DEFINITION

_MIN_INPUT = 16


def _size_pair(input_size) -> tuple[int, int]:
    if isinstance(input_size, (int, np.integer)) and not isinstance(input_size, bool):
        pair = (int(input_size), int(input_size))
    elif (
        isinstance(input_size, (tuple, list))
        and len(input_size) == 2
        and all(isinstance(v, (int, np.integer)) for v in input_size)
    ):
        pair = (int(input_size[0]), int(input_size[1]))
    else:
        raise ConfigError(
            f"input_size={input_size!r} is not an int or a (height, width) pair; use e.g. 224"
        )
    if min(pair) < _MIN_INPUT:
        raise ConfigError(f"input_size={input_size!r} is too small; use at least {_MIN_INPUT}")
    return pair


#: spectrogram options every AlexNet estimator exposes (passed to ``spectrogram_image``)
_SPEC_PARAMS = ("n_fft", "hop_length", "n_mels", "fmin", "fmax")


def _spectrogram_of(est, y: np.ndarray) -> np.ndarray:
    """The (H, W) float32 image in [0, 1] that the network reads for waveform ``y``."""
    from ._spectrogram import spectrogram_image

    spec = {k: getattr(est, k) for k in _SPEC_PARAMS}
    return spectrogram_image(y, int(est.sr), size=_size_pair(est.input_size), **spec)


def _check_common(est) -> tuple[int, int]:
    size = _size_pair(est.input_size)
    if not isinstance(est.sr, (int, np.integer)) or est.sr <= 0:
        raise ConfigError(f"sr={est.sr!r} must be a positive sample rate in Hz, e.g. 16000")
    for name in ("n_fft", "hop_length", "n_mels"):
        v = getattr(est, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name}={v!r} must be a positive integer")
    nyquist = est.sr / 2
    fmax = nyquist if est.fmax is None else est.fmax
    if not 0 <= est.fmin < fmax <= nyquist:
        raise ConfigError(
            f"fmin={est.fmin!r}, fmax={est.fmax!r} must satisfy 0 <= fmin < fmax <= sr/2 "
            f"({nyquist:g} Hz)"
        )
    if est.weights is not None:
        _check_weights_path(est.weights)
    if est.n_threads is not None and (
        not isinstance(est.n_threads, (int, np.integer)) or est.n_threads < 1
    ):
        raise ConfigError(f"n_threads={est.n_threads!r} must be a positive integer or None")
    return size


# -- spectrogram images (cached) for the classifier --------------------------------------------
class _Prepared(list):
    """Items already made (and validated) by the caller."""


class _SpectrogramImages(AudioExtractor):
    """Flattened spectrogram images, cached so CV folds and refits never recompute them."""

    _chunk_size = 32
    _item_noun = "clip"
    _single_thread_blas = True

    def __init__(
        self,
        input_size=128,
        sr=16000,
        n_mels=128,
        n_fft=512,
        hop_length=160,
        fmin=0.0,
        fmax=None,
        trim=False,
        cache=None,
        n_jobs=None,
        on_error="raise",
        progress=None,
    ):
        self.input_size = input_size
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.trim = trim
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress

    def _items(self, X) -> list[Item]:
        return list(X)

    def _extra_identity(self) -> dict:
        return {"images": LOG_MEL_DEFINITION}  # 2: default band up to band_limit(sr)

    def _features(self, y: np.ndarray) -> np.ndarray:
        return _spectrogram_of(self, y).ravel()

    def _n_features_hint(self) -> int:
        h, w = _size_pair(self.input_size)
        return h * w
