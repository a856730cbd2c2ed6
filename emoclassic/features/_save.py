"""Writing an extraction result to a file: the matrix with its row ids and feature names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._atomic import atomic_path
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from . import ExtractionResult

__all__ = ["FEATURE_FILE_SUFFIXES", "save_features"]

#: The file types :func:`save_features` writes, by suffix.
FEATURE_FILE_SUFFIXES = (".npz", ".parquet", ".csv")


def save_features(result: ExtractionResult, path: str | os.PathLike[str]) -> Path:
    """Write ``result``'s good rows to ``path``, atomically (a reader never sees half a file).

    ``.npz``: arrays ``X`` (rows x features), ``ids`` and ``feature_names``; ``.csv`` and
    ``.parquet`` (needs pyarrow): an ``id`` column, then one column per feature.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in FEATURE_FILE_SUFFIXES:
        raise ConfigError(f"{out}: use a .npz, .parquet or .csv file name")
    with atomic_path(out, suffix=f".tmp{suffix}") as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh,
                    X=result.features,
                    ids=np.asarray(result.ids, dtype=str),
                    feature_names=np.asarray(result.feature_names, dtype=str),
                )
        else:
            import pandas as pd

            frame = pd.DataFrame(result.features, columns=list(result.feature_names))
            frame.insert(0, "id", list(result.ids))
            if suffix == ".csv":
                frame.to_csv(tmp, index=False)
            else:
                try:
                    frame.to_parquet(tmp, index=False)
                except ImportError as exc:
                    raise ConfigError(
                        f"{out}: writing .parquet needs pyarrow "
                        "(pip install 'emoclassic[parquet]'); or write .npz or .csv"
                    ) from exc
    return out
