"""AlexNet on log-mel spectrogram images: frozen embeddings and a trainable classifier.

Two uses of one network (:class:`~emoclassic.audio._torchutil.AlexNet`, torchvision's parameter
names, so an ImageNet ``alexnet`` state dict loads):

* :class:`AlexNetEmbedder` — a stateless, cached feature extractor returning ``conv5``, ``fc6``
  or ``fc7`` activations, with ImageNet weights from a local file or a seeded random
  initialisation (reported as such by :meth:`AlexNetEmbedder.weights_info`);
* :class:`AlexNetSpectrogramClassifier` — a scikit-learn classifier trained on CPU with early
  stopping, whose fitted fc7 layer also serves as features (``transform``) for SVMs, forests
  and boosting (the transfer path).

The classifier trains with the package's one torch loop,
:func:`emoclassic._torch.train_network`, which the LSTM and attention heads of
``emoclassic.models`` use too; what is particular to it stays here: spectrogram images as
input, ``forward_spectrogram``, SpecAugment-style augmentation, frozen convolutional layers.
torch is imported inside the functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._torch import (
    encode_targets,
    forward_padded,
    proba_from_logits,
    seeded,
    torch_threads,
    train_network,
)
from ..exceptions import ConfigError, DataError, EmoclassicError, ModelError
from ..features import Item
from ._base import AudioExtractor, audio_items

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ._torchutil import AlexNet

logger = logging.getLogger(__name__)

__all__ = [
    "AlexNetEmbedder",
    "AlexNetSpectrogramClassifier",
    "load_alexnet_weights",
    "weights_sha256",
]

_LAYER_DIMS = {"conv5": 256, "fc6": None, "fc7": None}  # None: hidden_size
_MIN_INPUT = 16


def __getattr__(name: str):  # the torch module, imported only when asked for
    if name == "AlexNet":
        from ._torchutil import AlexNet

        return AlexNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- weights ----------------------------------------------------------------------------------
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: str | os.PathLike) -> str:
    """sha256 of a weights file, computed once per process per (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def load_alexnet_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a torchvision-format AlexNet state dict from a local file, checked key by key.

    Accepts torchvision's ``alexnet-owt-7be5be79.pth`` (any number of classes in
    ``classifier.6``, 1 or 3 input channels), a ``{"state_dict": ...}`` wrapper and
    ``module.``-prefixed keys. Loads with ``weights_only=True`` (no code runs) and never
    downloads. Raises :class:`ConfigError` for a missing file and :class:`ModelError` for a
    file that is not such a state dict, naming the first wrong keys or shapes.
    """
    import torch

    from ._torchutil import torchvision_layout

    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"AlexNet weights file {str(p)!r} does not exist; give the path of a local "
            "torchvision alexnet state dict such as alexnet-owt-7be5be79.pth"
        )
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"AlexNet weights file {str(p)!r} cannot be read as a torch state dict ({msg}); "
            "save it with torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise ModelError(
            f"AlexNet weights file {str(p)!r} holds a {type(obj).__name__}, not a state dict of "
            "tensors; save it with torch.save(model.state_dict(), path)"
        )
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    w0, w6 = state.get("features.0.weight"), state.get("classifier.6.weight")
    in_ch = int(w0.shape[1]) if w0 is not None and w0.dim() == 4 else 3
    n_cls = int(w6.shape[0]) if w6 is not None and w6.dim() == 2 else 1000
    expected = torchvision_layout(num_classes=n_cls, in_channels=in_ch)
    problems = [
        f"{k} has shape {tuple(state[k].shape)}, expected {shape}"
        for k, shape in expected.items()
        if k in state and tuple(state[k].shape) != shape
    ]
    problems += [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    if in_ch not in (1, 3):
        problems.insert(0, f"features.0.weight has {in_ch} input channels, expected 3 (or 1)")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ModelError(
            f"AlexNet weights file {str(p)!r} is not a torchvision alexnet state dict: "
            f"{'; '.join(problems[:3])}{more}; use torchvision's alexnet-owt-7be5be79.pth"
        )
    bad = [k for k, v in state.items() if not v.is_floating_point()]
    if bad:
        raise ModelError(
            f"AlexNet weights file {str(p)!r} has non-float tensors ({', '.join(bad[:3])}); "
            "save float weights"
        )
    return {k: state[k].float() for k in expected}


def _build_net(
    state: dict[str, Any] | None,
    *,
    num_classes: int,
    hidden_size: int = 4096,
    dropout: float = 0.5,
    seed: int = 0,
) -> AlexNet:
    """An AlexNet with exactly ``state`` (numpy arrays or tensors, assigned without a copy)
    or, with ``state=None``, a seeded He initialisation."""
    import torch

    from ._torchutil import AlexNet

    if state is None:
        with seeded(seed):
            net = AlexNet(num_classes=num_classes, dropout=dropout, hidden_size=hidden_size)
            net.init_weights()
        return net
    tensors = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v if v.flags.writeable else np.array(v))
        tensors[k] = v
    in_ch = int(tensors["features.0.weight"].shape[1])
    with torch.device("meta"):
        net = AlexNet(
            num_classes=num_classes, dropout=dropout, in_channels=in_ch, hidden_size=hidden_size
        )
    net.load_state_dict(tensors, strict=True, assign=True)
    net.reset_input_stats()
    return net


def _weights_identity(weights, seed) -> str:
    return f"sha256:{weights_sha256(weights)}" if weights is not None else f"random-seed-{seed}"


def _weights_info(weights, seed) -> dict:
    if weights is None:
        return {"pretrained": False, "source": "random", "sha256": None, "seed": int(seed)}
    _check_weights_path(weights)
    return {
        "pretrained": True,
        "source": str(weights),
        "sha256": weights_sha256(weights),
        "seed": None,
    }


def _check_weights_path(weights) -> None:
    if not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(
            f"weights={weights!r} is not a file path; give a local alexnet state dict or None"
        )
    if not Path(weights).is_file():
        raise ConfigError(
            f"AlexNet weights file {str(weights)!r} does not exist; give the path of a local "
            "torchvision alexnet state dict such as alexnet-owt-7be5be79.pth, or None for a "
            "seeded random initialisation"
        )


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


# -- input: manifests, paths, waveform rows ---------------------------------------------------
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


_BLAS = None


def _one_blas_thread():
    """Context: numpy's BLAS on one thread while images are computed.

    The spectrogram's small matrix products (mel filterbank, image resize) run 50-80× slower
    with OpenBLAS's threads than without on a busy 2-core machine (they spin waiting for each
    other); parallelism comes from ``n_jobs`` and torch instead.
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


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
        return {"weights_id": _weights_identity(self.weights, self.seed)}

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
        with _one_blas_thread():
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


