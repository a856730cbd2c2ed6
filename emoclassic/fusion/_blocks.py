"""Feature blocks: which extractor each spec block type builds, and precomputed "extra" blocks.

A block type names an extractor factory, the modality it belongs to (``audio``, ``text`` or
``extra``: what ablations group by) and the manifest columns it reads (what the fusion
ColumnTransformer hands it). :func:`register_block_type` adds types, e.g. a user's own
extractor.

:class:`ExtraFeatures` brings any precomputed per-utterance vectors (visual or physiological
features, openSMILE CSVs, a user's own embeddings) into a pipeline, from manifest columns or
from a file keyed by row id:

- ``columns=[...]``: numeric manifest columns;
- ``file="x.csv"``: a table with an id column (``id_column``, default ``"id"``) and one
  numeric column per feature;
- ``file="x.npz"``: arrays ``ids`` (strings) and ``features`` (n × d);
- ``file="x.npy"``: an n × d matrix plus ``ids`` (default: ``x.ids.txt`` beside it), a text
  file with one row id per line in the matrix's row order.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DataError
from ..features import BaseExtractor, Item
from ..spec._types import STEP_OPTIONS  # block options that configure steps, not the extractor

logger = logging.getLogger(__name__)

__all__ = [
    "BLOCK_TYPES",
    "BlockType",
    "ExtraFeatures",
    "STEP_OPTIONS",
    "block_columns",
    "extractor_class",
    "make_extractor",
    "register_block_type",
]


AUDIO_COLUMNS = ("id", "path", "start", "end")
TEXT_COLUMNS = ("id", "text", "speaker", "dialogue_id", "utterance_index")


@dataclass(frozen=True)
class BlockType:
    """A spec feature type: factory (a class or ``"module:Name"``), modality, input columns."""

    name: str
    factory: Any
    modality: str
    columns: tuple[str, ...]
    scale: bool = True  # standardise by default (False for already-normalised sparse TF-IDF)


BLOCK_TYPES: dict[str, BlockType] = {}


def register_block_type(
    name: str,
    factory: Callable[..., Any] | str,
    *,
    modality: str,
    columns: tuple[str, ...] | list[str] = ("id",),
    scale: bool = True,
) -> None:
    """Make ``type = name`` usable in specs. ``factory(**options)`` builds the extractor."""
    if modality not in ("audio", "text", "extra"):
        raise ConfigError(
            f"register_block_type: modality={modality!r} must be 'audio', 'text' or 'extra'"
        )
    BLOCK_TYPES[name] = BlockType(name, factory, modality, tuple(columns), scale)


register_block_type("pooled", "emoclassic.audio:PooledFeatures", modality="audio",
                    columns=AUDIO_COLUMNS)  # fmt: skip
register_block_type("alexnet", "emoclassic.audio:AlexNetEmbedder", modality="audio",
                    columns=AUDIO_COLUMNS)  # fmt: skip
# openSMILE functionals: needs the optional extra (research licence); says so when built
register_block_type("opensmile", "emoclassic.audio:OpenSmileFeatures", modality="audio",
                    columns=AUDIO_COLUMNS)  # fmt: skip
register_block_type("text", "emoclassic.text:SentenceEmbedder", modality="text",
                    columns=TEXT_COLUMNS)  # fmt: skip
register_block_type("tfidf", "emoclassic.text:TfidfText", modality="text",
                    columns=TEXT_COLUMNS, scale=False)  # fmt: skip
register_block_type("frames", "emoclassic.audio._frames:LogMelFrames", modality="audio",
                    columns=AUDIO_COLUMNS, scale=False)  # fmt: skip
register_block_type("extra", "emoclassic.fusion._blocks:ExtraFeatures", modality="extra",
                    columns=("id",))  # fmt: skip


def _block_type(type_name: str) -> BlockType:
    try:
        return BLOCK_TYPES[type_name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown feature type {type_name!r}; valid: {', '.join(sorted(BLOCK_TYPES))}"
        ) from None


def extractor_class(type_name: str):
    """The factory of a block type, importing its module on first use."""
    factory = _block_type(type_name).factory
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"feature type {type_name!r} needs {module}.{attr}, which is not available "
                f"({exc}); install or finish that module, or use another feature type"
            ) from None
    return factory


def extractor_options(type_name: str) -> list[str] | None:
    """Keyword options the type's factory accepts (None when it takes ``**kwargs``)."""
    factory = extractor_class(type_name)
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def make_extractor(
    type_name: str,
    options: dict[str, Any],
    *,
    cache: Any = None,
    n_jobs: int | None = None,
    base_dir: str | os.PathLike | None = None,
):
    """Build the extractor of a block: its own options plus the shared runtime ones."""
    factory = extractor_class(type_name)
    opts = {k: v for k, v in options.items() if k not in STEP_OPTIONS}
    if type_name == "extra" and opts.get("file") and base_dir is not None:
        opts["file"] = str(Path(base_dir, opts["file"]))
        if opts.get("ids"):
            opts["ids"] = str(Path(base_dir, opts["ids"]))
    accepted = extractor_options(type_name)
    for name, value in (("cache", cache), ("n_jobs", n_jobs)):
        if name in opts:
            continue
        if accepted is None or name in accepted:
            if value is None:  # left to emoclassic.config_context at run time
                continue
            opts[name] = value
    if accepted is not None:
        unknown = sorted(set(opts) - set(accepted))
        if unknown:
            raise ConfigError(
                f"feature type {type_name!r} has no option {unknown[0]!r}; valid: "
                f"{', '.join(sorted(set(accepted) | STEP_OPTIONS))}"
            )
    try:
        return factory(**opts)
    except TypeError as exc:
        raise ConfigError(f"feature type {type_name!r}: {exc}") from None


