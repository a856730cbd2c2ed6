"""The one torch training loop, and what every trainable torch classifier shares with it.

:class:`~emoclassic.audio.AlexNetSpectrogramClassifier` (a CNN on spectrogram images) and the
heads built on :class:`~emoclassic.models.NeuralClassifier` (the LSTM, attention fusion) train
the same way: a stratified validation split for early stopping, a class-weight vector, Adam on
the weighted cross-entropy over seeded shuffled mini-batches, the best epoch's weights kept,
all under a fixed seed, deterministic kernels and a scoped torch thread count; they predict in
padded batches of a fixed shape. :func:`train_network` is that loop, once; the estimators only
say what differs (how the network is called, augmentation, frozen layers, gradient clipping,
how batches are formed, how validation rows are scored).

Why a module at the top of the package and not in ``models/``: ``audio`` sits below
``models`` in the layering (data, then features/audio/text, then fusion/models, evaluation,
CLI) and must not import upwards, so the loop lives in a leaf that both import, like
``_atomic`` and ``_paths``: it imports nothing of emoclassic but ``exceptions``. torch and
scikit-learn are imported inside the functions, so importing this module — and the estimator
modules that import it at their top — pulls in neither (``import emoclassic`` and
``emoclassic --help`` stay torch-free).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "EarlyStopping",
    "class_weight_vector",
    "deterministic",
    "encode_targets",
    "forward_padded",
    "proba_from_logits",
    "seeded",
    "shuffled_batches",
    "torch_threads",
    "train_network",
    "validation_split",
    "zero_rows",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- torch state
@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, restoring the previous count after."""
    if n is None:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _set_deterministic(mode: bool, warn_only: bool = False) -> None:
    # The public setter also flips torch._inductor's config, importing inductor and dynamo
    # (~2 s per process) for torch.compile, which is never used here; eager kernels read only
    # the flag set by the private call, so use it when inductor is not loaded yet.
    import sys

    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Run the block with torch's deterministic algorithms on, restoring the setting after."""
    import torch

    was = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    _set_deterministic(True)
    try:
        yield
    finally:
        _set_deterministic(was, warn_only=warn_only)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Seed torch's global generator inside the block only (callers' RNG state is kept).

    Yields a separate generator, seeded from ``seed`` too, for shuffling and augmentation.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        gen = torch.Generator()
        gen.manual_seed(int(seed) + 1)
        yield gen


# --------------------------------------------------------------------------- targets, split
def encode_targets(y, n: int, noun: str = "rows") -> tuple[np.ndarray, np.ndarray]:
    """``(classes_, encoded y as int64)`` for ``n`` training ``noun``; a DataError when ``y``
    does not match them or holds fewer than 2 classes (a softmax over one class learns
    nothing)."""
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import column_or_1d

    from .exceptions import DataError

    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    if len(y) != n:
        raise DataError(f"X has {n} {noun} but y has {len(y)} labels; align them")
    classes, y_enc = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"y has 1 class ({classes[0]!r}); the classifier needs at least 2 classes")
    return classes, y_enc.astype(np.int64)


def validation_split(
    y, n_classes: int, fraction: float, seed, *, owner: str, epochs: int, noun: str = "rows"
):
    """Stratified (train, validation) row indices for early stopping, both sorted.

    No validation part (all rows train, no early stopping, logged) when ``fraction`` is 0 or
    the corpus is too small to hold every class on both sides.
    """
    n = len(y)
    if fraction == 0:
        return np.arange(n), np.arange(0)
    n_val = int(round(fraction * n))
    counts = np.bincount(y, minlength=n_classes)
    if n_val < n_classes or n - n_val < n_classes or counts.min() < 2:
        logger.info(
            "%s: %d %s in %d classes are too few for a validation split of %.2f; "
            "training %d epochs without early stopping",
            owner, n, noun, n_classes, fraction, epochs,
        )  # fmt: skip
        return np.arange(n), np.arange(0)
    from sklearn.model_selection import StratifiedShuffleSplit

    sss = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    train, val = next(sss.split(np.zeros(n), y))
    return np.sort(train), np.sort(val)


