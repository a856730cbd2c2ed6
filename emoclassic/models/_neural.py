"""What the small torch heads share: parameter checks, the scikit-learn surface, seeded CPU
training, batch-invariant inference, and a pickle that holds plain numpy arrays (portable
joblib artifacts, no torch format inside).

The training loop itself (validation split, class weights, early stopping, seeding, threads)
is :func:`emoclassic._torch.train_network`, shared with the AlexNet classifier of the audio
branch; this class says what is particular to the heads: gradient clipping, batch-invariant
validation scoring, and the hooks its subclasses fill in — how a feature matrix becomes
tensors (``_inputs``), which network to build (``_make_net``), how that network is called (its
``forward(*inputs)``) and how an epoch's batches are formed (``_epoch_batches``). torch is
imported inside the methods (and by ``emoclassic._torch`` inside its functions), so importing
the zoo stays cheap.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .._torch import (
    encode_targets,
    forward_padded,
    proba_from_logits,
    shuffled_batches,
    torch_threads,
    train_network,
    zero_rows,
)
from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["NeuralClassifier"]


def _pos_int(owner: str, name: str, v: Any, minimum: int = 1) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ConfigError(f"{owner}: {name}={v!r} must be an integer >= {minimum}")


def _nonneg(owner: str, name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ConfigError(f"{owner}: {name}={v!r} must be a finite number >= 0")


class NeuralClassifier(ClassifierMixin, BaseEstimator):
    """Base of :class:`LSTMSpectrogramClassifier` and :class:`AttentionFusionClassifier`.

    Training (:func:`emoclassic._torch.train_network`): Adam on the cross-entropy (weighted
    by ``class_weight``), mini-batches shuffled by a seeded generator, gradient norm clipped
    at 5; with ``validation_fraction > 0`` a stratified part of the training data is held
    out, training stops after ``patience`` epochs without a lower validation loss and the
    best epoch's weights are kept. Everything runs under ``torch.manual_seed(random_state)``,
    deterministic algorithms and ``n_threads`` torch threads, with the caller's RNG state and
    thread count restored after.
    """

    _owner = "neural classifier"
    #: inference batch: every batch is padded to this size, so a row's output does not
    #: depend on which rows share its batch (oneDNN's blocking follows the batch shape)
    _predict_batch = 64

    # -- parameters ---------------------------------------------------------------------
    def _check_common(self) -> None:
        o = self._owner
        for name in ("epochs", "batch_size"):
            _pos_int(o, name, getattr(self, name))
        _pos_int(o, "patience", self.patience)
        for name in ("lr", "weight_decay"):
            _nonneg(o, name, getattr(self, name))
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not (
            0 <= self.dropout < 1
        ):
            raise ConfigError(f"{o}: dropout={self.dropout!r} must be in [0, 1)")
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, (int, float)) or not 0 <= vf < 1:
            raise ConfigError(
                f"{o}: validation_fraction={vf!r} must be in [0, 1) (0 disables early stopping)"
            )
        if not (self.class_weight in (None, "balanced") or isinstance(self.class_weight, dict)):
            raise ConfigError(
                f"{o}: class_weight={self.class_weight!r} must be None, 'balanced' or a dict"
            )
        rs = self.random_state
        if rs is not None and (isinstance(rs, bool) or not isinstance(rs, (int, np.integer))):
            raise ConfigError(f"{o}: random_state={rs!r} must be an integer or None")
        if self.n_threads is not None:
            _pos_int(o, "n_threads", self.n_threads)

    def _check_params(self) -> None:
        self._check_common()

    def _validate_params(self) -> None:  # the hook the zoo calls when a spec loads
        self._check_params()

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.randint(0, 2**31 - 1))
        return int(self.random_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    # -- to implement ---------------------------------------------------------------------
    def _fit_inputs(self, X) -> tuple[np.ndarray, ...]:  # pragma: no cover
        """Validate training ``X``, learn the input statistics, return the network's inputs."""
        raise NotImplementedError

    def _inputs(self, X) -> tuple[np.ndarray, ...]:  # pragma: no cover
        """The network's inputs for ``X`` at prediction time."""
        raise NotImplementedError

    def _make_net(self, n_classes: int):  # pragma: no cover
        raise NotImplementedError

    # -- training -------------------------------------------------------------------------
    #: gradient norm clip, the usual guard against the exploding gradients recurrent nets
    #: are prone to; the heads always clipped at 5 (the AlexNet classifier never did, so the
    #: shared loop leaves clipping to the caller)
    _clip_norm = 5.0

    def fit(self, X, y):
        """Train on ``X`` (see the class docs for its layout) and labels ``y``; returns self."""
        self._check_params()
        inputs = self._fit_inputs(X)
        self.classes_, y_enc = encode_targets(y, len(inputs[0]))
        train_network(
            self,
            lambda: self._make_net(len(self.classes_)),
            inputs,
            y_enc,
            seed=self._seed(),
            prefix=f"{self._owner}: ",
            batches=self._epoch_batches,
            evaluate=self._val_logits,
            clip_norm=self._clip_norm,
            log=logger.debug,
        )
        return self

    def _epoch_batches(self, tr, gen, tensors, bs: int) -> list:
        """One epoch's mini-batches of training rows (shuffled by ``gen``)."""
        return shuffled_batches(tr, gen, bs)

    def _val_logits(self, net, tensors) -> list:
        """Validation logits in one chunk, through the batch-invariant inference path, so the
        early-stopping loss of a row is what prediction would give it."""
        return [self._forward_batches(net, tensors)]

    # -- inference ------------------------------------------------------------------------
    def _get_net(self):
        net = self.__dict__.get("_net")
        if net is None:  # after unpickling: rebuild around the stored arrays (no copy)
            import torch

            with torch.device("meta"):
                net = self._make_net(len(self.classes_))
            state = {
                k: torch.from_numpy(v if v.flags.writeable else np.array(v))
                for k, v in self.state_dict_.items()
            }
            net.load_state_dict(state, strict=True, assign=True)
            net = net.eval().requires_grad_(False)
            self._net = net
        return net

    #: ``(tensors, n_pad) -> rows`` appended to fill the last inference batch: zeros here;
    #: subclasses whose inputs carry lengths override it with valid dummy rows
    _pad_row = staticmethod(zero_rows)

    def _forward_batches(self, net, tensors, head: str = "logits"):
        """``net`` (or its method ``head``) over all rows in batches of exactly
        ``_predict_batch``, the last one padded with ``_pad_row`` rows."""
        fn = net if head == "logits" else getattr(net, head)
        return forward_padded(fn, tensors, self._predict_batch, self._pad_row)

    def _run(self, X, head: str = "logits") -> np.ndarray:
        import torch

        check_is_fitted(self, "state_dict_")
        inputs = self._inputs(X)
        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
        with torch_threads(self.n_threads):
            return self._forward_batches(self._get_net(), tensors, head).numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return proba_from_logits(self._run(X))

    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        logits = self._run(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_net", None)  # rebuilt lazily from state_dict_ (plain numpy arrays)
        return state
