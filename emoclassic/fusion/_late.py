"""Decision-level fusion: per-modality classifiers combined by voting, stacking or confidence.

Every branch is a full pipeline over the manifest frame (its own feature blocks, scaling and
classifier), so each modality is modelled on its own terms and only the branches' class
probabilities meet:

- :class:`VotingFusion`: weighted average of the branches' probabilities (weights gridable);
- :class:`StackingFusion`: a meta-learner trained on *out-of-fold* branch probabilities (or
  decision values, for branches without probabilities: the meta-learner calibrates). The
  inner folds are grouped by the frame's group column (the speaker), so the meta-learner learns
  how much to trust each branch on unseen speakers, as it will be used. scikit-learn's
  ``StackingClassifier`` cannot take groups for its inner CV, hence this implementation.
  With the early-fused model as one more branch it is the *hybrid* fusion;
- :class:`AdaptiveFusion`: per-utterance modality weights that follow each branch's confidence
  (max probability or inverse entropy) through a softmax with a gridable temperature: a
  classical stand-in for attention-based fusion.

Calibration of voting and adaptive fusion (``calibration="temperature"``): averaging calibrated
branches gives under-confident probabilities (where the branches disagree the mean is flat, and
each branch alone already spreads its mass), so the fused probabilities get one temperature,
fitted by the log-loss on out-of-fold fused probabilities of speaker-grouped inner folds (the
folds stacking uses: the branches are refitted once per fold). A temperature cannot reorder the
classes, so every prediction stays what it was; which is also why a grid search scored on labels
may skip it (``emoclassic.evaluation`` does) and fit it only for the model it keeps.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted

from .._deprecate import DEPRECATED, renamed
from ..data._groups import group_ids
from ..exceptions import ConfigError
from ..models import apply_temperature, fit_temperature
from ._weights import fit_weighted

logger = logging.getLogger(__name__)

__all__ = ["AdaptiveFusion", "StackingFusion", "VotingFusion", "aligned_proba", "aligned_scores"]


def aligned_proba(estimator, X, classes: np.ndarray) -> np.ndarray:
    """``predict_proba`` with columns in the order of ``classes`` (absent classes get 0)."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    est_classes = list(estimator.classes_)
    if len(est_classes) == len(classes) and np.array_equal(est_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(est_classes):
        out[:, index[c]] = proba[:, j]
    return out


def aligned_scores(estimator, X, classes: np.ndarray) -> np.ndarray:
    """Class scores for a meta-learner: probabilities if the estimator has them, else its
    decision values (one column per class; a binary decision ``d`` becomes ``[-d, d]``)."""
    if hasattr(estimator, "predict_proba"):
        return aligned_proba(estimator, X, classes)
    d = np.asarray(estimator.decision_function(X), dtype=np.float64)
    est_classes = list(estimator.classes_)
    if d.ndim == 1:
        d = np.column_stack([-d, d])
    out = np.full((d.shape[0], len(classes)), float(d.min()) - 1.0 if d.size else 0.0)
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(est_classes):
        out[:, index[c]] = d[:, j]
    return out


def _subset(X, idx):
    return X.iloc[idx] if isinstance(X, pd.DataFrame) else X[idx]


def _part(sample_weight, idx):
    return None if sample_weight is None else np.asarray(sample_weight)[idx]


def _copy_groups(X) -> np.ndarray | None:
    """The ``id`` of each row when some repeat (the copies soft-label training makes of an
    utterance, one per voted class, must share a fold), else None."""
    if isinstance(X, pd.DataFrame) and "id" in X.columns and X["id"].duplicated().any():
        return X["id"].astype(str).to_numpy(dtype=object)
    return None


#: what voting and adaptive fusion accept as ``calibration`` (``auto``: temperature)
FUSED_CALIBRATIONS = ("auto", "temperature", "none")


def grouped_splits(X, y, *, cv, groups: str | None, random_state: int, who: str
                   ) -> list[tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Inner folds of a fusion's training part, never splitting a value of column ``groups``
    of the frame ``X`` (the speaker): ``StratifiedGroupKFold`` with at most ``cv`` folds (fewer
    when there are fewer groups). Without a usable column, stratified folds and a warning.
    ``who`` names the caller in messages. The copies of one utterance (rows of one ``id``)
    always share a fold."""
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ConfigError(f"{who}: cv={cv!r} must be an integer >= 2")
    ids = group_ids(X, groups)
    if ids is None or len(set(ids)) < 2:
        ids = _copy_groups(X)  # copies of one utterance (soft labels) still share a fold
        warnings.warn(
            f"{who}: no usable groups column {groups!r}; the inner folds are stratified, not "
            "grouped by speaker",
            UserWarning,
            stacklevel=3,
        )
    if ids is not None and len(set(ids)) >= 2:
        n = int(min(cv, len(set(ids))))
        splitter = StratifiedGroupKFold(n, shuffle=True, random_state=random_state)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*least populated class.*")
            return list(splitter.split(np.zeros(len(y)), y, ids))
    _, counts = np.unique(y, return_counts=True)
    n = int(max(2, min(cv, counts.min())))
    splitter = StratifiedKFold(n, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(y)), y))


def reject_unknown(given, names: list[str], what: str) -> None:
    """One error for a weight given to a block or branch that does not exist."""
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(f"{what} {unknown[0]!r}; valid: {', '.join(names)}")


class _FusionBase(ClassifierMixin, _BaseComposition):
    """Shared parts: named branches (nested params ``<branch>__...``), weights, prediction."""

    _required_parameters = ["estimators"]

    def get_params(self, deep: bool = True):
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        self._set_params("estimators", **params)
        return self

    @property
    def named_estimators_(self) -> dict:
        check_is_fitted(self, "estimators_")
        return {name: est for (name, _), est in zip(self.estimators, self.estimators_, strict=True)}

    def _check_estimators(self) -> list[str]:
        if not self.estimators:
            raise ConfigError(f"{type(self).__name__} needs at least one (name, estimator) branch")
        names = [n for n, _ in self.estimators]
        if len(set(names)) != len(names):
            raise ConfigError(f"{type(self).__name__}: branch names {names} must be distinct")
        return names

    def _weights(self) -> np.ndarray:
        names = [n for n, _ in self.estimators]
        w = self.weights
        if w is None:
            return np.ones(len(names))
        if isinstance(w, dict):
            reject_unknown(w, names, "fusion weights name unknown branch")
            arr = np.array([float(w.get(n, 1.0)) for n in names])
        else:
            arr = np.asarray(w, dtype=float).reshape(-1)
            if arr.shape[0] != len(names):
                raise ConfigError(
                    f"fusion weights {list(w)} must have one value per branch ({', '.join(names)})"
                )
        if np.any(arr < 0) or not np.any(arr > 0):
            raise ConfigError(f"fusion weights {list(arr)} must be >= 0 with at least one > 0")
        return arr

    def _fit_branches(self, X, y, sample_weight=None) -> None:
        self.estimators_ = [fit_weighted(clone(est), X, y, sample_weight)
                            for _, est in self.estimators]  # fmt: skip

    def _branch_probas(self, X) -> list[np.ndarray]:
        return [aligned_proba(est, X, self.classes_) for est in self.estimators_]

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class _CalibratedFusion(_FusionBase):
    """Voting and adaptive fusion: branches whose probabilities are combined per row by
    :meth:`_fuse`, then (``calibration="temperature"``) given one temperature fitted on
    speaker-grouped out-of-fold fused probabilities (see the module docstring)."""

    def _calibration(self) -> str:
        c = getattr(self, "calibration", "none")  # models pickled before the parameter
        if c not in FUSED_CALIBRATIONS:
            raise ConfigError(f"{type(self).__name__}: calibration={c!r}; valid: "
                              f"{', '.join(FUSED_CALIBRATIONS)}")  # fmt: skip
        return "none" if c == "none" else "temperature"

    def _fuse(self, probas: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _check(self) -> None:
        """Validate the subclass's own parameters (nothing here)."""

    def fit(self, X, y, sample_weight=None):
        """Fit the calibration (if any), then every branch; ``sample_weight`` reaches each
        branch's classifier (:mod:`._weights`)."""
        self._check_estimators()
        self._check()
        self._weights()
        self._calibration()
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self._fit_calibration(X, y, sample_weight)
        self._fit_branches(X, y, sample_weight)
        return self

    def _fit_calibration(self, X, y, sample_weight=None) -> None:
        """``calibration_temperature_`` (1: none) and the inner folds it was fitted on."""
        self.calibration_temperature_ = 1.0
        if self._calibration() == "none" or int((self._weights() > 0).sum()) < 2:
            return  # one weighted branch: nothing is averaged, its own calibration stands
        k = len(self.classes_)
        oof = np.full((len(y), k), np.nan)
        self.calibration_splits_ = grouped_splits(
            X, y, cv=self.cv, groups=self.groups, random_state=self.random_state,
            who=f"{type(self).__name__} calibration",
        )  # fmt: skip
        for train, test in self.calibration_splits_:
            X_tr, X_te = _subset(X, train), _subset(X, test)
            w = _part(sample_weight, train)
            fitted = [fit_weighted(clone(est), X_tr, y[train], w) for _, est in self.estimators]
            oof[test] = self._fuse([aligned_proba(f, X_te, self.classes_) for f in fitted])
        seen = ~np.isnan(oof).any(axis=1)
        self.calibration_temperature_ = fit_temperature(
            oof[seen], y[seen], self.classes_, sample_weight=_part(sample_weight, seen)
        )
        logger.debug("%s: fused temperature %.3f on %d out-of-fold rows", type(self).__name__,
                     self.calibration_temperature_, int(seen.sum()))  # fmt: skip

    def _calibrated(self, fused: np.ndarray) -> np.ndarray:
        return apply_temperature(fused, getattr(self, "calibration_temperature_", 1.0))


class VotingFusion(_CalibratedFusion):
    """Weighted soft voting over branch probabilities.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Branch pipelines, each with ``predict_proba``.
    weights : list, dict or None
        One weight per branch (by position or name); None: equal weights.
    calibration : {"none", "temperature", "auto"}
        ``temperature`` (``auto``): one temperature on the fused probabilities, fitted on
        out-of-fold fused probabilities of ``cv`` inner folds grouped by ``groups`` (the
        branches are refitted once per fold); predictions do not change.
    cv, groups, random_state
        The calibration's inner folds, as :class:`StackingFusion`'s.
    """

    def __init__(self, estimators, *, weights=None, calibration: str = "none", cv: int = 5,
                 groups: str | None = "speaker", random_state: int = 0):  # fmt: skip
        self.estimators = estimators
        self.weights = weights
        self.calibration = calibration
        self.cv = cv
        self.groups = groups
        self.random_state = random_state

    def _fuse(self, probas: list[np.ndarray]) -> np.ndarray:
        w = self._weights()
        return sum(wi * p for wi, p in zip(w, probas, strict=True)) / w.sum()

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        return self._calibrated(self._fuse(self._branch_probas(X)))


class StackingFusion(_FusionBase):
    """A meta-learner over out-of-fold branch scores, with grouped inner folds.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Branch pipelines, with ``predict_proba`` or ``decision_function``.
    final_estimator : classifier or None
        The meta-learner (default: logistic regression).
    cv : int
        Inner folds for the out-of-fold probabilities (fewer when there are fewer groups).
    groups : str or None
        Column of the frame ``X`` whose values must not be split across the inner folds (the
        speaker by default; the spec's ``cv.groups``): no group is in both the part a branch is
        fitted on and the part it predicts. Without it, stratified folds (a warning).
    random_state : int
        Seed of the inner folds.
    group_column : str
        The old name of ``groups`` (deprecated; removed in 0.3).
    """

    def __init__(
        self,
        estimators,
        final_estimator=None,
        *,
        cv: int = 5,
        groups: str | None = "speaker",
        random_state: int = 0,
        group_column=DEPRECATED,
    ):
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.cv = cv
        self.groups = groups
        self.random_state = random_state
        self.group_column = group_column

    def _splits(self, X, y) -> list[tuple[np.ndarray, np.ndarray]]:
        column = renamed("group_column", getattr(self, "group_column", DEPRECATED), "groups",
                         self.groups, default="speaker", stacklevel=4)
        return grouped_splits(X, y, cv=self.cv, groups=column, random_state=self.random_state,
                              who="stacking")  # fmt: skip

    def _meta(self):
        if self.final_estimator is not None:
            return clone(self.final_estimator)
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=2000)

    def fit(self, X, y, sample_weight=None):
        """Out-of-fold branch scores, the meta-learner on them, then the branches on all rows;
        ``sample_weight`` reaches every branch's classifier and the meta-learner."""
        self._check_estimators()
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        k = len(self.classes_)
        oof = np.full((len(y), k * len(self.estimators)), np.nan)
        self.inner_splits_ = self._splits(X, y)
        for train, test in self.inner_splits_:
            X_tr, X_te = _subset(X, train), _subset(X, test)
            for m, (_, est) in enumerate(self.estimators):
                fitted = fit_weighted(clone(est), X_tr, y[train], _part(sample_weight, train))
                oof[test, m * k : (m + 1) * k] = aligned_scores(fitted, X_te, self.classes_)
        seen = ~np.isnan(oof).any(axis=1)
        if not seen.all():  # pragma: no cover - KFold splitters cover every row once
            logger.warning("stacking: %d rows got no out-of-fold prediction", int((~seen).sum()))
        self.oof_proba_ = oof
        self.final_estimator_ = fit_weighted(self._meta(), oof[seen], y[seen],
                                             _part(sample_weight, seen))  # fmt: skip
        self._fit_branches(X, y, sample_weight)
        return self

    def _meta_features(self, X) -> np.ndarray:
        return np.hstack([aligned_scores(est, X, self.classes_) for est in self.estimators_])

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "final_estimator_")
        return aligned_proba(self.final_estimator_, self._meta_features(X), self.classes_)