# -- spectrogram images (cached) for the classifier --------------------------------------------
class _Prepared(list):
    """Items already made (and validated) by the caller."""


class _SpectrogramImages(AudioExtractor):
    """Flattened spectrogram images, cached so CV folds and refits never recompute them."""

    _chunk_size = 32
    _item_noun = "clip"

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

    def _compute_batch(self, items: list[Item]) -> list[np.ndarray | Exception]:
        with _one_blas_thread():
            return super()._compute_batch(items)

    def _features(self, y: np.ndarray) -> np.ndarray:
        return _spectrogram_of(self, y).ravel()

    def _n_features_hint(self) -> int:
        h, w = _size_pair(self.input_size)
        return h * w


# -- the trainable classifier ------------------------------------------------------------------
class AlexNetSpectrogramClassifier(TransformerMixin, ClassifierMixin, BaseEstimator):
    """AlexNet trained on spectrogram images, as a scikit-learn classifier.

    CPU mini-batch training with Adam, early stopping on an inner stratified validation
    split, fully seeded. ``X`` is a manifest (``path`` [+ ``id``, ``start``, ``end``]), a
    list of paths (images are computed once and cached in ``cache``), or a 2-D numeric array
    whose rows are waveforms at ``sr``. ``transform``/``embed`` return the fitted fc7
    activations, features for another classifier (the transfer path).

    Parameters
    ----------
    input_size : int or (int, int)
        Spectrogram image size (small sizes train much faster).
    epochs, batch_size, lr, weight_decay, dropout
        Training schedule (Adam) and regularisation.
    hidden_size : int
        Width of fc6/fc7; AlexNet's 4096 reuses pretrained fully connected weights, a
        smaller width trains faster on small corpora.
    validation_fraction, patience
        Inner stratified split for early stopping: training stops after ``patience`` epochs
        without a lower validation loss and keeps the best epoch's weights (0: no split, all
        epochs run; too few clips per class for a split does the same, logged).
    class_weight : None, "balanced" or dict
        Loss weights per class.
    weights : path or None
        Start from a local torchvision alexnet state dict (all layers but the output;
        convolutional layers only when ``hidden_size != 4096``); None trains from a seeded
        He initialisation.
    freeze_features : bool
        Keep the convolutional layers fixed (with ``weights``: classic fine-tuning).
    augment : bool
        Random time shifts and time/frequency masks (SpecAugment-like) while training.
    seed : int
        Seeds initialisation, split, shuffling, dropout and augmentation.
    n_threads : int or None
        torch threads while fitting and predicting (restored after).
    sr, n_mels, n_fft, hop_length, fmin, fmax, trim
        Decoding and log-mel options of the images (see ``spectrogram_image``).
    cache, n_jobs
        Feature-store folder for the images (computed once per clip and configuration,
        shared by CV folds and refits); parallel image jobs.
    """

    def __init__(
        self,
        *,
        input_size: int | tuple[int, int] = 128,
        epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        dropout: float = 0.5,
        hidden_size: int = 4096,
        validation_fraction: float = 0.15,
        patience: int = 5,
        class_weight: str | dict | None = None,
        weights: str | os.PathLike | None = None,
        freeze_features: bool = False,
        augment: bool = False,
        seed: int = 0,
        n_threads: int | None = None,
        sr: int = 16000,
        n_mels: int = 128,
        n_fft: int = 512,
        hop_length: int = 160,
        fmin: float = 0.0,
        fmax: float | None = None,
        trim: bool = False,
        cache=None,
        n_jobs: int | None = None,
    ):
        self.input_size = input_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.hidden_size = hidden_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.weights = weights
        self.freeze_features = freeze_features
        self.augment = augment
        self.seed = seed
        self.n_threads = n_threads
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.trim = trim
        self.cache = cache
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # rows of a numeric array are waveforms: make_blobs' 2-sample "waveforms" carry no
        # spectral information, so the generic accuracy thresholds do not apply
        tags.classifier_tags.poor_score = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    # -- parameters and input --------------------------------------------------------------
    def _check_params(self) -> tuple[int, int]:
        size = _check_common(self)

        def _pos_int(name, minimum=1):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
                raise ConfigError(f"{name}={v!r} must be an integer of at least {minimum}")

        for name in ("epochs", "batch_size", "hidden_size"):
            _pos_int(name)
        _pos_int("patience", 1)
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{name}={v!r} must be a finite non-negative number")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout!r} must be in [0, 1)")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                f"validation_fraction={self.validation_fraction!r} must be in [0, 1) "
                "(0 disables early stopping)"
            )
        if not (self.class_weight in (None, "balanced") or isinstance(self.class_weight, dict)):
            raise ConfigError(
                f"class_weight={self.class_weight!r} must be None, 'balanced' or a dict"
            )
        return size

    def _images(self, X, *, reset: bool) -> np.ndarray:
        """(N, H, W) float32 spectrogram images of ``X`` (file clips via the feature cache)."""
        size = _size_pair(self.input_size)
        if reset:
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
        items = audio_items(self, X, reset=reset)
        if not items:
            raise DataError("X has no clips; pass at least one row")
        ext = _SpectrogramImages(
            input_size=size,
            sr=self.sr,
            trim=self.trim,
            cache=self.cache,
            n_jobs=self.n_jobs,
            **{k: getattr(self, k) for k in _SPEC_PARAMS},
        )
        flat = ext.transform(_Prepared(items))
        return flat.reshape(len(items), *size)

    def weights_info(self) -> dict:
        """Initial weights of the network (pretrained file or seeded random init)."""
        return _weights_info(self.weights, self.seed)

    # -- training ---------------------------------------------------------------------------
    def fit(self, X, y):
        """Train on the clips of ``X`` with labels ``y``; returns self."""
        size = self._check_params()
        images = self._images(X, reset=True)
        self.classes_, y_enc = encode_targets(y, len(images), noun="clips")
        self.input_size_ = size
        self.weights_info_ = self.weights_info()
        self._train(images, y_enc)
        return self

    def _initial_net(self) -> AlexNet:
        net = _build_net(
            None,
            num_classes=len(self.classes_),
            hidden_size=int(self.hidden_size),
            dropout=float(self.dropout),
            seed=self.seed,
        )
        if self.weights is not None:
            state = load_alexnet_weights(self.weights)
            if int(state["features.0.weight"].shape[1]) != 3:
                raise ModelError(
                    f"AlexNet weights {str(self.weights)!r} have 1 input channel; the "
                    "classifier starts from 3-channel (ImageNet) weights"
                )
            prefixes = ("features.",)
            if int(self.hidden_size) == 4096:  # the fully connected layers fit too
                prefixes += ("classifier.1.", "classifier.4.")
            net.load_state_dict(
                {k: v for k, v in state.items() if k.startswith(prefixes)}, strict=False
            )
        return net

    def _train(self, images: np.ndarray, y: np.ndarray) -> None:
        """The shared loop (:func:`emoclassic._torch.train_network`) on ``(N, 1, H, W)``
        images, seeded by ``seed``.

        What differs from the neural heads is kept as this classifier always trained, so a
        seed gives the weights it gave before the loop was shared: no gradient clipping, the
        convolutional stack frozen with ``freeze_features``, validation scored in unpadded
        ``batch_size`` chunks, each epoch logged at info level (the heads log at debug).
        """
        import torch

        def make_net() -> AlexNet:
            return self._initial_net().to(memory_format=torch.channels_last)

        def augment(batch: list, gen) -> list:
            return [_augment(batch[0], gen)]

        train_network(
            self,
            make_net,
            (np.ascontiguousarray(images, dtype=np.float32)[:, None],),
            y,
            seed=self.seed,
            noun="clips",
            forward=_forward_spectrogram,
            augment=augment if self.augment else None,
            frozen=("features",) if self.freeze_features else (),
            log=logger.info,
        )

    # -- inference --------------------------------------------------------------------------
    def _get_net(self) -> AlexNet:
        net = self.__dict__.get("_net")
        if net is None:  # after unpickling: rebuild around the stored arrays (no copy)
            import torch

            net = _build_net(
                self.state_dict_,
                num_classes=len(self.classes_),
                hidden_size=int(self.state_dict_["classifier.1.weight"].shape[0]),
                dropout=float(self.dropout),
            )
            net = net.eval().requires_grad_(False).to(memory_format=torch.channels_last)
            self._net = net
        return net

    def _forward(self, X, layer: str) -> np.ndarray:
        import torch

        check_is_fitted(self, "state_dict_")
        images = self._images(X, reset=False)
        net = self._get_net()
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
        with torch_threads(self.n_threads):
            return _forward_padded(net, x, layer, int(self.batch_size))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return proba_from_logits(self._forward(X, "logits"))

    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def transform(self, X) -> np.ndarray:
        """Fitted fc7 activations (float32), features for another classifier."""
        return self._forward(X, "fc7").astype(np.float32, copy=False)

    embed = transform

    def fit_transform(self, X, y=None, **fit_params):
        if y is None:
            raise DataError("AlexNetSpectrogramClassifier.fit_transform needs labels y")
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "state_dict_")
        dim = int(self.state_dict_["classifier.4.weight"].shape[0])
        return np.array([f"alexnet_fc7_{i:04d}" for i in range(dim)], dtype=object)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_net", None)  # rebuilt lazily from state_dict_ (plain numpy arrays)
        return state


