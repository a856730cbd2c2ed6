"""AlexNet on log-mel spectrogram images: frozen embeddings and a trainable classifier.

Two uses of one network (:class:`~emoclassic.audio._torchutil.AlexNet`, torchvision's parameter
names, so an ImageNet ``alexnet`` state dict loads):

* :class:`AlexNetEmbedder` — a stateless, cached feature extractor returning ``conv5``, ``fc6``
  or ``fc7`` activations, with ImageNet weights from a local file or a seeded random
  initialisation (reported as such by :meth:`AlexNetEmbedder.weights_info`);
* :class:`AlexNetSpectrogramClassifier` — a scikit-learn classifier trained on CPU with early
  stopping, whose fitted fc7 layer also serves as features (``transform``) for SVMs, forests
  and boosting (the transfer path).

This module holds the embedder and its per-process cache of frozen networks. The rest is split
by job and re-exported here (``from emoclassic.audio._alexnet import ...`` keeps working, and
so do models pickled before the split): weights files, building and running the network in
:mod:`._alexnet_net`, the spectrogram images both estimators read in :mod:`._alexnet_images`,
the classifier in :mod:`._alexnet_classifier`. torch is imported inside the functions that
need it, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from .._lazy import lazy_attributes
from .._torch import torch_threads
from ..exceptions import ConfigError, EmoclassicError
from ..features import Item
from ._alexnet_classifier import AlexNetSpectrogramClassifier
from ._alexnet_images import _check_common, _size_pair, _spectrogram_of
from ._alexnet_net import (
    _build_net,
    _forward_padded,
    _weights_identity,
    _weights_info,
    load_alexnet_weights,
    weights_sha256,
)
from ._base import AudioExtractor, single_thread_blas
from ._spectrogram import LOG_MEL_DEFINITION

if TYPE_CHECKING:  # pragma: no cover
    from ._torchutil import AlexNet

logger = logging.getLogger(__name__)

__all__ = [
    "AlexNetEmbedder",
    "AlexNetSpectrogramClassifier",
    "load_alexnet_weights",
    "weights_sha256",
]

_LAYER_DIMS = {"conv5": 256, "fc6": None, "fc7": None}  # None: hidden_size

#: the torch module, imported only when asked for (``.``: a sibling of this module)
__getattr__, __dir__ = lazy_attributes(__name__, {"AlexNet": "._torchutil"}, globals())

#: the old name of :func:`~._base.single_thread_blas` (benchmarks/speed/alexnet.py imports it)
_one_blas_thread = single_thread_blas

#: frozen embedding networks of this process, by weights identity
_FROZEN: dict[str, AlexNet] = {}


def _frozen_net(weights, seed) -> AlexNet:
    """The eval-mode network for ``weights`` (or the seed), built once per process."""
    import torch

    ident = _weights_identity(weights, seed)
    net = _FROZEN.get(ident)
    if net is None:
        if weights is None:
            logger.warning(
                "AlexNet embeddings use a random initialisation (seed %d), not ImageNet "
                "weights: give weights=PATH (--alexnet-weights) to a local "
                "alexnet-owt-7be5be79.pth for pretrained features",
                seed,
            )
            net = _build_net(None, num_classes=1000, seed=seed)
        else:
            state = load_alexnet_weights(weights)
            net = _build_net(state, num_classes=int(state["classifier.6.weight"].shape[0]))
        net.eval().requires_grad_(False)
        net = net.to(memory_format=torch.channels_last)
        _FROZEN[ident] = net
    return net


# -- frozen embeddings ------------------------------------------------------------------------
class AlexNetEmbedder(AudioExtractor):
    """Frozen AlexNet activations of each clip's log-mel spectrogram image.

    Parameters
    ----------
    layer : {"fc7", "fc6", "conv5"}
        fc6/fc7: 4096-d activations after ReLU; conv5: the 256-d global average of the
        pooled convolutional stack.
    input_size : int or (int, int)
        Spectrogram image size; 224 matches ImageNet training, 128 or 96 are faster.
    weights : path or None
        Local torchvision ``alexnet`` state dict (never downloaded). None: a seeded random
        initialisation, reported by :meth:`weights_info` and logged once.
    seed : int
        Seed of the random initialisation (ignored with ``weights``).
    sr, n_mels, n_fft, hop_length, fmin, fmax, trim
        Decoding rate, log-mel options of the image (see ``spectrogram_image``), silence
        trimming.
    window, hop : float or None
        None: one image per clip, its time axis squeezed or stretched to the input width
        (right for utterances). Seconds: clips are cut into windows every ``hop`` s (default
        ``window``; the last may be shorter) whose embeddings are averaged — use it for long
        recordings, e.g. ``window=4.0``.
    batch_size : int
        Clips per forward pass (and per parallel task).
    n_threads : int or None
        torch threads during the forward pass (None: torch's setting); with ``n_jobs > 1``
        use 1.
    cache, n_jobs, on_error, progress
        See :class:`~emoclassic.features.BaseExtractor`.
    """

    _chunk_size = 32
    _item_noun = "clip"

    def __init__(
        self,
        layer: str = "fc7",
        input_size: int | tuple[int, int] = 224,
        weights: str | os.PathLike | None = None,
        seed: int = 0,
        sr: int = 16000,
        n_mels: int = 128,
        n_fft: int = 512,
        hop_length: int = 160,
        fmin: float = 0.0,
        fmax: float | None = None,
        trim: bool = False,
        window: float | None = None,
        hop: float | None = None,
        batch_size: int = 32,
        n_threads: int | None = None,
        cache=None,
        n_jobs: int | None = None,
        on_error: str = "raise",
        progress: bool | None = None,
    ):
        self.layer = layer
        self.input_size = input_size
        self.weights = weights
        self.seed = seed
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.trim = trim
        self.window = window
        self.hop = hop
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress

    def _check_params(self) -> None:
        super()._check_params()
        if self.layer not in _LAYER_DIMS:
            raise ConfigError(f"layer={self.layer!r} is not one of 'fc7', 'fc6', 'conv5'")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size!r} must be a positive integer")
        for name in ("window", "hop"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or not v > 0):
                raise ConfigError(f"{name}={v!r} must be a positive number of seconds or None")
        _check_common(self)

    def weights_info(self) -> dict:
        """Which weights produce the embeddings: ``{"pretrained", "source", "sha256", "seed"}``
        (for reports and model manifests)."""
        return _weights_info(self.weights, self.seed)

    def _config(self) -> dict:
        cfg = super()._config()
        for k in ("weights", "seed", "n_threads"):  # identity is the weights hash or the seed
            cfg.pop(k, None)
        cfg["input_size"] = list(_size_pair(self.input_size))
        return cfg

    def _extra_identity(self) -> dict:
        # images: the version of the input images (2: default band up to band_limit(sr))
        return {"weights_id": _weights_identity(self.weights, self.seed),
                "images": LOG_MEL_DEFINITION}

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        dim = _LAYER_DIMS.get(self.layer) or 4096
        return np.array([f"alexnet_{self.layer}_{i:04d}" for i in range(dim)], dtype=object)

    def __getstate__(self) -> dict:
        # the network lives in a per-process cache (see _frozen_net), never in the pickle
        state = super().__getstate__()
        state.pop("_net", None)
        return state

    def _features(self, y: np.ndarray) -> np.ndarray:
        """The clip's image(s), ``(n_windows, H, W)``: the network runs once per batch in
        ``_compute_batch``, which averages the windows' embeddings."""
        if self.window is None:
            return _spectrogram_of(self, y)[None]
        from ._io import iter_windows

        return np.stack(
            [
                _spectrogram_of(self, w)
                for _, w in iter_windows(y, int(self.sr), window=self.window, hop=self.hop)
            ]
        )

    def _compute_one(self, item: Item) -> np.ndarray:
        (res,) = self._compute_batch([item])
        if isinstance(res, Exception):
            raise res
        return res

    def _compute_batch(self, items: list[Item]) -> list[np.ndarray | Exception]:
        out: list[np.ndarray | Exception | None] = [None] * len(items)
        good, stacks = [], []
        with single_thread_blas():
            for i, it in enumerate(items):
                try:  # decoding, trimming, bad input: shared with every audio extractor
                    stacks.append(AudioExtractor._compute_one(self, it))
                    good.append(i)
                except EmoclassicError as exc:
                    out[i] = exc
        if stacks:
            emb = self.embed_images(np.concatenate(stacks))
            bounds = np.cumsum([0] + [len(st) for st in stacks])
            for i, a, b in zip(good, bounds[:-1], bounds[1:], strict=True):
                out[i] = emb[a:b].mean(axis=0) if b - a > 1 else emb[a]
        return out  # type: ignore[return-value]

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """Activations of ``layer`` for a stack of (H, W) spectrogram images in [0, 1]."""
        import torch

        net = _frozen_net(self.weights, self.seed)
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
        with torch_threads(self.n_threads):
            out = _forward_padded(net, x, self.layer, int(self.batch_size))
        return out.astype(np.float32, copy=False)
