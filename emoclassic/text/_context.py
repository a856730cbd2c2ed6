"""Dialogue context: what each utterance is read with (EmoBERTa-style past/future windows).

In conversational corpora the neighbouring turns carry much of an utterance's emotion, so the
text of each row can be read together with up to ``past`` earlier and ``future`` later
utterances of the same dialogue, optionally as ``"Speaker: text"``. Windows are built over the
rows passed in, ordered by ``dialogue_id`` then ``utterance_index``, and never cross dialogues.
Future context reads other utterances' transcripts at prediction time: it suits offline
analysis of whole dialogues, not live, turn-by-turn prediction.

The options and surface both text extractors (sentence vectors, TF-IDF) share live here too:
the ``missing`` and context-size checks, the ``text_missing`` column, the input tags.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["ContextWindow", "TextRows", "as_text_rows", "build_context_texts", "context_windows"]


@dataclass(frozen=True)
class ContextWindow:
    """The input of one utterance: earlier turns, the target, later turns (chronological)."""

    past: tuple[str, ...]
    target: str | None  # None: the row's own text is missing or empty
    future: tuple[str, ...]

    def render(self, sep: str = " [SEP] ") -> str:
        """One string: past turns, then the target, then future turns, ``sep`` between parts."""
        parts = []
        if self.past:
            parts.append(" ".join(self.past))
        parts.append(self.target or "")
        if self.future:
            parts.append(" ".join(self.future))
        return sep.join(parts)

    def key(self) -> tuple:
        """The exact model input, structure included, for cache keys."""
        return (list(self.past), self.target, list(self.future))


@dataclass
class TextRows:
    """The columns a text block reads, one entry per input row, missing values as None."""

    ids: list[str]
    text: list[str | None]
    speaker: list[str | None]
    dialogue: list[Any]
    utterance_index: np.ndarray  # float, NaN when unknown

    def __len__(self) -> int:
        return len(self.ids)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _as_str(value: Any) -> str | None:
    if _missing(value):
        return None
    return value if isinstance(value, str) else str(value)


def _column(frame: pd.DataFrame, name: str) -> list:
    if name not in frame.columns:
        return [None] * len(frame)
    return frame[name].astype(object).tolist()


def as_text_rows(X: Any) -> TextRows:
    """Read a manifest/sub-frame (``text`` column), a Series, a list or 1-D array of strings.

    A one-column frame or ``(n, 1)`` array is read as the text, as a ColumnTransformer passes it.
    """
    if isinstance(X, str):
        raise DataError("text input is a single string; pass a list of strings or a manifest")
    if isinstance(X, pd.DataFrame):
        frame = X
        if "text" not in frame.columns:
            if frame.shape[1] != 1:
                raise DataError(
                    f"text input has no 'text' column (columns: {list(frame.columns)[:8]}); "
                    "pass the manifest or a frame with a 'text' column"
                )
            frame = frame.rename(columns={frame.columns[0]: "text"})
    elif isinstance(X, pd.Series):
        frame = pd.DataFrame({"text": X.astype(object).to_numpy()})
    else:
        arr = np.asarray(X, dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise DataError(
                f"text input has shape {arr.shape}; pass a 1-D list of strings or a manifest "
                "with a 'text' column"
            )
        frame = pd.DataFrame({"text": arr})
    n = len(frame)
    raw_ids = _column(frame, "id")
    ids = [f"row {i}" if _missing(v) else str(v) for i, v in enumerate(raw_ids)]
    if "utterance_index" in frame.columns:
        uidx = pd.to_numeric(frame["utterance_index"].astype(object), errors="coerce")
        uidx = np.asarray(uidx, dtype=float)
    else:
        uidx = np.full(n, np.nan)
    return TextRows(
        ids=ids,
        text=[_as_str(v) for v in _column(frame, "text")],
        speaker=[_as_str(v) for v in _column(frame, "speaker")],
        dialogue=[None if _missing(v) else v for v in _column(frame, "dialogue_id")],
        utterance_index=uidx,
    )


def check_window(past: Any, future: Any) -> None:
    """Context sizes must be non-negative integers."""
    for name, value in (("context_past", past), ("context_future", future)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ConfigError(f"{name}={value!r} is not valid; use a whole number >= 0")


def check_text_options(missing: Any, past: Any, future: Any) -> None:
    """The options both text extractors share: ``missing`` must be ``"zero"`` (zero row +
    ``text_missing`` column) or ``"error"``, the context sizes whole numbers >= 0."""
    if missing not in ("zero", "error"):
        raise ConfigError(f"missing={missing!r} is not valid; use 'zero' or 'error'")
    check_window(past, future)


def feature_names(names: list[str], missing: str) -> np.ndarray:
    """A text block's output names: ``names``, then ``text_missing`` when ``missing="zero"``."""
    if missing == "zero":
        names = [*names, "text_missing"]
    return np.asarray(names, dtype=object)


