"""Fold rules: which rows are usable, how they are grouped, and the outer and inner splits.

The honest protocol is the default:

- outer folds never share a group (speaker): ``group`` = StratifiedGroupKFold,
  ``groupkfold`` = GroupKFold, ``logo`` = leave one group out; ``split`` = the corpus's own
  train/dev/test (tune on train with dev as the single validation fold, refit on train+dev,
  report on test); ``corpus`` = leave one corpus out (a run-time protocol, not a spec's
  scheme: a spec does not know how many corpora it will meet); ``stratified`` ignores groups
  and is only used when asked for, loudly;
- the grid search runs inside each outer training fold, with grouped inner folds;
- with several corpora in the data, a speaker is a (corpus, speaker) pair: two corpora that
  both number their speakers ``01, 02, ...`` hold different people, and one corpus's ``01``
  must not decide where another's goes.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    LeaveOneGroupOut,
    PredefinedSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from ..data._groups import group_ids
from ..exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["LABEL", "NoGroupsWarning"]

#: column that holds the labels
LABEL = "label"
#: column that names each row's corpus
CORPUS = "corpus"
#: schemes run_cv takes beyond the spec's ``cv.scheme`` values (see the module docstring)
PROTOCOL_SCHEMES = ("corpus",)

#: manifest columns the feature blocks read, which a bare DataFrame may lack
_OPTIONAL_INPUT_COLUMNS = ("path", "text", "dialogue_id", "utterance_index", "start", "end")


class NoGroupsWarning(UserWarning):
    """Folds are not grouped by speaker: scores are speaker-dependent and optimistic."""


def _prepare(manifest: pd.DataFrame, *, keep_votes: bool = False) -> tuple[pd.DataFrame, int]:
    """The usable rows (labelled; with ``keep_votes``, also the rows with votes but no label,
    whose label becomes ``""``: soft-label training reads them) and how many were left out."""
    if not isinstance(manifest, pd.DataFrame):
        raise DataError(f"expected a manifest DataFrame; got {type(manifest).__name__}")
    if LABEL not in manifest.columns:
        raise DataError("the manifest has no 'label' column; evaluation needs labelled rows")
    if "id" not in manifest.columns:
        raise DataError("the manifest has no 'id' column; give every row an id")
    dup = manifest["id"].astype(str).duplicated()
    if dup.any():
        raise DataError(
            f"row id {manifest['id'][dup].iloc[0]!r} appears more than once; ids must be unique"
        )
    labels = manifest[LABEL]
    missing = (labels.isna() | (labels.astype(str).str.strip() == "")).to_numpy()
    voted = np.zeros(len(manifest), dtype=bool)
    if "votes" in manifest.columns:
        v = manifest["votes"]
        voted = (v.notna() & (v.astype(str).str.strip() != "")).to_numpy()
    drop = missing & ~(voted & keep_votes)
    if drop.any():
        logger.warning("%d row(s) have no label and are left out%s", int(drop.sum()),
                       f" ({int((drop & voted).sum())} with votes: they train with [labels] "
                       "mode = 'soft')" if (drop & voted).any() else "")  # fmt: skip
    df = manifest.loc[~drop].reset_index(drop=True)
    df[LABEL] = np.where(missing[~drop], "", df[LABEL].astype(str)).astype(object)
    for column in _OPTIONAL_INPUT_COLUMNS:  # blocks select these by name; absent means empty
        if column not in df.columns:
            df[column] = None
    if df.loc[df[LABEL] != "", LABEL].nunique() < 2:
        raise DataError("evaluation needs at least two classes in the 'label' column")
    return df, int(drop.sum())


def _combined(manifest: pd.DataFrame) -> dict:
    """The cv report's ``data`` keys on how the inputs were combined
    (:func:`emoclassic.data.combine_manifests`): ``dropped`` {corpus: {label: n}} (the rows
    outside the label space) and ``label_space`` {mode, classes}; {} for a plain frame."""
    info = getattr(manifest, "attrs", {}).get("emoclassic_combine")
    if not isinstance(info, dict):
        return {}
    return {
        "dropped": {str(c): dict(v) for c, v in (info.get("dropped") or {}).items()},
        "label_space": {"mode": info.get("mode"), "classes": list(info.get("classes") or [])},
    }


def _runtime(**settings: Any) -> dict[str, Any]:
    """The settings a caller gave explicitly (None: keep the context's)."""
    return {k: v for k, v in settings.items() if v is not None}


def _corpora(df: pd.DataFrame) -> list[str]:
    """The distinct corpus names of ``df``'s rows, in order of appearance ([] without any)."""
    if CORPUS not in df.columns:
        return []
    names = df[CORPUS].dropna().astype(str)
    return list(dict.fromkeys(names[names.str.strip() != ""]))


def _groups(df: pd.DataFrame, column: str) -> np.ndarray | None:
    """Group ids of the folds (None when the column is absent or empty).

    With several corpora in ``df`` and a column other than ``corpus``, an id is the pair
    ``corpus:value`` (see the module docstring); a row without a value stays its own group.
    """
    ids = group_ids(df, column, warn=True)
    if ids is None or column == CORPUS or len(_corpora(df)) < 2:
        return ids
    corpus = df[CORPUS].astype(str).to_numpy(dtype=object)
    return np.array([f"{c}:{g}" for c, g in zip(corpus, ids, strict=True)], dtype=object)


def _check_corpus_scheme(df: pd.DataFrame) -> None:
    """``--cv corpus`` needs two corpora at least; say so before anything is extracted."""
    names = _corpora(df)
    if len(names) < 2:
        held = f"it holds only {names[0]!r}" if names else "it has no corpus column"
        raise DataError(
            f"--cv corpus (leave one corpus out) needs at least two corpora and {held}; give "
            "several --corpus/--manifest, or choose --cv group"
        )


def _loud(message: str) -> None:
    bar = "!" * 20
    logger.warning("%s %s %s", bar, message, bar)
    warnings.warn(message, NoGroupsWarning, stacklevel=3)


def _outer_splits(scheme, y, groups, df, n_splits, column, random_state):
    """[(train_idx, test_idx)] and, for ``split``, the dev mask inside each train part."""
    idx = np.arange(len(y))
    if scheme == "corpus":  # groups: the corpus of each row
        return list(LeaveOneGroupOut().split(idx, y, groups)), None
    if scheme in ("group", "groupkfold", "logo"):
        if groups is None:
            raise ConfigError(
                f"cv scheme {scheme!r} needs the group column {column!r}, which is "
                f"{'absent' if column not in df.columns else 'empty'}; pass groups=COLUMN "
                "(--groups) naming the speaker column, or choose scheme='stratified' explicitly "
                "(speaker-dependent folds: optimistic scores)"
            )
        n_groups = len(set(groups))
        if n_groups < 2:
            raise DataError(f"cv: only one {column!r} group; cross-validation needs several")
        if scheme == "logo":
            return list(LeaveOneGroupOut().split(idx, y, groups)), None
        n = min(n_splits, n_groups)
        if n < n_splits:
            logger.warning("cv: %d groups, so %d folds instead of %d", n_groups, n, n_splits)
        if scheme == "groupkfold":
            return list(GroupKFold(n).split(idx, y, groups)), None
        splitter = StratifiedGroupKFold(n, shuffle=True, random_state=random_state)
        return list(splitter.split(idx, y, groups)), None
    if scheme == "stratified":
        if groups is None:
            _loud(
                f"cv scheme 'stratified' with no group column {column!r}: the same speakers "
                "are likely in train and test folds, so scores are optimistic"
            )
        else:
            _loud(
                f"cv scheme 'stratified' ignores the group column {column!r}: the same speakers "
                "sit in train and test folds, so scores are speaker-dependent and optimistic"
            )
        _, counts = np.unique(y, return_counts=True)
        n = int(max(2, min(n_splits, counts.min())))
        return list(StratifiedKFold(n, shuffle=True, random_state=random_state).split(idx, y)), None
    if scheme == "split":
        if "split" not in df.columns:
            raise ConfigError(
                "cv scheme 'split' needs a 'split' column with train/dev/test values; use "
                "scheme='group' instead"
            )
        split = df["split"].astype(str).str.lower().to_numpy()
        train, dev, test = (np.flatnonzero(split == s) for s in ("train", "dev", "test"))
        if len(train) == 0 or len(test) == 0:
            raise ConfigError(
                f"cv scheme 'split' needs train and test rows; found {len(train)} train, "
                f"{len(dev)} dev, {len(test)} test"
            )
        fit_rows = np.concatenate([train, dev])
        return [(np.sort(fit_rows), test)], np.isin(np.sort(fit_rows), dev)
    raise ConfigError(f"unknown cv scheme {scheme!r}")


def _inner_cv(inner: str, n_splits: int, y, groups, dev_mask, random_state):
    """The inner splitter for one training part and whether it wants ``groups``."""
    if dev_mask is not None and dev_mask.any():
        return PredefinedSplit(np.where(dev_mask, 0, -1)), False
    if dev_mask is not None:
        logger.warning("cv: no dev rows; tuning with grouped folds inside train instead")
    if inner in ("group", "groupkfold", "logo") and groups is not None:
        n_groups = len(set(groups))
        if n_groups < 2:
            raise DataError("cv: a training fold holds a single group; use fewer outer folds")
        if inner == "logo":
            return LeaveOneGroupOut(), True
        n = min(n_splits, n_groups)
        if inner == "groupkfold":
            return GroupKFold(n), True
        return StratifiedGroupKFold(n, shuffle=True, random_state=random_state), True
    if inner != "stratified":
        _loud("inner cv: no groups available; tuning folds are stratified, not by speaker")
    _, counts = np.unique(y, return_counts=True)
    n = int(max(2, min(n_splits, counts.min())))
    return StratifiedKFold(n, shuffle=True, random_state=random_state), False


def _spec_of(spec):
    from ..spec import PipelineSpec, load_spec

    return spec if isinstance(spec, PipelineSpec) else load_spec(spec)


def _resolve_protocol(spec, scheme, groups):
    """``(spec, scheme, groups column, inner scheme, n_splits, inner_splits)``; a ``groups``
    override is written into the returned spec's ``cv.groups``, so that every split the model
    makes inside (stacking's meta-learner folds) groups by the same column as the outer ones."""
    if groups and groups != spec.cv.groups:
        spec = dataclasses.replace(spec, cv=dataclasses.replace(spec.cv, groups=groups))
    scheme = scheme or spec.cv.scheme
    column = spec.cv.groups
    from ..spec import CV_SCHEMES

    valid = (*CV_SCHEMES, *PROTOCOL_SCHEMES)
    if scheme not in valid:
        raise ConfigError(f"unknown cv scheme {scheme!r}; valid: {', '.join(valid)}")
    inner = spec.cv.inner or ("stratified" if scheme == "stratified" else "group")
    n_splits = int(spec.cv.n_splits)
    inner_splits = int(spec.cv.inner_splits or n_splits)
    return spec, scheme, column, inner, n_splits, inner_splits


def _resolve_auto(scheme: str, df: pd.DataFrame) -> str:
    """``auto`` → ``split`` if ``df`` has train and test rows in ``split``, else ``group``."""
    if scheme != "auto":
        return scheme
    if "split" in df.columns:
        split = set(df["split"].dropna().astype(str).str.lower())
        if {"train", "test"} <= split:
            logger.info("cv scheme 'auto': the manifest has train/test splits, so 'split'")
            return "split"
    logger.info("cv scheme 'auto': no train/test split column, so 'group'")
    return "group"
