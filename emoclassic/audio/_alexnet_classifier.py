"""AlexNetSpectrogramClassifier: AlexNet trained on spectrogram images, a scikit-learn classifier.

It trains with the package's one torch loop, :func:`emoclassic._torch.train_network`, which the
LSTM and attention heads of ``emoclassic.models`` use too; what is particular to it stays
here: spectrogram images as input, ``forward_spectrogram``, SpecAugment-style augmentation,
frozen convolutional layers. Its own module because it shares only the images
(:mod:`._alexnet_images`) and the network code (:mod:`._alexnet_net`) with the frozen
embedder, not the extractor machinery. torch is imported inside the functions that need it.
"""

from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._torch import encode_targets, proba_from_logits, torch_threads, train_network
from ..exceptions import ConfigError, DataError, ModelError
from ._alexnet_images import _SPEC_PARAMS, _check_common, _Prepared, _size_pair, _SpectrogramImages
from ._alexnet_net import _build_net, _forward_padded, _weights_info, load_alexnet_weights
from ._base import audio_items

if TYPE_CHECKING:  # pragma: no cover
    from ._torchutil import AlexNet

logger = logging.getLogger(__name__)

__all__ = ["AlexNetSpectrogramClassifier"]


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
