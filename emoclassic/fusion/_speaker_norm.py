"""Per-speaker standardisation under its first name: ``GroupNormalizer(by="speaker")``.

Specs build :class:`~emoclassic.fusion.GroupNormalizer` (``normalization = "speaker"``, or the
older ``speaker_normalization = true``). This class keeps the first spelling working: code that
builds ``SpeakerNormalizer(extractor)`` and models saved before 0.2, which pickled it under this
module's name. It is the same step; only its group-column parameter has its old name.
"""

from __future__ import annotations

from typing import Any

from .._deprecate import DEPRECATED, renamed
from ._group_norm import GroupNormalizer
from ._grouped import AdaptationWarning

__all__ = ["SpeakerNormalizer", "SpeakerNormalizationWarning"]

#: the old name of :class:`~emoclassic.fusion.AdaptationWarning`
SpeakerNormalizationWarning = AdaptationWarning


class SpeakerNormalizer(GroupNormalizer):
    """Standardise features per speaker: :class:`GroupNormalizer` with ``by="speaker"``.

    Parameters
    ----------
    transformer : transformer or None
        Turns the frame into features (a block's extractor). None: the frame's numeric columns,
        the speaker column excluded, are the features.
    speaker_column : str
        The column of the frame that says who spoke.
    min_rows : int
        Fewest rows a speaker unseen in ``fit`` needs in a batch to use its own statistics.
    with_std : bool
        Also divide by each speaker's standard deviation (else only centre).
    column : str
        The old name of ``speaker_column`` (deprecated; removed in 0.3).
    """

    def __init__(
        self,
        transformer: Any = None,
        *,
        speaker_column: str = "speaker",
        min_rows: int = 2,
        with_std: bool = True,
        column=DEPRECATED,
    ):
        self.transformer = transformer
        self.speaker_column = speaker_column
        self.min_rows = min_rows
        self.with_std = with_std
        self.column = column

    @property
    def by(self) -> str:
        """The speaker column (``GroupNormalizer``'s ``by``)."""
        # a model pickled before the rename has only ``column``
        return renamed("column", getattr(self, "column", DEPRECATED), "speaker_column",
                       getattr(self, "speaker_column", "speaker"), default="speaker",
                       stacklevel=6)

    @property
    def speaker_stats_(self) -> dict:
        """The per-speaker statistics (``group_stats_``, under its old name)."""
        return self.group_stats_
