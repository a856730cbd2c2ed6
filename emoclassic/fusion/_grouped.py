"""What the domain-adaptation steps share: features and group ids from one frame, and the rule
for groups too small to have statistics of their own.

The steps (:class:`~emoclassic.fusion.GroupNormalizer`, :class:`~emoclassic.fusion.CORAL`)
adapt each *group* of rows (a speaker, a corpus) with that group's own statistics. Extractors
turn the manifest into a bare matrix, which would lose the group ids, so a step *wraps* the
block's extractor: it reads the group column from the frame it is given, runs the wrapped
transformer on the same frame and adapts the result. No step reads labels.

Which statistics a row gets, in every step:

- a group is a value of the step's column (``by``) *within a corpus*: when the frame has a
  ``corpus`` column, a speaker's id is the pair ``corpus:speaker``, so two corpora that both
  number their speakers ``01, 02, ...`` never share statistics (as in the CV folds); a row
  without a corpus keeps its bare id;
- a group seen in ``fit`` keeps its training statistics;
- a group not seen in ``fit`` uses the statistics of *its rows in the batch being
  transformed* (a saved model adapts to a new speaker or corpus when their files are predicted
  together), if it has at least ``min_rows`` of them;
- a smaller unseen group, and rows whose group id is missing, fall back to the training
  statistics, and the step says so (one log line and one :class:`AdaptationWarning` per
  batch; inside :func:`said_once` each distinct message only once).

``min_rows`` defaults to :data:`DEFAULT_MIN_ROWS`: 2 rows for a speaker (the speaker-normalised
protocol's rule since 0.1) and 10 for a corpus or any other column (a recording set-up's
statistics need more items than one voice's).

A bare matrix (no DataFrame) has no group ids: it is one batch of an *unnamed* group, never
one seen in ``fit``, so it is adapted with its own statistics like a new corpus. That makes the
steps ordinary scikit-learn transformers on arrays too.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from ..exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = [
    "AdaptationWarning",
    "DEFAULT_MIN_ROWS",
    "UNNAMED",
    "corpus_pairs",
    "default_min_rows",
    "group_keys",
    "said_once",
]

#: Fewest rows an unseen group needs in a batch to use its own statistics, by group column;
#: any other column: :data:`OTHER_MIN_ROWS`.
DEFAULT_MIN_ROWS = {"speaker": 2, "corpus": 10}
OTHER_MIN_ROWS = 10
#: the column naming each row's corpus: groups of any other column are (corpus, value) pairs
CORPUS_COLUMN = "corpus"


class AdaptationWarning(UserWarning):
    """Rows were transformed with the training statistics: their group had too few rows."""


class _Unnamed:
    """The group of a bare matrix's rows: one batch, never a group seen in ``fit``."""

    _instance: _Unnamed | None = None

    def __new__(cls) -> _Unnamed:  # one object, also after unpickling
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __reduce__(self):
        return (_Unnamed, ())

    def __repr__(self) -> str:
        return "<unnamed batch>"


#: the group id of every row of a bare matrix
UNNAMED = _Unnamed()

# The messages already said in the current :func:`said_once` scope (None: outside one).
_SAID: ContextVar[set[str] | None] = ContextVar("emoclassic_adaptation_said", default=None)


@contextlib.contextmanager
def said_once(said: set[str] | None = None) -> Iterator[set[str]]:
    """Say each distinct fallback message at most once inside the block.

    A model can hold several adaptation steps (one per feature block, a block in several
    branches) that see the same small group; prediction says so once, not once per step.
    Pass a set kept between calls (:class:`emoclassic.Recognizer` keeps one per model) to say
    it once across calls too.
    """
    said = set() if said is None else said
    token = _SAID.set(said)
    try:
        yield said
    finally:
        _SAID.reset(token)


def default_min_rows(column: str) -> int:
    """The ``min_rows`` of a step grouping by ``column`` when none is given."""
    return DEFAULT_MIN_ROWS.get(column, OTHER_MIN_ROWS)


def group_keys(values: pd.Series) -> np.ndarray:
    """Group ids as strings; missing ids become None."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.tolist()):
        missing = (
            v is None
            or (isinstance(v, float) and np.isnan(v))
            or (isinstance(v, str) and not v.strip())
            or v is pd.NA
        )
        out[i] = None if missing else str(v)
    return out


def corpus_pairs(corpora: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Group ids as ``corpus:key`` pairs: two corpora that both number their speakers
    ``01, 02, ...`` hold different people (the rule of the CV folds, ``evaluation._splits``).
    A row without a corpus keeps its bare key; a row without a key stays missing."""
    out = keys.copy()
    for i, (c, k) in enumerate(zip(corpora.tolist(), keys.tolist(), strict=True)):
        if c is not None and isinstance(k, str):
            out[i] = f"{c}:{k}"
    return out


def _rows_of(keys: np.ndarray, key: Any) -> np.ndarray:
    if key is None or key is UNNAMED:
        return np.array([k is key for k in keys], dtype=bool)
    return keys == key


