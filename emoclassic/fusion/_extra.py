"""Extra blocks: precomputed per-utterance vectors, at training and at prediction time.

:class:`ExtraFeatures` brings any precomputed per-utterance vectors (visual or physiological
features, openSMILE CSVs, a user's own embeddings) into a pipeline, from manifest columns or
from a file keyed by row id:

- ``columns=[...]``: numeric manifest columns;
- ``file="x.csv"``: a table with an id column (``id_column``, default ``"id"``) and one
  numeric column per feature;
- ``file="x.npz"``: arrays ``ids`` (strings) and ``features`` (n × d);
- ``file="x.npy"``: an n × d matrix plus ``ids`` (default: ``x.ids.txt`` beside it), a text
  file with one row id per line in the matrix's row order.

A model keeps the path of its training file, which holds the training rows only. New rows get
their features at prediction time (:func:`extra_inputs`, ``--extra NAME=FILE``): a file in
any of the formats above, keyed by the new rows' ids, or, for a ``columns`` block, the
prediction manifest's own columns. They are written into the prediction table *before* long
files are cut into windows, so every window of a file carries its file's vector.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._paths import shown_path
from ..exceptions import ConfigError, DataError
from ..features import BaseExtractor, Item

logger = logging.getLogger(__name__)

__all__ = ["ExtraFeatures", "extra_inputs", "read_feature_file"]

#: prediction-table columns holding a file block's vectors given at prediction time
_GIVEN = "__extra__:{block}:{j}"


def read_feature_file(
    path: str | os.PathLike, *, id_column: str = "id", ids: str | os.PathLike | None = None
) -> tuple[dict[str, int], np.ndarray, list[str]]:
    """``(row index by id, matrix n × d, feature names)`` of a ``.csv``/``.npz``/``.npy`` file
    (see the module docs); :class:`DataError` naming the file and the fix otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"extra features file {shown_path(path)} does not exist; check the path")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(path)
        if id_column not in df.columns:
            raise DataError(
                f"{path}: no id column {id_column!r}; name the row-id column {id_column!r} "
                "or set id_column"
            )
        feats = df.drop(columns=[id_column])
        bad = [c for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
        if bad:
            raise DataError(f"{path}: column {bad[0]!r} is not numeric; drop or encode it")
        row_ids = df[id_column].astype(str).tolist()
        matrix = feats.to_numpy(dtype=np.float64)
        names = [str(c) for c in feats.columns]
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "ids" not in z or "features" not in z:
                raise DataError(f"{path}: an .npz needs arrays 'ids' and 'features'")
            row_ids = [str(i) for i in z["ids"].tolist()]
            matrix = np.asarray(z["features"], dtype=np.float64)
        names = [f"{path.stem}_{i}" for i in range(matrix.shape[1] if matrix.ndim == 2 else 0)]
    elif suffix == ".npy":
        ids_path = Path(ids) if ids else path.with_suffix(".ids.txt")
        if not ids_path.is_file():
            raise DataError(
                f"{path}: an .npy needs its row ids in {ids_path} (one id per line); "
                "write it or set 'ids'"
            )
        matrix = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
        row_ids = [ln.strip() for ln in ids_path.read_text(encoding="utf-8").splitlines()]
        row_ids = [i for i in row_ids if i]
        names = [f"{path.stem}_{i}" for i in range(matrix.shape[1] if matrix.ndim == 2 else 0)]
    else:
        raise DataError(f"{path}: extra features must be .csv, .npz or .npy")
    if matrix.ndim != 2 or matrix.shape[0] != len(row_ids):
        raise DataError(
            f"{path}: {matrix.shape} features for {len(row_ids)} ids; they must match row for row"
        )
    index = {i: k for k, i in enumerate(row_ids)}
    if len(index) != len(row_ids):
        raise DataError(f"{path}: duplicate row ids; each id must appear once")
    return index, matrix, names


@dataclass(frozen=True)
class _NoRow:
    """The payload of a row that has no vector: why, said once per row."""

    message: str


class ExtraFeatures(BaseExtractor):
    """Precomputed per-utterance vectors from manifest columns or a file keyed by row id.

    Parameters
    ----------
    columns : list of str or None
        Numeric manifest columns to use as features.
    file : path or None
        A ``.csv``, ``.npz`` or ``.npy`` file keyed by row id (see the module docs).
    ids : path or None
        For ``.npy``: the file of row ids (default ``<file stem>.ids.txt``).
    id_column : str
        The id column of the manifest and of a CSV file.
    missing : {"raise", "zero"}
        A row absent from the file or with a missing value fails (``"raise"``: reported per
        item, as a bad audio file is) or gets zeros.
    block : str or None
        The spec block's name (set by the pipeline builder): how ``--extra NAME=FILE`` finds
        this block at prediction time, and what its messages call it.
    """

    _item_noun = "row"
    _chunk_size = 4096

    def __init__(
        self,
        *,
        columns: list[str] | None = None,
        file: str | os.PathLike | None = None,
        ids: str | os.PathLike | None = None,
        id_column: str = "id",
        missing: str = "raise",
        block: str | None = None,
        cache: Any = None,
        n_jobs: int | None = None,
        on_error: str = "raise",
    ):
        self.columns = columns
        self.file = file
        self.ids = ids
        self.id_column = id_column
        self.missing = missing
        self.block = block
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error

    def _check_params(self) -> None:
        super()._check_params()
        if (self.columns is None) == (self.file is None):
            raise ConfigError(
                "extra features: give exactly one of columns=[...] (manifest columns) or "
                "file='x.csv'|'x.npz'|'x.npy' (keyed by row id)"
            )
        if self.missing not in ("raise", "zero"):
            raise ConfigError(f"extra features: missing={self.missing!r}; use 'raise' or 'zero'")
        if self.columns is not None and (
            isinstance(self.columns, str) or not all(isinstance(c, str) for c in self.columns)
        ):
            raise ConfigError(
                f"extra features: columns={self.columns!r} must be a list of column names"
            )

    @property
    def _name(self) -> str:
        return getattr(self, "block", None) or "extra"

    def fit(self, X, y=None):
        """Learn nothing from the rows; remember the features' names (``feature_names_``), so
        that vectors given at prediction time can be checked against them when the training
        file is no longer there."""
        super().fit(X, y)
        self.feature_names_ = np.asarray(self.get_feature_names_out(), dtype=object)
        return self

    # the file is read once per instance and file version
    def _table(self) -> tuple[dict[str, int], np.ndarray, list[str]]:
        path = Path(self.file)
        if not path.is_file():
            raise DataError(
                f"extra block {self._name!r}: its file {shown_path(path)} does not exist; fix "
                f"'file' in the spec (at prediction: give the rows' features with --extra "
                f"{self._name}=FILE)"
            )
        stamp = (str(path), path.stat().st_mtime_ns)
        cached = getattr(self, "_table_cache", None)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        table = read_feature_file(path, id_column=self.id_column, ids=self.ids)
        self._table_cache = (stamp, table)
        return table

    def _items(self, X) -> list[Item]:
        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"extra features need a manifest DataFrame; got {type(X).__name__}")
        if self.id_column not in X.columns:
            raise DataError(f"extra features: the manifest has no {self.id_column!r} column")
        ids = X[self.id_column].astype(str).tolist()
        given = self._given_columns(X)
        if self.columns is not None or given:
            columns = list(self.columns) if self.columns is not None else given
            missing = [c for c in columns if c not in X.columns]
            if missing:
                raise DataError(
                    f"extra block {self._name!r}: manifest column {missing[0]!r} does not "
                    "exist; fix 'columns' in the spec or add the column (at prediction: "
                    f"--extra {self._name}=FILE)"
                )
            values = X[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
            return [
                Item(i, None, _NoRow(self._no_row(i)) if np.isnan(r).all() else r)
                for i, r in zip(ids, values, strict=True)
            ]
        index, matrix, _ = self._table()
        return [
            Item(i, None, matrix[index[i]] if i in index else _NoRow(self._no_row(i)))
            for i in ids
        ]

    def _given_columns(self, X: pd.DataFrame) -> list[str]:
        """The columns :func:`extra_inputs` wrote this file block's vectors into, if any."""
        if self.columns is not None or not getattr(self, "block", None):
            return []
        width = sum(1 for c in X.columns if str(c).startswith(_GIVEN.format(block=self.block,
                                                                             j="")))
        return [_GIVEN.format(block=self.block, j=j) for j in range(width)]

    def _no_row(self, row_id: str) -> str:
        where = f"manifest columns {self.columns}" if self.columns is not None else (
            f"{self.file}")
        return (
            f"row {row_id}: no features for extra block {self._name!r} in {where}; give them "
            f"with --extra {self._name}=FILE (a .csv/.npz/.npy keyed by id) or set "
            "missing='zero'"
        )

    def _compute_one(self, item: Item) -> np.ndarray:
        vec = item.payload
        if isinstance(vec, _NoRow):
            if self.missing == "zero":
                return np.zeros(self._dim())
            raise DataError(vec.message)
        vec = np.asarray(vec, dtype=np.float64)
        if not np.all(np.isfinite(vec)):
            if self.missing == "zero":
                return np.nan_to_num(vec, nan=0.0, posinf=0.0, neginf=0.0)
            raise DataError(
                f"row {item.id}: extra block {self._name!r} holds missing or infinite values; "
                "fill them or set missing='zero'"
            )
        return vec

    def _dim(self) -> int:
        if self.columns is not None:
            return len(self.columns)
        names = getattr(self, "feature_names_", None)
        return len(names) if names is not None else self._table()[1].shape[1]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        self._check_params()
        if self.columns is not None:
            return np.asarray(list(self.columns), dtype=object)
        names = getattr(self, "feature_names_", None)
        if names is not None:
            return np.asarray(names, dtype=object)
        return np.asarray(self._table()[2], dtype=object)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_table_cache", None)  # re-read after unpickling; keeps saved models small
        return state


# --------------------------------------------------------------------------- at prediction
def _extra_blocks(model: Any) -> dict[str, ExtraFeatures]:
    """The model's extra blocks by name, a fitted clone (which knows its feature names) in
    preference to its template."""
    from .._walk import iter_estimators
    from ..features import block_extractors
    from ..features._tables import config_key

    extras = [obj for obj in iter_estimators(model) if isinstance(obj, ExtraFeatures)]
    if not extras:
        return {}  # most models: no parameter walk or config keys on every prediction
    named: dict[str, str] = {}
    if any(not getattr(obj, "block", None) for obj in extras):  # saved before blocks had names
        named = {config_key(e): b for b, e in block_extractors(model)}
    out: dict[str, ExtraFeatures] = {}
    for obj in extras:
        name = getattr(obj, "block", None) or named.get(config_key(obj), "extra")
        if name not in out or getattr(obj, "feature_names_", None) is not None:
            out[name] = obj
    return out


def _expected_names(ext: ExtraFeatures) -> list[str] | None:
    try:
        return [str(n) for n in ext.get_feature_names_out()]
    except DataError:
        return None  # an unfitted block whose training file is not here: nothing to check


def _given_matrix(name: str, ext: ExtraFeatures, file: Path) -> tuple[dict[str, int], np.ndarray]:
    """The rows of ``--extra name=file``, columns in the order the block was trained with."""
    index, matrix, names = read_feature_file(file, id_column=ext.id_column)
    expected = _expected_names(ext)
    if expected is None:
        return index, matrix
    if file.suffix.lower() == ".csv" and set(expected) <= set(names):
        order = [names.index(n) for n in expected]
        return index, matrix[:, order]
    if matrix.shape[1] != len(expected):
        shown = ", ".join(expected[:4]) + (", ..." if len(expected) > 4 else "")
        raise DataError(
            f"--extra {name}={file}: {matrix.shape[1]} features per row, but block {name!r} "
            f"was trained on {len(expected)} ({shown}); give the same features"
        )
    return index, matrix


def extra_inputs(
    model: Any, frame: pd.DataFrame, extra: Mapping[str, str | os.PathLike] | None = None
) -> pd.DataFrame:
    """``frame`` ready for the model's extra blocks: the vectors of ``extra`` (block name →
    file keyed by id) written into it, and a one-line :class:`DataError` when a block can
    get no features at all (which block, and how to give them).

    Without an entry in ``extra``, a ``columns`` block reads the frame's columns and a file
    block reads its training file (rows missing from it fail one by one).
    """
    extra = dict(extra or {})
    blocks = _extra_blocks(model)
    unknown = sorted(set(extra) - set(blocks))
    if unknown:
        have = ", ".join(sorted(blocks)) or "none"
        raise ConfigError(
            f"--extra {unknown[0]}=...: the model has no extra block {unknown[0]!r} (its extra "
            f"blocks: {have})"
        )
    if not blocks:
        return frame
    frame = frame.copy()
    ids = frame["id"].astype(str) if "id" in frame.columns else None
    for name, ext in blocks.items():
        if name in extra:
            file = Path(extra[name]).expanduser()
            index, matrix = _given_matrix(name, ext, file)
            keys = frame[ext.id_column].astype(str) if ext.id_column in frame.columns else ids
            rows = np.full((len(frame), matrix.shape[1]), np.nan)
            found = [k for k, i in enumerate(keys) if i in index]
            rows[found] = matrix[[index[keys.iloc[k]] for k in found]]
            if not found:
                logger.warning("--extra %s=%s: none of the %d row ids is in the file", name,
                               file, len(frame))
            columns = list(ext.columns) if ext.columns is not None else [
                _GIVEN.format(block=name, j=j) for j in range(matrix.shape[1])]
            frame[columns] = rows
        elif ext.columns is not None:
            lacking = [c for c in ext.columns if c not in frame.columns]
            if lacking:
                raise DataError(
                    f"the model's extra block {name!r} reads the manifest column(s) "
                    f"{', '.join(map(repr, lacking[:4]))}, which this input lacks; predict a "
                    f"manifest that has them (--manifest FILE) or give them with --extra "
                    f"{name}=FILE (.csv/.npz/.npy keyed by id)"
                )
        elif not Path(ext.file).is_file():
            raise DataError(
                f"the model's extra block {name!r} was trained on {ext.file}, which is not "
                f"here; give this input's features with --extra {name}=FILE (.csv/.npz/.npy "
                "keyed by id)"
            )
    return frame
