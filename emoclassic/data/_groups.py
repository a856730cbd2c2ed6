"""Fold groups: the values of the ``groups`` column (the speaker by default) as group ids.

One rule, used by the outer CV folds and by every inner split (stacking's meta-learner, the
grid search): a row whose group id is missing cannot be matched with anyone, so it is its own
group (with the copies of it that soft-label training makes: rows of the same ``id``).
Treating all missing ids as one group would put unrelated rows together; dropping them would
lose data.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["group_ids"]


def group_ids(frame: pd.DataFrame, column: str | None, *, warn: bool = False) -> np.ndarray | None:
    """Group ids of ``frame``'s rows from ``column`` (str objects), each missing id its own
    group (``<row i>``); None when there is no such column or it is empty. ``warn`` logs how
    many rows had no id (the outer folds say it once; inner splits stay quiet)."""
    if column is None or not isinstance(frame, pd.DataFrame) or column not in frame.columns:
        return None
    values = frame[column]
    missing = (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
    if missing.all():
        return None
    if warn and missing.any():
        logger.warning(
            "%d row(s) have no %r; each is treated as its own group (it may share a speaker "
            "with other rows: fill the column for a strictly speaker-independent split)",
            int(missing.sum()),
            column,
        )
    out = values.astype(str).to_numpy(dtype=object)
    # copies of one utterance (soft-label training repeats a row per voted class, same id)
    # are one row: the group of a missing id is named by the utterance's first row
    first: dict[str, int] = {}
    ids = frame["id"].astype(str).tolist() if "id" in frame.columns else None
    for i in np.flatnonzero(missing):
        out[i] = f"<row {i if ids is None else first.setdefault(ids[i], int(i))}>"
    return out
