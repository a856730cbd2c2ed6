"""Whole-corpus feature tables: what every fold, candidate and prediction reads after the one
precompute step.

Reading a feature store costs a cache key (and a file ``stat``) per item and transform; a CV
transforms the same items hundreds of times. So :func:`emoclassic.features.precompute`
extracts each block once into a matrix indexed by row id (:class:`FeatureTables`), and the
estimators read rows from it two ways:

- in this process, inside :func:`use_tables`: every :class:`BaseExtractor` answers
  ``transform`` from the active tables when they hold all its rows (prediction and scoring of
  a fitted model, whose extractors cannot be swapped);
- in worker processes (a grid search's fits), through :class:`TableLookup` steps that
  :func:`with_lookups` puts in place of the extractors: the tables travel with the pipeline
  (broadcast once per Dask cluster), since a context does not cross process boundaries.

A row or setting not in the tables falls back to the real extractor.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

__all__ = ["FeatureTables", "TableLookup", "config_key", "use_tables", "with_lookups"]

#: parameters that change how, not what, an extractor computes (or where it runs)
_NOT_OUTPUT = frozenset(
    {"cache", "n_jobs", "on_error", "progress", "batch_size", "device", "n_threads"}
)


def config_key(ext: Any) -> str:
    """One table per distinct output: ``_config()`` plus every parameter that shapes it.

    ``_config()`` alone is the *disk* key's config, which may leave out what the item keys
    already hold (a SentenceEmbedder's context window), so two blocks differing only in
    context would otherwise share one table.
    """
    from ._store import _jsonable

    params = {k: v for k, v in ext.get_params(deep=False).items() if k not in _NOT_OUTPUT}
    return json.dumps(_jsonable({**ext._config(), **params}), sort_keys=True)


class FeatureTables:
    """Feature matrices of a manifest, one per extractor configuration, rows by item id.

    Shared, not copied, by ``clone``/``deepcopy``; pickled for workers as the matrices (which
    joblib can memory-map) or, on a Dask cluster, as the key of a one-time broadcast.
    """

    def __init__(self) -> None:
        #: config key -> (row id -> row, matrix)
        self.blocks: dict[str, tuple[dict[str, int], np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"FeatureTables({len(self.blocks)} blocks)"

    def add(self, key: str, ids: list[str], matrix: np.ndarray) -> None:
        self.blocks[key] = ({str(i): r for r, i in enumerate(ids)}, np.ascontiguousarray(matrix))

    def __contains__(self, key: str) -> bool:
        return key in self.blocks

    def rows(self, ext: Any, X: Any) -> np.ndarray | None:
        """The rows of ``X`` (a frame with an ``id`` column) for ``ext``, or None on a miss."""
        entry = self.blocks.get(config_key(ext))
        if entry is None or not isinstance(X, pd.DataFrame) or "id" not in X.columns:
            return None
        index, matrix = entry
        rows = [index.get(i) for i in X["id"].astype(str)]
        if None in rows:
            return None
        return matrix[rows]

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        from ..parallel._broadcast import broadcast_key

        key = broadcast_key(self, dict(self.blocks), tuple(sorted(self.blocks))) \
            if self.blocks else None
        if key is not None:
            return (_from_broadcast, (key,))
        return (_from_blocks, (self.blocks,))


def _from_blocks(blocks: dict) -> FeatureTables:
    tables = FeatureTables()
    tables.blocks = blocks
    return tables


def _from_broadcast(key: str) -> FeatureTables:
    from ..parallel._broadcast import broadcast_value

    return _from_blocks(broadcast_value(key))


_ACTIVE: ContextVar[FeatureTables | None] = ContextVar("emoclassic_tables", default=None)


@contextlib.contextmanager
def use_tables(tables: FeatureTables | None) -> Iterator[FeatureTables | None]:
    """Inside the block, extractors read their rows from ``tables`` when it has them."""
    token = _ACTIVE.set(tables)
    try:
        yield tables
    finally:
        _ACTIVE.reset(token)


def active_rows(ext: Any, X: Any) -> np.ndarray | None:
    """Rows of ``X`` for ``ext`` from the active tables (None: compute as usual)."""
    tables = _ACTIVE.get()
    return None if tables is None else tables.rows(ext, X)


class TableLookup(BaseEstimator):
    """A block's extractor inside a CV pipeline: its rows from the precomputed tables.

    Parameters the lookup does not have are forwarded to the extractor, so grid paths stay
    those of the real pipeline.
    """

    def __init__(self, extractor=None, tables=None):
        self.extractor = extractor
        self.tables = tables

    def set_params(self, **params):
        own = {k: v for k, v in params.items() if k in ("extractor", "tables") or
               k.startswith("extractor__")}  # fmt: skip
        rest = {k: v for k, v in params.items() if k not in own}
        if own:
            super().set_params(**own)
        if rest:
            self.extractor.set_params(**rest)
        return self

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def transform(self, X):
        rows = self.tables.rows(self.extractor, X) if self.tables is not None else None
        return rows if rows is not None else self.extractor.transform(X)

    def fit_transform(self, X, y=None, **fit_params):
        return self.transform(X)

    def get_feature_names_out(self, input_features=None):
        return self.extractor.get_feature_names_out(input_features)


def with_lookups(pipe, tables: FeatureTables | None):
    """Swap every stateless extractor step of an unfitted ``pipe`` for a :class:`TableLookup`."""
    from ._base import BaseExtractor

    if tables is None or not tables.blocks:
        return pipe
    updates = {}
    for key, value in pipe.get_params(deep=True).items():
        if isinstance(value, BaseExtractor) and key.rsplit("__", 1)[-1] in (
            "extract",
            "transformer",
        ):
            updates[key] = TableLookup(value, tables)
    return pipe.set_params(**updates) if updates else pipe