def class_weight_vector(class_weight, y, classes, *, prefix: str = ""):
    """Per-class loss weights (encoded ``y``) or None.

    ``"balanced"`` is ``n / (k * count)``, with 1 for a class absent from these rows; a dict
    maps labels to weights (1 for the rest); an unknown label is a ConfigError.
    """
    from .exceptions import ConfigError

    if class_weight is None:
        return None
    k = len(classes)
    if class_weight == "balanced":
        counts = np.bincount(y, minlength=k).astype(float)
        return np.where(counts > 0, len(y) / (k * np.maximum(counts, 1)), 1.0)
    unknown = set(class_weight) - set(classes.tolist())
    if unknown:
        raise ConfigError(
            f"{prefix}class_weight names labels {sorted(map(str, unknown))} not in y; use "
            f"labels from {classes.tolist()}"
        )
    return np.array([float(class_weight.get(c, 1.0)) for c in classes])


class EarlyStopping:
    """Keeps the weights of the epoch with the lowest validation loss; counts stale epochs."""

    def __init__(self, patience: int):
        self.patience = int(patience)
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.stale = 0

    def update(self, net: torch.nn.Module, val_loss: float, epoch: int) -> bool:
        """Record one epoch's validation loss; True when training should stop."""
        if val_loss < self.best_loss - 1e-6:
            self.best_loss, self.best_epoch, self.stale = val_loss, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            self.stale += 1
        return self.stale >= self.patience

    def restore(self, net: torch.nn.Module, n_epochs: int) -> int:
        """Load the best weights into ``net``; the best epoch (the last one without validation)."""
        if self.best_state is None:
            return n_epochs
        net.load_state_dict(self.best_state)
        return self.best_epoch


# --------------------------------------------------------------------------- batches
def shuffled_batches(rows: torch.Tensor, gen: torch.Generator, batch_size: int) -> list:
    """One epoch's mini-batches: ``rows`` shuffled by ``gen``, cut into ``batch_size`` slices."""
    import torch

    order = rows[torch.randperm(len(rows), generator=gen)]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def zero_rows(tensors: Sequence[torch.Tensor], n: int) -> list:
    """``n`` all-zero rows shaped like the rows of each of ``tensors`` (inference padding)."""
    return [t.new_zeros((n, *t.shape[1:])) for t in tensors]


def forward_padded(
    fn: Callable[..., torch.Tensor],
    tensors: Sequence[torch.Tensor],
    batch_size: int,
    pad: Callable[[list, int], list] | None = None,
) -> torch.Tensor:
    """``fn(*batch)`` over all rows in batches of exactly ``batch_size``, under
    ``inference_mode``; the outputs of the real rows, concatenated.

    oneDNN's blocking, hence float rounding, follows the batch shape: with one fixed shape a
    row's output does not depend on which rows share its batch (subsets, order, a single
    row). The last batch is filled with ``pad(part, n_missing)`` rows (zeros by default; a
    model whose inputs carry lengths supplies valid dummy rows).
    """
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(tensors[0]), batch_size):
            part = [t[i : i + batch_size] for t in tensors]
            m = len(part[0])
            if m < batch_size:
                fill = (pad or zero_rows)(part, batch_size - m)
                part = [torch.cat([a, b]) for a, b in zip(part, fill, strict=True)]
            out.append(fn(*part)[:m])
    return torch.cat(out)


