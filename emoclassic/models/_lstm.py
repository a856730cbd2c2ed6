"""A (bi)LSTM over frame-level log-mel sequences, as a scikit-learn classifier.

It reads the rows of a ``frames`` feature block (:class:`~emoclassic.audio._frames.
LogMelFrames`: ``[n_valid, F, frames...]``), so frames come from the feature store and the CV
harness like every other block. Sequences are packed (``pack_padded_sequence``): the LSTM never
sees a padded frame, and the pooled summary (mean over valid frames + final states) ignores
them too, so padding never changes a prediction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils.validation import validate_data

from ..exceptions import ConfigError, DataError
from ._neural import NeuralClassifier, _pos_int

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

__all__ = ["LSTMSpectrogramClassifier"]


def _lstm_net(input_dim: int, hidden: int, layers: int, bidirectional: bool, dropout: float,
              n_classes: int):  # fmt: skip
    """The network, built here so torch is imported only when a model is made."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class _LSTMNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(
                input_dim,
                hidden,
                num_layers=layers,
                batch_first=True,
                bidirectional=bidirectional,
                dropout=dropout if layers > 1 else 0.0,
            )
            d = hidden * (2 if bidirectional else 1)
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(2 * d, n_classes)

        def summary(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            """Mean of the outputs over the valid frames, and the final states."""
            t = int(lengths.max())
            packed = pack_padded_sequence(
                x[:, :t], lengths, batch_first=True, enforce_sorted=False
            )
            out, (h, _) = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # zeros past end
            mean = out.sum(1) / lengths.to(out.dtype).unsqueeze(1)
            last = torch.cat([h[-2], h[-1]], 1) if bidirectional else h[-1]
            return torch.cat([mean, last], 1)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.out(self.drop(self.summary(x, lengths)))

    return _LSTMNet()


class LSTMSpectrogramClassifier(NeuralClassifier):
    """(Bi)LSTM over variable-length log-mel (+ delta) frame sequences.

    ``X`` holds the rows of a ``frames`` feature block (``[n_valid, F, frames...]``, see
    :class:`~emoclassic.audio._frames.LogMelFrames`); with ``input_dim=d`` it holds plain
    full-length sequences instead, ``n_columns / d`` frames of ``d`` values (time-major).
    Each frame value is standardised with the mean and standard deviation of the training
    rows' valid frames (learned in ``fit``, so inside the CV fold). The summary of a sequence
    is the mean of the LSTM outputs over its valid frames concatenated with the final
    hidden states (both directions), followed by dropout and a linear layer.

    Parameters
    ----------
    hidden_size, num_layers, bidirectional
        The LSTM.
    dropout : float
        Dropout on the summary (and between stacked LSTM layers).
    epochs, batch_size, lr, weight_decay
        Training schedule (Adam).
    validation_fraction, patience
        Early stopping on an inner stratified split (0: no split, every epoch runs).
    class_weight : None, "balanced" or dict
        Loss weights per class.
    frame_stack : int
        Consecutive frames concatenated into one LSTM step (after standardisation): 2 halves
        the number of steps, hence most of the CPU time, and keeps every value.
    utterance_norm : bool
        Subtract each sequence's own mean frame (over its valid frames) before the global
        standardisation: cepstral-mean-style normalisation that removes a clip's overall
        level and spectral tilt (channel, speaker), leaving the movement within the clip.
    input_dim : int or None
        None: rows in the frames layout; an int: plain ``(T, input_dim)`` rows.
    random_state : int or None
        Seeds initialisation, split, shuffling and dropout (None: a fresh seed per fit).
    n_threads : int or None
        torch threads while fitting and predicting (restored after); 1 or 2 on a shared box.
    """

    _owner = "lstm"

    def __init__(
        self,
        *,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
        epochs: int = 30,
        batch_size: int = 32,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.15,
        patience: int = 6,
        class_weight: str | dict | None = None,
        frame_stack: int = 2,
        utterance_norm: bool = False,
        input_dim: int | None = None,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.frame_stack = frame_stack
        self.utterance_norm = utterance_norm
        self.input_dim = input_dim
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self) -> None:
        self._check_common()
        _pos_int(self._owner, "hidden_size", self.hidden_size)
        _pos_int(self._owner, "num_layers", self.num_layers)
        _pos_int(self._owner, "frame_stack", self.frame_stack)
        for name in ("bidirectional", "utterance_norm"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"lstm: {name}={getattr(self, name)!r} must be true or false")
        if self.input_dim is not None:
            _pos_int(self._owner, "input_dim", self.input_dim)

    # -- input ----------------------------------------------------------------------------
    def _sequences(self, X, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64])
        if self.input_dim is None:
            from ..audio._frames import split_frames

            return split_frames(X)
        d = int(self.input_dim)
        if X.shape[1] % d:
            raise DataError(
                f"X has {X.shape[1]} columns, not a multiple of input_dim={d}; give rows of "
                "(T, input_dim) frames, or input_dim=None for the frames layout"
            )
        frames = np.ascontiguousarray(X, dtype=np.float32).reshape(len(X), -1, d)
        return frames, np.full(len(X), frames.shape[1], dtype=np.int64)

    def _centre(self, frames: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Each sequence minus its own mean frame (``utterance_norm``); padding stays zero."""
        if not self.utterance_norm:
            return frames
        valid = (np.arange(frames.shape[1])[None, :] < lengths[:, None])[..., None]
        mean = (frames * valid).sum(axis=1, keepdims=True) / lengths[:, None, None]
        return np.where(valid, frames - mean, 0.0).astype(np.float32)

    def _fit_inputs(self, X) -> tuple[np.ndarray, ...]:
        frames, lengths = self._sequences(X, reset=True)
        frames = self._centre(frames, lengths)
        valid = np.arange(frames.shape[1])[None, :] < lengths[:, None]
        v = frames[valid].astype(np.float64)  # (n_valid_frames, F)
        self.frame_dim_ = int(frames.shape[2])
        self.max_frames_ = int(frames.shape[1])
        self.frame_mean_ = v.mean(axis=0).astype(np.float32)
        std = v.std(axis=0)
        self.frame_scale_ = np.where(std > 1e-8, std, 1.0).astype(np.float32)
        return self._standardise(frames, lengths)

    def _inputs(self, X) -> tuple[np.ndarray, ...]:
        frames, lengths = self._sequences(X, reset=False)
        if frames.shape[2] != self.frame_dim_:
            raise DataError(
                f"X has {frames.shape[2]} values per frame but the model was fitted on "
                f"{self.frame_dim_}; use the same frames block settings"
            )
        frames = self._centre(frames, lengths)
        return self._standardise(frames, lengths)

    def _standardise(self, frames: np.ndarray, lengths: np.ndarray):
        """Standardised frames with zero padding, stacked by ``frame_stack``, and the
        stacked lengths."""
        out = (frames - self.frame_mean_) / self.frame_scale_
        out[np.arange(out.shape[1])[None, :] >= lengths[:, None]] = 0.0  # padding stays zero
        k = int(self.frame_stack)
        if k > 1:
            n, t, f = out.shape
            t_pad = -(-t // k) * k
            if t_pad > t:
                out = np.concatenate([out, np.zeros((n, t_pad - t, f), out.dtype)], axis=1)
            out = out.reshape(n, t_pad // k, k * f)
            lengths = -(-lengths // k)
        return out.astype(np.float32, copy=False), lengths

    def _epoch_batches(self, tr, gen, tensors, bs: int) -> list:
        """Shuffled batches of similar lengths ("sortish"): rows are shuffled, sorted by
        length within pools of 8 batches, cut into batches, and the batches shuffled. A batch
        runs as many LSTM steps as its longest row, so this saves most padded steps."""
        import torch

        lengths = tensors[1]
        order = tr[torch.randperm(len(tr), generator=gen)]
        batches = []
        pool = 8 * bs
        for i in range(0, len(order), pool):
            chunk = order[i : i + pool]
            chunk = chunk[torch.argsort(lengths[chunk], descending=True, stable=True)]
            batches += [chunk[j : j + bs] for j in range(0, len(chunk), bs)]
        perm = torch.randperm(len(batches), generator=gen)
        return [batches[int(k)] for k in perm]

    def _pad_row(self, tensors, n_pad: int):
        x, lengths = tensors
        return [x.new_zeros((n_pad, *x.shape[1:])), lengths.new_ones(n_pad)]

    def _make_net(self, n_classes: int):
        return _lstm_net(
            int(self.frame_dim_) * int(self.frame_stack),
            int(self.hidden_size),
            int(self.num_layers),
            bool(self.bidirectional),
            float(self.dropout),
            n_classes,
        )

    def transform_summary(self, X) -> np.ndarray:
        """The fitted sequence summaries (mean output + final states), features for another
        classifier."""
        return self._run(X, head="summary").astype(np.float32, copy=False)
