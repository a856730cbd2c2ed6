"""Training with the annotators' votes: the rows a fit sees, and the report's ``protocol.labels``.

A spec's ``[labels]`` (:class:`~emoclassic.spec.LabelsSpec`) changes what the classifier is
fitted on, never what is scored:

- ``soft``: an utterance becomes one row per voted class (of the run's classes), weighted by
  that class's share of its votes, so the classifier is fitted to the annotators'
  distribution (a cross-entropy against soft targets, for any classifier that takes
  ``sample_weight``). Rows with votes but no majority label train too. Rows without votes
  train on their label with weight 1.
- ``weighted``: the hard label, weighted by the agreement (1 without votes).
- ``min_agreement``: training rows below it are left out (rows without votes stay).

Weights are rescaled to sum to the number of utterances trained on, so a classifier's
regularisation (``C``) means what it means with hard labels.

Folds are cut over utterances, never over the copies: the outer folds before any copy exists
(:mod:`._run`), the grid search's inner folds here, on the utterances of the training part,
then mapped onto their copies. Every metric, the grid search's included, scores the hard
``label`` of each utterance once: an inner validation fold scores the first copy of each
labelled utterance with :class:`HardLabelScorer`; the outer test folds hold the labelled
utterances only (no copies).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data._votes import VOTES_HELP, agreement, parse_votes, top_label
from ..exceptions import DataError
from ._splits import _inner_cv

logger = logging.getLogger(__name__)

__all__ = ["HardLabelScorer", "TrainingRows", "labels_protocol", "stratify_labels",
           "training_rows", "vote_table"]  # fmt: skip

#: the label of a row with votes but no majority (it trains in soft mode, is never scored)
NO_LABEL = ""


def vote_table(frame: pd.DataFrame) -> list[dict[str, float] | None]:
    """The parsed ``votes`` of every row of ``frame`` (None where a row has none)."""
    if "votes" not in frame.columns:
        return [None] * len(frame)
    ids = frame["id"].astype(str).tolist() if "id" in frame.columns else None
    out = []
    for i, value in enumerate(frame["votes"].tolist()):
        try:
            out.append(parse_votes(value))
        except ValueError as exc:
            where = f"id {ids[i]!r}" if ids is not None else f"row {i + 1}"
            raise DataError(f"{where}, column 'votes': {value!r}: {exc}; {VOTES_HELP}") from None
    return out


def labelled_mask(y: Sequence[Any]) -> np.ndarray:
    """Whether each label is a real one (not :data:`NO_LABEL`)."""
    return np.array([isinstance(v, str) and v != NO_LABEL for v in y], dtype=bool)


def stratify_labels(frame: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """What folds stratify by: the label, or the most voted of the labels' classes for a row
    without one (its most voted class when none of its votes is among them)."""
    votes = vote_table(frame)
    labelled = labelled_mask(y)
    space = set(y[labelled])

    def top(v) -> str | None:
        shares = _shares(v, space)
        return shares[0][0] if shares else top_label(v)

    return np.array([y[i] if labelled[i] else top(votes[i]) for i in range(len(y))],
                    dtype=object)  # fmt: skip


class HardLabelScorer:
    """A grid search's scorer over the copies of soft-label training: each validation row
    is scored against its utterance's hard label (looked up by ``id``), not the voted class
    of the copy. (Only the first copy of each labelled utterance is in a validation fold.)"""

    def __init__(self, scoring: str, hard: dict[str, str]):
        self.scoring = scoring
        self.hard = hard

    def __call__(self, estimator, X, y=None) -> float:
        from sklearn.metrics import get_scorer

        truth = np.array([self.hard[i] for i in X["id"].astype(str)], dtype=object)
        return get_scorer(self.scoring)(estimator, X, truth)


@dataclass
class TrainingRows:
    """What one fit sees: ``X``/``y``/``sample_weight`` (copies of an utterance adjacent),
    ``origin`` (the training part's row each one copies), ``scored`` (the row an inner
    validation fold scores for its utterance), ``kept`` (the training part's rows trained on),
    ``strat`` (their stratification labels) and ``hard`` (id -> hard label, for scoring)."""

    X: pd.DataFrame
    y: np.ndarray
    sample_weight: np.ndarray | None
    origin: np.ndarray
    scored: np.ndarray
    kept: np.ndarray
    strat: np.ndarray
    hard: dict[str, str]

    def fit_params(self, estimator) -> dict[str, Any]:
        """The keyword that hands the weights to ``estimator``'s classifier."""
        from ..fusion._weights import fit_params

        return fit_params(estimator, self.sample_weight)

    def scorer(self, scoring: str) -> HardLabelScorer:
        return HardLabelScorer(scoring, self.hard)

    def inner_splits(self, inner, n_splits, groups, dev_mask, random_state
                     ) -> list[tuple[np.ndarray, np.ndarray]]:  # fmt: skip
        """The grid search's folds: cut over the utterances kept (by the same rules as
        without votes, :func:`._splits._inner_cv`), then mapped onto their copies."""
        g = groups[self.kept] if groups is not None else None
        dm = dev_mask[self.kept] if dev_mask is not None else None
        splitter, wants_groups = _inner_cv(inner, n_splits, self.strat, g, dm, random_state)
        unit = np.searchsorted(self.kept, self.origin)
        out = []
        for train_u, test_u in splitter.split(np.zeros(len(self.kept)), self.strat,
                                              g if wants_groups else None):  # fmt: skip
            train = np.flatnonzero(np.isin(unit, train_u))
            test = np.flatnonzero(np.isin(unit, test_u) & self.scored)
            if len(train) and len(test):
                out.append((train, test))
        if not out:
            raise DataError("grid search: no validation fold holds a labelled utterance; "
                            "give more labelled rows or fewer folds")  # fmt: skip
        return out


def _shares(votes: dict[str, float] | None, space: set[str]) -> list[tuple[str, float]]:
    """``(class, share of all the votes)`` of the voted classes in ``space``, most first."""
    if not votes:
        return []
    total = float(sum(votes.values()))
    return sorted(((c, n / total) for c, n in votes.items() if c in space),
                  key=lambda t: (-t[1], t[0]))  # fmt: skip


def training_rows(X: pd.DataFrame, y: Sequence[Any], labels, classes: Sequence[str] | None = None
                  ) -> TrainingRows | None:  # fmt: skip
    """The rows, labels and weights a fit on training part ``(X, y)`` sees under ``labels``
    (a :class:`~emoclassic.spec.LabelsSpec`), or None when that is ``(X, y)`` itself (hard
    labels, no ``min_agreement``, or no votes at all). ``classes``: the run's label space (a
    vote for another class trains nothing); default: the labels of ``y``."""
    y = np.asarray(y, dtype=object)
    labelled = labelled_mask(y)
    votes = vote_table(X)
    has_votes = any(v is not None for v in votes)
    if labelled.all() and (labels.is_default or not has_votes):
        return None
    space = set(classes) if classes is not None else set(y[labelled])
    agree = np.array([agreement(v) for v in votes], dtype=float)
    keep = ~(agree < labels.min_agreement)  # NaN (no votes) is never below
    if labels.mode != "soft":
        keep &= labelled
    origin: list[int] = []
    targets: list[str] = []
    weights: list[float] = []
    for i in np.flatnonzero(keep):
        if labels.mode == "soft":
            shares = _shares(votes[i], space) or ([(y[i], 1.0)] if labelled[i] else [])
        elif labels.mode == "weighted" and not np.isnan(agree[i]):
            shares = [(y[i], agree[i])]
        else:
            shares = [(y[i], 1.0)]
        for c, w in shares:
            origin.append(int(i))
            targets.append(c)
            weights.append(w)
    if len(set(targets)) < 2:
        raise DataError(
            f"[labels] mode = {labels.mode!r}, min_agreement = {labels.min_agreement}: a "
            f"training part keeps {len(set(targets))} class(es); lower min_agreement"
        )
    o = np.asarray(origin)
    kept = np.unique(o)
    w = np.asarray(weights, dtype=float)
    w *= len(kept) / w.sum()
    first = np.r_[True, o[1:] != o[:-1]]
    ids = X["id"].astype(str).to_numpy(dtype=object)
    strat = np.array([y[i] if labelled[i] else (_shares(votes[i], space) or [(None, 0)])[0][0]
                      for i in kept], dtype=object)  # fmt: skip
    logger.debug("training rows: %d utterances of %d kept, %d rows (%s labels)", len(kept),
                 len(y), len(o), labels.mode)  # fmt: skip
    return TrainingRows(
        X=X.iloc[o].reset_index(drop=True),
        y=np.asarray(targets, dtype=object),
        sample_weight=None if labels.mode == "hard" else w,
        origin=o,
        scored=first & labelled[o],
        kept=kept,
        strat=strat,
        hard={ids[i]: y[i] for i in kept if labelled[i]},
    )


def labels_protocol(labels, manifest: pd.DataFrame, df: pd.DataFrame) -> dict[str, Any]:
    """The report's ``protocol.labels``: the mode, what the votes were and what was left out.

    ``manifest`` is the input (before rows without labels were dropped), ``df`` the rows
    evaluated. ``n_no_majority`` rows have votes but no label: they train in soft mode and
    are never scored (in hard and weighted mode they are left out); ``n_below_min_agreement``
    are left out of every training part.
    """
    votes = vote_table(manifest)
    has = np.array([v is not None for v in votes], dtype=bool)
    label = manifest["label"] if "label" in manifest.columns else pd.Series(None, manifest.index)
    no_label = (label.isna() | (label.astype(str).str.strip() == "")).to_numpy()
    agree = np.array([agreement(v) for v in vote_table(df)], dtype=float)
    seen = agree[~np.isnan(agree)]
    out: dict[str, Any] = {
        "mode": labels.mode,
        "min_agreement": labels.min_agreement,
        "sample_weight": {"hard": None, "soft": "share of votes",
                          "weighted": "agreement"}[labels.mode],  # fmt: skip
        "n_with_votes": int(has.sum()),
        "n_no_majority": int((has & no_label).sum()),
        "no_majority": "trained, not scored" if labels.mode == "soft" else "left out",
        "n_below_min_agreement": int((seen < labels.min_agreement).sum()),
    }
    if len(seen):
        high = labels.high_agreement
        out["agreement"] = {
            "mean": round(float(seen.mean()), 4),
            "median": round(float(np.median(seen)), 4),
            f"share_ge_{high:g}": round(float((seen >= high).mean()), 4),
        }
    return out


def high_agreement_metrics(labels, df: pd.DataFrame, y: np.ndarray, y_pred: np.ndarray,
                           covered: np.ndarray, classes: Sequence[str]) -> dict[str, Any] | None:
    """The report's ``metrics_high_agreement``: the scores of the items whose annotators
    agreed at least ``[labels] high_agreement`` (0.75), beside the all-items ``metrics``.

    Why: on ambiguous items even a human panel disagrees, so a model's errors there say less
    than its errors where the panel agreed; the gap between the two figures is the part of the
    error the labels themselves explain. None when no scored item has votes."""
    from ._metrics import compute_metrics

    agree = np.array([agreement(v) for v in vote_table(df)], dtype=float)
    voted = covered & ~np.isnan(agree)
    if not voted.any():
        return None
    keep = voted & (agree >= labels.high_agreement)
    out: dict[str, Any] = {"threshold": labels.high_agreement, "n": int(keep.sum()),
                           "n_with_votes": int(voted.sum())}
    out["metrics"] = (compute_metrics(y[keep], y_pred[keep], labels=classes)["metrics"]
                      if keep.any() else None)
    return out