def block_columns(type_name: str, options: dict[str, Any]) -> list[str]:
    """Manifest columns a block reads (the ColumnTransformer's selection for it)."""
    bt = _block_type(type_name)
    cols = list(bt.columns)
    if type_name == "extra" and options.get("columns"):
        cols = ["id", *[c for c in options["columns"] if c != "id"]]
    elif type_name == "extra" and options.get("id_column"):
        cols = [options["id_column"]]
    return cols


def block_modality(type_name: str, options: dict[str, Any] | None = None) -> str:
    return _block_type(type_name).modality


def block_scales(type_name: str) -> bool:
    return _block_type(type_name).scale


# --------------------------------------------------------------------------- extra features
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
        cache: Any = None,
        n_jobs: int | None = None,
        on_error: str = "raise",
    ):
        self.columns = columns
        self.file = file
        self.ids = ids
        self.id_column = id_column
        self.missing = missing
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

    # the file is read once per instance and file version
    def _table(self) -> tuple[dict[str, int], np.ndarray, list[str]]:
        path = Path(self.file)
        if not path.is_file():
            raise DataError(f"extra features file {path} does not exist; fix 'file' in the spec")
        stamp = (str(path), path.stat().st_mtime_ns)
        cached = getattr(self, "_table_cache", None)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        suffix = path.suffix.lower()
        if suffix == ".csv":
            df = pd.read_csv(path)
            if self.id_column not in df.columns:
                raise DataError(
                    f"{path}: no id column {self.id_column!r}; name the row-id column "
                    f"{self.id_column!r} or set id_column"
                )
            feats = df.drop(columns=[self.id_column])
            bad = [c for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
            if bad:
                raise DataError(f"{path}: column {bad[0]!r} is not numeric; drop or encode it")
            ids = df[self.id_column].astype(str).tolist()
            matrix = feats.to_numpy(dtype=np.float64)
            names = [str(c) for c in feats.columns]
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "ids" not in z or "features" not in z:
                    raise DataError(f"{path}: an .npz needs arrays 'ids' and 'features'")
                ids = [str(i) for i in z["ids"].tolist()]
                matrix = np.asarray(z["features"], dtype=np.float64)
            names = [f"{path.stem}_{i}" for i in range(matrix.shape[1])]
        elif suffix == ".npy":
            ids_path = Path(self.ids) if self.ids else path.with_suffix(".ids.txt")
            if not ids_path.is_file():
                raise DataError(
                    f"{path}: an .npy needs its row ids in {ids_path} (one id per line); "
                    "write it or set 'ids'"
                )
            matrix = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
            ids = [ln.strip() for ln in ids_path.read_text(encoding="utf-8").splitlines()]
            ids = [i for i in ids if i]
            names = [f"{path.stem}_{i}" for i in range(matrix.shape[1] if matrix.ndim == 2 else 0)]
        else:
            raise DataError(f"{path}: extra features must be .csv, .npz or .npy")
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise DataError(
                f"{path}: {matrix.shape} features for {len(ids)} ids; they must match row for row"
            )
        index = {i: k for k, i in enumerate(ids)}
        if len(index) != len(ids):
            raise DataError(f"{path}: duplicate row ids; each id must appear once")
        table = (index, matrix, names)
        self._table_cache = (stamp, table)
        return table

    def _items(self, X) -> list[Item]:
        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"extra features need a manifest DataFrame; got {type(X).__name__}")
        if self.id_column not in X.columns:
            raise DataError(f"extra features: the manifest has no {self.id_column!r} column")
        ids = X[self.id_column].astype(str).tolist()
        if self.columns is not None:
            missing = [c for c in self.columns if c not in X.columns]
            if missing:
                raise DataError(
                    f"extra features: manifest column {missing[0]!r} does not exist; fix "
                    "'columns' in the spec or add the column"
                )
            values = X[list(self.columns)].apply(pd.to_numeric, errors="coerce")
            rows = values.to_numpy(dtype=np.float64)
            return [Item(i, None, r) for i, r in zip(ids, rows, strict=True)]
        index, matrix, _ = self._table()
        return [Item(i, None, matrix[index[i]] if i in index else None) for i in ids]

    def _compute_one(self, item: Item) -> np.ndarray:
        vec = item.payload
        if vec is None:
            if self.missing == "zero":
                return np.zeros(self._dim())
            raise DataError(
                f"row {item.id}: no extra features in {self.file}; add it or set missing='zero'"
            )
        vec = np.asarray(vec, dtype=np.float64)
        if not np.all(np.isfinite(vec)):
            if self.missing == "zero":
                return np.nan_to_num(vec, nan=0.0, posinf=0.0, neginf=0.0)
            raise DataError(
                f"row {item.id}: extra features hold missing or infinite values; fill them or "
                "set missing='zero'"
            )
        return vec

    def _dim(self) -> int:
        if self.columns is not None:
            return len(self.columns)
        return self._table()[1].shape[1]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        self._check_params()
        if self.columns is not None:
            return np.asarray(list(self.columns), dtype=object)
        return np.asarray(self._table()[2], dtype=object)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_table_cache", None)  # re-read after unpickling; keeps saved models small
        return state
