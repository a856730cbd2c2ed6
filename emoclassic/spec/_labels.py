"""The ``[labels]`` table of a spec: how training reads the annotators' votes.

``mode = "hard"`` (the default) trains on the ``label`` column alone, as before votes existed;
``"soft"`` gives every voted class of an utterance a copy of it weighted by that class's share
of the votes (the classifier learns the annotators' distribution, not one winner);
``"weighted"`` trains on the hard label weighted by the agreement. ``min_agreement`` leaves the
training rows whose agreement is below it out of every fit (rows without votes stay). The
metrics always score the hard ``label``, one utterance once; ``high_agreement`` (0.75) is the
agreement from which the report's ``metrics_high_agreement`` counts an item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigError
from ._types import check_keys

__all__ = ["LABEL_MODES", "LabelsSpec"]

LABEL_MODES = ("hard", "soft", "weighted")
LABELS_KEYS = ("mode", "min_agreement", "high_agreement")
#: the default of ``high_agreement``: three of four annotators agree
HIGH_AGREEMENT = 0.75


@dataclass(frozen=True)
class LabelsSpec:
    """``[labels]``: ``mode`` (hard, soft or weighted), ``min_agreement`` and
    ``high_agreement`` (0 to 1)."""

    mode: str = "hard"
    min_agreement: float = 0.0
    high_agreement: float = HIGH_AGREEMENT

    @classmethod
    def from_table(cls, table: Any) -> LabelsSpec:
        """The ``[labels]`` table's values, checked (one-line :class:`ConfigError`)."""
        if not isinstance(table, Mapping):
            raise ConfigError('[labels] must be a table, e.g. [labels] mode = "soft"')
        check_keys(table, LABELS_KEYS, "[labels]")
        mode = table.get("mode", "hard")
        if mode not in LABEL_MODES:
            raise ConfigError(f"[labels] mode = {mode!r}; valid: {', '.join(LABEL_MODES)}")
        value = table.get("min_agreement", 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(
                f"[labels] min_agreement = {value!r} must be a number from 0.0 to 1.0 (the "
                "share of votes the majority label needs for a row to train)"
            )
        high = table.get("high_agreement", HIGH_AGREEMENT)
        if isinstance(high, bool) or not isinstance(high, (int, float)) or not 0 < high <= 1:
            raise ConfigError(
                f"[labels] high_agreement = {high!r} must be a number above 0.0, up to 1.0 (the "
                "agreement from which the report scores an item as high-agreement; e.g. 0.75)"
            )
        return cls(mode, float(value), float(high))

    @property
    def is_default(self) -> bool:
        """Hard labels and every row: training as before votes existed."""
        return self.mode == "hard" and self.min_agreement == 0.0

    @property
    def weighs_rows(self) -> bool:
        """Whether training gives the classifier a ``sample_weight`` (soft, weighted)."""
        return self.mode != "hard"

    def to_table(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "min_agreement": self.min_agreement}
        if self.high_agreement != HIGH_AGREEMENT:
            out["high_agreement"] = self.high_agreement
        return out