class AdaptiveFusion(_CalibratedFusion):
    """Confidence-weighted fusion: each utterance weights each branch by how sure it is.

    For branch ``m`` with probabilities ``p_m(x)`` and confidence ``c_m(x)`` (the largest
    probability, or ``1 - H(p_m)/log K`` with ``confidence="entropy"``), the weight is
    ``softmax_m(log w_m + c_m(x) / temperature)``: a high temperature tends to fixed weights
    ``w_m``, a low one picks the most confident branch per utterance. ``calibration``, ``cv``,
    ``groups`` and ``random_state`` calibrate the fused probabilities as in
    :class:`VotingFusion` (that temperature is another one: ``calibration_temperature_``).
    """

    def __init__(self, estimators, *, weights=None, temperature: float = 0.2,
                 confidence: str = "max_prob", calibration: str = "none", cv: int = 5,
                 groups: str | None = "speaker", random_state: int = 0):  # fmt: skip
        self.estimators = estimators
        self.weights = weights
        self.temperature = temperature
        self.confidence = confidence
        self.calibration = calibration
        self.cv = cv
        self.groups = groups
        self.random_state = random_state

    def _check(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) or t <= 0:
            raise ConfigError(f"adaptive fusion: temperature={t!r} must be a number > 0")
        if self.confidence not in ("max_prob", "entropy"):
            raise ConfigError(
                f"adaptive fusion: confidence={self.confidence!r}; use 'max_prob' or 'entropy'"
            )

    def _fuse(self, probas: list[np.ndarray]) -> np.ndarray:
        return self._combine(probas)[0]

    def _confidence(self, p: np.ndarray) -> np.ndarray:
        if self.confidence == "max_prob":
            return p.max(axis=1)
        k = p.shape[1]
        if k < 2:
            return np.ones(p.shape[0])
        q = np.clip(p, 1e-12, 1.0)
        return 1.0 - (-(q * np.log(q)).sum(axis=1) / np.log(k))

    def _combine(self, probas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        self._check()
        prior = self._weights()
        logits = np.stack(
            [np.log(max(w, 1e-12)) + self._confidence(p) / float(self.temperature)
             for w, p in zip(prior, probas, strict=True)],
            axis=1,
        )  # fmt: skip
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        fused = sum(weights[:, [m]] * p for m, p in enumerate(probas))
        return fused, weights

    def modality_weights(self, X) -> np.ndarray:
        """Per-utterance branch weights (n_rows × n_branches), for inspection."""
        check_is_fitted(self, "estimators_")
        return self._combine(self._branch_probas(X))[1]

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        return self._calibrated(self._fuse(self._branch_probas(X)))