def _forward_spectrogram(net, x):
    """The training forward of the classifier: logits of spectrogram images in [0, 1]."""
    return net.forward_spectrogram(x)


def _forward_padded(net, x, layer: str, batch_size: int) -> np.ndarray:
    """``net.forward_spectrogram(·, layer)`` over ``x`` in batches of exactly ``batch_size``
    (the last one zero-padded), so a clip's output does not depend on which other clips share
    its batch (see :func:`emoclassic._torch.forward_padded`)."""
    return forward_padded(lambda xb: net.forward_spectrogram(xb, layer), [x], batch_size).numpy()


def _augment(x, gen):
    """Random circular time shift (≤ 10 %) and one time and one frequency mask (≤ 12.5 %)
    per image, filled with the image mean: cheap SpecAugment for small corpora."""
    import torch

    b, _, h, w = x.shape
    shifts = torch.randint(-(w // 10), w // 10 + 1, (b,), generator=gen)
    cols = (torch.arange(w).view(1, w) - shifts.view(b, 1)) % w
    x = torch.gather(x, 3, cols.view(b, 1, 1, w).expand(b, 1, h, w))
    tw = torch.randint(0, max(1, w // 8) + 1, (b,), generator=gen)
    t0 = (torch.rand(b, generator=gen) * (w - tw + 1)).long()
    fw = torch.randint(0, max(1, h // 8) + 1, (b,), generator=gen)
    f0 = (torch.rand(b, generator=gen) * (h - fw + 1)).long()
    t = torch.arange(w).view(1, w)
    f = torch.arange(h).view(1, h)
    tmask = (t >= t0.view(b, 1)) & (t < (t0 + tw).view(b, 1))
    fmask = (f >= f0.view(b, 1)) & (f < (f0 + fw).view(b, 1))
    mask = tmask.view(b, 1, 1, w) | fmask.view(b, 1, h, 1)
    fill = x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    return torch.where(mask, fill, x)
