"""What the small torch classifiers share: parameter checks, seeded CPU training with early
stopping on an inner validation split, class weights, batch-invariant inference, and a pickle
that holds plain numpy arrays (portable joblib artifacts, no torch format inside).

Subclasses say how a feature matrix becomes tensors (``_inputs``), which network to build
(``_make_net``) and how that network is called (its ``forward(*inputs)``). torch is imported
inside the methods, so importing the zoo stays cheap.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ..exceptions import ConfigError, DataError

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

    Training: Adam on the cross-entropy (weighted by ``class_weight``), mini-batches shuffled
    by a seeded generator, gradient norm clipped at 5; with ``validation_fraction > 0`` a
    stratified part of the training data is held out, training stops after ``patience``
    epochs without a lower validation loss and the best epoch's weights are kept. Everything
    runs under ``torch.manual_seed(random_state)``, deterministic algorithms and
    ``n_threads`` torch threads, with the caller's RNG state and thread count restored after.
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
    def fit(self, X, y):
        """Train on ``X`` (see the class docs for its layout) and labels ``y``; returns self."""
        self._check_params()
        inputs = self._fit_inputs(X)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        n = len(inputs[0])
        if len(y) != n:
            raise DataError(f"X has {n} rows but y has {len(y)} labels; align them")
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(
                f"y has 1 class ({self.classes_[0]!r}); the classifier needs at least 2 classes"
            )
        self._train(inputs, y_enc.astype(np.int64), self._seed())
        return self

    def _train(self, inputs: tuple[np.ndarray, ...], y: np.ndarray, seed: int) -> None:
        import torch
        import torch.nn.functional as F

        from ..audio._torchutil import (
            EarlyStopping,
            class_weight_vector,
            deterministic,
            seeded,
            torch_threads,
            validation_split,
        )

        train_idx, val_idx = validation_split(
            y, len(self.classes_), self.validation_fraction, seed,
            owner=type(self).__name__, epochs=self.epochs,
        )  # fmt: skip
        weights = class_weight_vector(
            self.class_weight, y[train_idx], self.classes_, prefix=f"{self._owner}: "
        )
        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
        y_all = torch.from_numpy(y)
        bs = int(self.batch_size)
        history: list[dict] = []
        with torch_threads(self.n_threads), deterministic(), seeded(seed) as gen:
            net = self._make_net(len(self.classes_))
            opt = torch.optim.Adam(
                net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
            )
            cw = None if weights is None else torch.tensor(weights, dtype=torch.float32)
            stopper = EarlyStopping(self.patience)
            tr = torch.from_numpy(train_idx)
            for epoch in range(1, int(self.epochs) + 1):
                net.train()
                total, seen = 0.0, 0
                for idx in self._epoch_batches(tr, gen, tensors, bs):
                    logits = net(*[t[idx] for t in tensors])
                    loss = F.cross_entropy(logits, y_all[idx], weight=cw)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    seen += len(idx)
                record: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(seen, 1)}
                if len(val_idx):
                    vi = torch.from_numpy(val_idx)
                    val_loss, val_acc = self._val_score(net, [t[vi] for t in tensors],
                                                        y_all[vi], cw)  # fmt: skip
                    record.update(val_loss=val_loss, val_accuracy=val_acc)
                stop = bool(len(val_idx)) and stopper.update(net, val_loss, epoch)
                history.append(record)
                logger.debug("%s epoch %s", type(self).__name__, record)
                if stop:
                    break
            best_epoch = stopper.restore(net, len(history))
        net.eval().requires_grad_(False)
        self.history_ = history
        self.n_epochs_ = len(history)
        self.best_epoch_ = best_epoch
        # numpy views of the tensors: the pickle needs no torch format and loads on any CPU
        self.state_dict_ = {k: v.numpy() for k, v in net.state_dict().items()}
        self._net = net

    def _epoch_batches(self, tr, gen, tensors, bs: int) -> list:
        """One epoch's mini-batches of training rows (shuffled by ``gen``)."""
        import torch

        order = tr[torch.randperm(len(tr), generator=gen)]
        return [order[i : i + bs] for i in range(0, len(order), bs)]

    def _val_score(self, net, tensors, y, cw) -> tuple[float, float]:
        import torch
        import torch.nn.functional as F

        net.eval()
        with torch.no_grad():
            logits = self._forward_batches(net, tensors)
        loss = float(F.cross_entropy(logits, y, weight=cw, reduction="sum"))
        denom = float(len(y)) if cw is None else float(cw[y].sum())
        return loss / max(denom, 1e-12), float((logits.argmax(1) == y).float().mean())

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

    def _pad_row(self, tensors, n_pad: int):
        """Rows appended to fill the last inference batch (subclasses with lengths override)."""
        return [t.new_zeros((n_pad, *t.shape[1:])) for t in tensors]

    def _forward_batches(self, net, tensors, head: str = "logits"):
        """``net`` over all rows in batches of exactly ``_predict_batch`` (last one padded)."""
        import torch

        bs = self._predict_batch
        out = []
        n = len(tensors[0])
        with torch.inference_mode():
            for i in range(0, n, bs):
                part = [t[i : i + bs] for t in tensors]
                m = len(part[0])
                if m < bs:
                    pad = self._pad_row(part, bs - m)
                    part = [torch.cat([a, b]) for a, b in zip(part, pad, strict=True)]
                res = net(*part) if head == "logits" else getattr(net, head)(*part)
                out.append(res[:m])
        return torch.cat(out)

    def _run(self, X, head: str = "logits") -> np.ndarray:
        import torch

        from ..audio._torchutil import torch_threads

        check_is_fitted(self, "state_dict_")
        inputs = self._inputs(X)
        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
        with torch_threads(self.n_threads):
            return self._forward_batches(self._get_net(), tensors, head).numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        logits = self._run(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        logits = self._run(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_net", None)  # rebuilt lazily from state_dict_ (plain numpy arrays)
        return state
