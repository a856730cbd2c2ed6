"""Per-group standardisation: speaker- and corpus-normalised protocols as one pipeline step.

Each group's feature vectors are centred and scaled with that group's own mean and standard
deviation. Per speaker (``by="speaker"``) this removes much of the voice (pitch range,
loudness) from emotional variation; per corpus (``by="corpus"``) it removes what a recording
set-up adds to every item of a corpus (microphone, room, level, language), the simplest
domain adaptation across corpora. Only the group column is read, never the labels, so the step
runs inside each CV fold and inside a saved model, and a saved model given the files of a new
speaker or corpus together adapts to them (the statistics a row gets are described in
:mod:`emoclassic.fusion._grouped`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._grouped import _GroupStep

__all__ = ["GroupNormalizer"]

_EPS = 1e-8


class GroupNormalizer(_GroupStep):
    """Standardise features per group: per speaker or per corpus (labels are never read).

    Parameters
    ----------
    transformer : transformer or None
        Turns the frame into features (a block's extractor). None: the frame's numeric
        columns, the group column excluded, are the features (a bare matrix is one batch of
        an unnamed group).
    by : str
        The column of the frame that names each row's group: ``"speaker"`` or ``"corpus"``
        (any column works).
    min_rows : int or None
        Fewest rows a group unseen in ``fit`` needs in a batch to use its own statistics;
        smaller groups fall back to the training statistics, with an
        :class:`~emoclassic.fusion.AdaptationWarning`. None: 2 for speakers, 10 for corpora
        and other columns (:data:`~emoclassic.fusion.DEFAULT_MIN_ROWS`).
    with_std : bool
        Also divide by each group's standard deviation (else only centre).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        The training statistics over all training rows: the fallback.
    group_stats_ : dict
        Group id → ``(mean, scale, n_rows)`` of every training group (a training group with
        fewer than ``min_rows`` rows keeps the overall statistics).
    transformer_ : the fitted clone of ``transformer`` (when given)
    n_features_out_ : int
    """


    def __init__(self, transformer: Any = None, *, by: str = "speaker",
                 min_rows: int | None = None, with_std: bool = True):  # fmt: skip
        self.transformer = transformer
        self.by = by
        self.min_rows = min_rows
        self.with_std = with_std

    def __setstate__(self, state: dict) -> None:
        # a SpeakerNormalizer pickled before 0.2 keeps its groups as ``speaker_stats_``
        if "speaker_stats_" in state and "group_stats_" not in state:
            state = {**state, "group_stats_": state["speaker_stats_"]}
            del state["speaker_stats_"]
        super().__setstate__(state)

    def _stats(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.nanmean(F, axis=0) if len(F) else np.zeros(F.shape[1])
        if not self.with_std or len(F) < 2:
            return mean, np.ones_like(mean)
        std = np.nanstd(F, axis=0)
        # A feature constant within a group carries no within-group information: centre it.
        return mean, np.where(std > _EPS, std, 1.0)

    def _fit_groups(self, F: np.ndarray, keys: np.ndarray) -> None:
        self.mean_, self.scale_ = self._stats(F)
        min_rows = self._min_rows()
        self.group_stats_: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for key in sorted({k for k in keys.tolist() if isinstance(k, str)}):
            rows = F[keys == key]
            mean, scale = self._stats(rows)
            if len(rows) < min_rows:
                mean, scale = self.mean_, self.scale_
            self.group_stats_[key] = (mean, scale, len(rows))

    def _seen_groups(self) -> dict:
        return self.group_stats_

    def _adapt_seen(self, F: np.ndarray, key: str) -> np.ndarray:
        mean, scale, _ = self.group_stats_[key]
        return (F - mean) / scale

    def _adapt_new(self, F: np.ndarray) -> np.ndarray:
        mean, scale = self._stats(F)
        return (F - mean) / scale

    def _fallback(self, F: np.ndarray) -> np.ndarray:
        return (F - self.mean_) / self.scale_
