"""Attention fusion over named feature blocks, as a scikit-learn classifier.

Each block of the fused matrix (pooled audio, AlexNet, text, extra …) is projected to a common
size; a small scoring network gives every block a score per utterance, a softmax over the
blocks turns the scores into attention weights, and the weighted sum of the projections is
classified. The weights say, per prediction, which modality the model leaned on
(:meth:`AttentionFusionClassifier.predict_attention`).

Inside a spec (``fusion = "attention"``) the block boundaries come from the fitted
ColumnTransformer (see :class:`emoclassic.fusion.AttentionFusion`); standalone, give them as
``blocks=[("audio", 88), ("text", 384)]``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import validate_data

from ..exceptions import ConfigError, DataError
from ._neural import NeuralClassifier, _pos_int

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

__all__ = ["AttentionFusionClassifier", "block_widths"]


def block_widths(blocks: Any, n_features: int) -> list[tuple[str, int]]:
    """``blocks`` (None, an int, widths or (name, width) pairs) → [(name, width), ...].

    None: one block; an int ``k``: ``k`` nearly equal blocks; widths must add up to
    ``n_features``.
    """
    if blocks is None:
        return [("block0", n_features)]
    if isinstance(blocks, (int, np.integer)) and not isinstance(blocks, bool):
        k = int(blocks)
        if not 1 <= k <= n_features:
            raise DataError(f"blocks={k} must lie in [1, n_features={n_features}]")
        edges = np.linspace(0, n_features, k + 1).round().astype(int)
        pairs = zip(edges[:-1], edges[1:], strict=True)
        return [(f"block{i}", int(b - a)) for i, (a, b) in enumerate(pairs)]
    out: list[tuple[str, int]] = []
    for i, b in enumerate(blocks):
        if isinstance(b, (tuple, list)) and len(b) == 2:
            name, width = str(b[0]), b[1]
        else:
            name, width = f"block{i}", b
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ConfigError(f"attention: block {name!r} has width {width!r}; use an int >= 1")
        out.append((name, int(width)))
    if not out:
        raise ConfigError("attention: blocks=[] names no block; give (name, width) pairs")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"attention: block names {names} must be distinct")
    total = sum(w for _, w in out)
    if total != n_features:
        raise DataError(
            f"attention: blocks {out} cover {total} columns but X has {n_features}; give one "
            "(name, width) pair per block of X, in column order"
        )
    return out


def _attention_net(widths: list[int], proj: int, hidden: int, dropout: float,
                   block_dropout: float, n_classes: int):  # fmt: skip
    import torch
    from torch import nn

    class _AttentionNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.widths = list(widths)
            self.proj = nn.ModuleList(
                nn.Sequential(nn.Dropout(dropout), nn.Linear(w, proj), nn.Tanh())
                for w in widths
            )
            # additive attention: score_m = v . tanh(W h_m + b), shared across blocks
            self.score = nn.Sequential(nn.Linear(proj, proj), nn.Tanh(), nn.Linear(proj, 1))
            head: list[nn.Module] = [nn.Dropout(dropout)]
            if hidden > 0:
                head += [nn.Linear(proj, hidden), nn.ReLU(), nn.Dropout(dropout)]
            head.append(nn.Linear(hidden if hidden > 0 else proj, n_classes))
            self.head = nn.Sequential(*head)

        def attend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            parts = torch.split(x, self.widths, dim=1)
            h = torch.stack([p(xm) for p, xm in zip(self.proj, parts, strict=True)], 1)
            s = self.score(h).squeeze(-1)  # (B, M)
            if self.training and block_dropout > 0 and s.shape[1] > 1:
                # modality dropout: hide whole blocks at random (never all of a row's), so
                # the model cannot lean on one block alone for every utterance
                drop = torch.rand(s.shape) < block_dropout
                keep_one = torch.zeros_like(drop)
                keep_one[torch.arange(len(s)), torch.randint(s.shape[1], (len(s),))] = True
                s = s.masked_fill(drop & ~keep_one, float("-inf"))
            a = torch.softmax(s, dim=1)
            return (a.unsqueeze(-1) * h).sum(1), a

        def attention(self, x: torch.Tensor) -> torch.Tensor:
            return self.attend(x)[1]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.attend(x)[0])

    return _AttentionNet()


class AttentionFusionClassifier(NeuralClassifier):
    """Per-utterance softmax attention over feature blocks, then a small classifier.

    Parameters
    ----------
    blocks : None, int or list of (name, width)
        The blocks of ``X`` in column order (see :func:`block_widths`); ``fusion =
        "attention"`` in a spec fills it from the fused ColumnTransformer.
    projection_dim : int
        Common size every block is projected to (linear + tanh).
    hidden_size : int
        Width of the hidden layer of the classifier head (0: a linear head).
    dropout : float
        Dropout on the block inputs and in the head.
    block_dropout : float
        Training only: probability of hiding each block from the attention of a row (at
        least one block stays), so every modality has to be useful on its own.
    epochs, batch_size, lr, weight_decay, validation_fraction, patience, class_weight
        Training, as for :class:`LSTMSpectrogramClassifier`.
    random_state : int or None
        Seeds initialisation, split, shuffling and dropout.
    n_threads : int or None
        torch threads while fitting and predicting.

    Every input column is standardised with the training rows' statistics (learned in
    ``fit``). Fitted attributes: ``block_names_``, ``block_widths_``, ``classes_``,
    ``history_``, ``state_dict_`` (numpy arrays).
    """

    _owner = "attention"

    def __init__(
        self,
        *,
        blocks: Any = None,
        projection_dim: int = 64,
        hidden_size: int = 64,
        dropout: float = 0.3,
        block_dropout: float = 0.1,
        epochs: int = 100,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        validation_fraction: float = 0.15,
        patience: int = 10,
        class_weight: str | dict | None = None,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ):
        self.blocks = blocks
        self.projection_dim = projection_dim
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.block_dropout = block_dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self) -> None:
        self._check_common()
        _pos_int(self._owner, "projection_dim", self.projection_dim)
        _pos_int(self._owner, "hidden_size", self.hidden_size, minimum=0)
        bd = self.block_dropout
        if isinstance(bd, bool) or not isinstance(bd, (int, float)) or not 0 <= bd < 1:
            raise ConfigError(f"attention: block_dropout={bd!r} must be in [0, 1)")
        b = self.blocks
        if not (b is None or isinstance(b, (int, np.integer, list, tuple))) or isinstance(b, bool):
            raise ConfigError(
                f"attention: blocks={b!r} must be None, an int or a list of (name, width) pairs"
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- input ----------------------------------------------------------------------------
    def _matrix(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, accept_sparse=("csr", "csc"),
                          dtype=[np.float64, np.float32])  # fmt: skip
        if hasattr(X, "toarray"):  # TF-IDF blocks: the projections are dense anyway
            X = X.toarray()
        return np.asarray(X, dtype=np.float32)

    def _fit_inputs(self, X) -> tuple[np.ndarray, ...]:
        X = self._matrix(X, reset=True)
        pairs = block_widths(self.blocks, X.shape[1])
        self.block_names_ = [n for n, _ in pairs]
        self.block_widths_ = [w for _, w in pairs]
        self.mean_ = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = X.std(axis=0, dtype=np.float64)
        self.scale_ = np.where(std > 1e-8, std, 1.0).astype(np.float32)
        return ((X - self.mean_) / self.scale_,)

    def _inputs(self, X) -> tuple[np.ndarray, ...]:
        X = self._matrix(X, reset=False)
        return ((X - self.mean_) / self.scale_,)

    def _make_net(self, n_classes: int):
        return _attention_net(
            self.block_widths_,
            int(self.projection_dim),
            int(self.hidden_size),
            float(self.dropout),
            float(self.block_dropout),
            n_classes,
        )

    # -- attention ------------------------------------------------------------------------
    def predict_attention(self, X) -> np.ndarray:
        """Attention weights ``(n_rows, n_blocks)`` (rows sum to one), columns in the order
        of ``block_names_``."""
        a = self._run(X, head="attention").astype(np.float64)
        return a / a.sum(axis=1, keepdims=True)