def proba_from_logits(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (shifted by the row maximum, so no overflow)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- the loop
def _call(net, *inputs):
    return net(*inputs)


def _shuffled(rows, gen, tensors, batch_size: int) -> list:
    return shuffled_batches(rows, gen, batch_size)


def train_network(
    est,
    make_net: Callable[[], torch.nn.Module],
    inputs: Sequence[np.ndarray],
    y: np.ndarray,
    *,
    seed,
    noun: str = "rows",
    prefix: str = "",
    forward: Callable[..., torch.Tensor] = _call,
    batches: Callable[[torch.Tensor, torch.Generator, list, int], list] | None = None,
    augment: Callable[[list, torch.Generator], list] | None = None,
    evaluate: Callable[[torch.nn.Module, list], Iterable[torch.Tensor]] | None = None,
    frozen: Sequence[str] = (),
    clip_norm: float | None = None,
    log: Callable[..., Any] = logger.debug,
) -> None:
    """Train ``make_net()`` on ``inputs`` (arrays, one row per example) and encoded ``y``.

    The hyperparameters are read from the estimator ``est`` — ``epochs``, ``batch_size``,
    ``lr``, ``weight_decay``, ``validation_fraction``, ``patience``, ``class_weight`` (for
    ``est.classes_``), ``n_threads`` — so every classifier spells them the same way, and the
    fitted state is written back to it: ``history_`` (per epoch ``train_loss``, and
    ``val_loss``/``val_accuracy`` with a validation split), ``n_epochs_``, ``best_epoch_``,
    ``state_dict_`` (numpy views of the weights: the pickle needs no torch format and loads on
    any CPU) and ``_net`` (the network, in eval mode).

    Everything from building the network on runs under :func:`torch_threads`,
    :func:`deterministic` and :func:`seeded` (``seed``): the same seed gives the same weights.
    What differs between models is passed in:

    forward
        ``forward(net, *batch) -> logits`` (default ``net(*batch)``).
    batches
        ``batches(train_rows, gen, tensors, batch_size)`` -> one epoch's index batches
        (default :func:`shuffled_batches`; the LSTM groups similar lengths).
    augment
        ``augment(batch, gen) -> batch``, applied to each training batch's inputs.
    evaluate
        ``evaluate(net, val_tensors)`` -> consecutive logits chunks covering the validation
        rows (default: ``forward`` over unpadded ``batch_size`` slices); the loss is summed
        per chunk.
    frozen
        Names of submodules kept fixed and in eval mode (fine-tuning a pretrained part).
    clip_norm
        Clip the gradient norm of the trainable parameters at this value (None: no clipping).
    noun, prefix, log
        Wording of the validation-split notice and the class-weight error; where each
        epoch's record is logged.
    """
    import torch
    import torch.nn.functional as F

    owner = type(est).__name__
    train_idx, val_idx = validation_split(
        y, len(est.classes_), est.validation_fraction, seed,
        owner=owner, epochs=est.epochs, noun=noun,
    )  # fmt: skip
    weights = class_weight_vector(est.class_weight, y[train_idx], est.classes_, prefix=prefix)
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
    y_all = torch.from_numpy(y)
    bs = int(est.batch_size)
    if batches is None:
        batches = _shuffled
    if evaluate is None:

        def evaluate(net, ts):
            return (forward(net, *[t[i : i + bs] for t in ts]) for i in range(0, len(ts[0]), bs))

    history: list[dict] = []
    with torch_threads(est.n_threads), deterministic(), seeded(seed) as gen:
        net = make_net()
        for name in frozen:
            net.get_submodule(name).requires_grad_(False)
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=float(est.lr), weight_decay=float(est.weight_decay))
        cw = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        stopper = EarlyStopping(est.patience)
        tr = torch.from_numpy(train_idx)
        for epoch in range(1, int(est.epochs) + 1):
            net.train()
            for name in frozen:  # dropout/batch statistics of a fixed part stay fixed too
                net.get_submodule(name).eval()
            total, seen = 0.0, 0
            for idx in batches(tr, gen, tensors, bs):
                batch = [t[idx] for t in tensors]
                if augment is not None:
                    batch = augment(batch, gen)
                loss = F.cross_entropy(forward(net, *batch), y_all[idx], weight=cw)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, clip_norm)
                opt.step()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            record: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(seen, 1)}
            if len(val_idx):
                vi = torch.from_numpy(val_idx)
                val_loss, val_acc = _val_score(
                    evaluate, net, [t[vi] for t in tensors], y_all[vi], cw
                )
                record.update(val_loss=val_loss, val_accuracy=val_acc)
            stop = bool(len(val_idx)) and stopper.update(net, val_loss, epoch)
            history.append(record)
            log("%s epoch %s", owner, record)
            if stop:
                break
        best_epoch = stopper.restore(net, len(history))
    net.eval().requires_grad_(False)
    est.history_ = history
    est.n_epochs_ = len(history)
    est.best_epoch_ = best_epoch
    est.state_dict_ = {k: v.numpy() for k, v in net.state_dict().items()}
    est._net = net


def _val_score(evaluate, net, tensors, y, cw) -> tuple[float, float]:
    """(class-weighted mean loss, accuracy) of ``net`` on the validation rows."""
    import torch
    import torch.nn.functional as F

    net.eval()
    total, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for logits in evaluate(net, tensors):
            yb = y[seen : seen + len(logits)]
            total += float(F.cross_entropy(logits, yb, weight=cw, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(logits)
    denom = float(len(y)) if cw is None else float(cw[y].sum())
    return total / max(denom, 1e-12), correct / max(len(y), 1)