def text_input_tags(tags):
    """scikit-learn tags of an estimator whose input is text rows, not a 2-D number array."""
    tags.input_tags.string = True
    tags.input_tags.two_d_array = False
    return tags


def _dialogue_orders(rows: TextRows, first: dict[str, int]) -> list[np.ndarray]:
    """Row positions of each dialogue in utterance order (row order when indices are missing);
    a repeated id (``first``: its first position) is one utterance, listed once."""
    groups: dict[Any, list[int]] = {}
    for pos, d in enumerate(rows.dialogue):
        if d is not None and first[rows.ids[pos]] == pos:
            groups.setdefault(d, []).append(pos)
    orders = []
    for d, positions in groups.items():
        pos = np.asarray(positions)
        idx = rows.utterance_index[pos]
        if np.isnan(idx).any():
            logger.debug("dialogue %r has rows without utterance_index: using row order", d)
        else:
            pos = pos[np.argsort(idx, kind="stable")]
        orders.append(pos)
    return orders


def context_windows(
    X: Any, *, past: int = 0, future: int = 0, speaker_names: bool = False
) -> tuple[TextRows, list[ContextWindow]]:
    """The rows of ``X`` and one :class:`ContextWindow` per row, in input row order.

    Rows without ``dialogue_id`` get no context; context turns with missing text are skipped.
    Rows of one ``id`` (copies of an utterance, one per voted class in soft-label training)
    are one turn of the dialogue: each copy gets its window, never itself as context.
    """
    check_window(past, future)
    rows = as_text_rows(X)

    def fmt(i: int) -> str | None:
        text = rows.text[i]
        if text is None or not text.strip():
            return None
        if speaker_names and rows.speaker[i] is not None:
            return f"{rows.speaker[i]}: {text}"
        return text

    utts = [fmt(i) for i in range(len(rows))]
    windows = [ContextWindow((), u, ()) for u in utts]
    if past == 0 and future == 0:
        return rows, windows
    if all(d is None for d in rows.dialogue) and len(rows):
        logger.info(
            "context_past/context_future set but the input has no dialogue_id: no context used"
        )
    first: dict[str, int] = {}
    for pos, row_id in enumerate(rows.ids):
        first.setdefault(row_id, pos)
    for order in _dialogue_orders(rows, first):
        seq = [utts[p] for p in order]
        for k, p in enumerate(order):
            before = tuple(u for u in seq[max(0, k - past) : k] if u is not None)
            after = tuple(u for u in seq[k + 1 : k + 1 + future] if u is not None)
            windows[p] = ContextWindow(before, utts[p], after)
    for pos, row_id in enumerate(rows.ids):  # the copies soft-label training makes of a row
        windows[pos] = windows[first[row_id]]
    return rows, windows


def build_context_texts(
    X: Any,
    *,
    past: int = 0,
    future: int = 0,
    speaker_names: bool = False,
    sep: str = " [SEP] ",
) -> list[str]:
    """The text each row is read with: ``past turns{sep}target{sep}future turns``.

    One string per input row (input order); the context is gathered in ``dialogue_id`` then
    ``utterance_index`` order and never crosses dialogues; ``"Speaker: text"`` only when
    ``speaker_names``. A missing target renders as an empty string.
    """
    _, windows = context_windows(X, past=past, future=future, speaker_names=speaker_names)
    return [w.render(sep) for w in windows]