class _GroupStep(TransformerMixin, BaseEstimator):
    """Base of the steps that adapt each group of rows (see the module docs).

    Subclasses define ``__init__`` (with ``transformer``, ``min_rows`` and a group column
    parameter ``by``), :meth:`_fit_groups` (the training statistics), :meth:`_seen_groups`,
    and how rows are transformed: :meth:`_adapt_seen` (a training group),
    :meth:`_adapt_new` (an unseen group with enough rows: its own statistics) and
    :meth:`_fallback` (the training statistics).
    """

    #: whether features may hold NaN (kept as NaN) rather than being refused
    _allow_nan = True

    # -- parameters -------------------------------------------------------------------------
    @property
    def _group_column(self) -> str:
        return self.by

    def _min_rows(self) -> int:
        value = self.min_rows
        if value is None:
            return default_min_rows(self._group_column)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ConfigError(
                f"{type(self).__name__}: min_rows={value!r} must be an integer >= 2 (one row has "
                "no spread) or None (the default for the group column)"
            )
        return int(value)

    def _check_params(self) -> None:
        self._min_rows()
        column = self._group_column
        if not isinstance(column, str) or not column:
            raise ConfigError(f"{type(self).__name__}: the group column {column!r} must be a "
                              "column name such as 'speaker' or 'corpus'")  # fmt: skip

    # -- features and groups ----------------------------------------------------------------
    def _keys(self, X, n: int) -> np.ndarray:
        if not isinstance(X, pd.DataFrame):
            return np.full(n, UNNAMED, dtype=object)
        column = self._group_column
        if column not in X.columns:
            return np.full(n, None, dtype=object)
        keys = group_keys(X[column])
        # a step fitted before groups were (corpus, value) pairs has no ``corpus_pairs_``
        if getattr(self, "corpus_pairs_", False) and CORPUS_COLUMN in X.columns:
            keys = corpus_pairs(group_keys(X[CORPUS_COLUMN]), keys)
        return keys

    def _features(self, X, *, fit: bool, y=None) -> np.ndarray:
        finite = "allow-nan" if self._allow_nan else True
        if self.transformer is None:
            if isinstance(X, pd.DataFrame):
                cols = [c for c in X.columns if c != self._group_column]
                X = X[cols].select_dtypes(include="number")
            return validate_data(self, X, reset=fit, dtype=np.float64,
                                 ensure_all_finite=finite)  # fmt: skip
        if fit:
            self.transformer_ = clone(self.transformer)
            F = self.transformer_.fit_transform(X, y)
        else:
            F = self.transformer_.transform(X)
        if hasattr(F, "toarray"):
            F = F.toarray()
        F = np.asarray(F, dtype=np.float64)
        if not self._allow_nan and not np.isfinite(F).all():
            raise DataError(f"{type(self).__name__}: the block's features hold NaN or infinite "
                            "values, which a covariance cannot take")  # fmt: skip
        return F

    # -- the API ----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn the training statistics, overall and per group (``y`` is ignored)."""
        self._fit(X)
        return self

    def _fit(self, X) -> tuple[np.ndarray, np.ndarray]:
        self._check_params()
        self.corpus_pairs_ = self._group_column != CORPUS_COLUMN
        F = self._features(X, fit=True)
        keys = self._keys(X, len(F))
        self._fit_groups(F, keys)
        self.n_features_out_ = F.shape[1]
        return F, keys

    def fit_transform(self, X, y=None, **fit_params):
        F, keys = self._fit(X)
        return self._apply(F, keys, fitting=True)

    def transform(self, X) -> np.ndarray:
        """Adapt each row with its group's statistics (see the module docs for which)."""
        check_is_fitted(self, "n_features_out_")
        F = self._features(X, fit=False)
        return self._apply(F, self._keys(X, len(F)), fitting=False)

    def _apply(self, F: np.ndarray, keys: np.ndarray, *, fitting: bool) -> np.ndarray:
        out = np.empty_like(F)
        min_rows = self._min_rows()
        fallback: list[str] = []
        n_fallback = 0
        for key in dict.fromkeys(keys.tolist()):
            rows = _rows_of(keys, key)
            n = int(rows.sum())
            if key is not None and key is not UNNAMED and key in self._seen_groups():
                out[rows] = self._adapt_seen(F[rows], key)
            elif key is not None and n >= min_rows:
                out[rows] = self._adapt_new(F[rows])
            else:
                out[rows] = self._fallback(F[rows])
                if not fitting or key is None:
                    fallback.append(repr(key) if key is UNNAMED else
                                    "<missing>" if key is None else str(key))  # fmt: skip
                    n_fallback += n
        if fallback:
            self._say_fallback(n_fallback, fallback, min_rows)
        return out

    def _say_fallback(self, n_rows: int, groups: list[str], min_rows: int) -> None:
        col = self._group_column
        shown = ", ".join(groups[:3]) + ("..." if len(groups) > 3 else "")
        msg = (
            f"per-{col} statistics: {n_rows} row(s) of {len(groups)} {col}(s) ({shown}) have no "
            f"{col} id or fewer than {min_rows} rows of a {col} unseen in training, so the "
            f"training statistics were used for them; this step needs several utterances per "
            f"{col}: predict all of a {col}'s files together"
        )
        said = _SAID.get()
        if said is not None:
            if msg in said:
                return
            said.add(msg)
        logger.warning(msg)
        warnings.warn(msg, AdaptationWarning, stacklevel=4)

    # -- what subclasses define -------------------------------------------------------------
    def _fit_groups(self, F: np.ndarray, keys: np.ndarray) -> None:
        raise NotImplementedError

    def _seen_groups(self) -> dict:
        raise NotImplementedError

    def _adapt_seen(self, F: np.ndarray, key: str) -> np.ndarray:
        raise NotImplementedError

    def _adapt_new(self, F: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fallback(self, F: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- names and tags ---------------------------------------------------------------------
    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "n_features_out_")
        if self.transformer is None:
            names = getattr(self, "feature_names_in_", None)
            if names is not None:
                return np.asarray(names, dtype=object)
            return np.asarray([f"x{i}" for i in range(self.n_features_out_)], dtype=object)
        if hasattr(self.transformer_, "get_feature_names_out"):
            return np.asarray(self.transformer_.get_feature_names_out(), dtype=object)
        return np.asarray([f"f{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags
