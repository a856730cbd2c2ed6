"""Where pool items lie, for the ``diverse`` strategy: the model's own feature space, read from
the tables prediction has already computed (no second extraction).

Per modality (the audio blocks side by side, the text blocks side by side, as the
out-of-distribution judge groups them: :mod:`emoclassic.ood`):

- a model saved with its out-of-distribution detector (``emoclassic fit`` stores one) gives
  the detector's standardisation and principal components, fitted on the model's *training*
  rows: distances there are those the model's training data varies along, in a few dozen
  dimensions instead of thousands;
- otherwise the pool's own rows are standardised and projected onto their first
  :data:`N_COMPONENTS` principal components.

Each modality's projection is scaled to unit mean squared norm, so two modalities count
alike. A model none of whose blocks has a table (TF-IDF alone, extra blocks) spreads over its
probability vectors instead (their square roots: Euclidean distance there is the Hellinger
distance between two predictions), which is logged.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

__all__ = ["N_COMPONENTS", "pool_space"]

logger = logging.getLogger(__name__)

#: principal components kept per modality when the model has no detector to project with
N_COMPONENTS = 16


def _row_index(index: dict[str, int], ids: list[str]) -> list[list[int]] | None:
    """Table rows of each item: its own row, else the rows of its windows (``ID#wK``, a long
    file prediction windowed); None when an item has neither."""
    windows: dict[str, list[int]] = {}
    for key, row in index.items():
        base, sep, k = key.rpartition("#w")
        if sep and k.isdigit():
            windows.setdefault(base, []).append(row)
    out = []
    for i in ids:
        rows = [index[i]] if i in index else windows.get(i)
        if not rows:
            return None
        out.append(rows)
    return out


def _block_rows(tables: Any, key: str, ids: list[str]) -> np.ndarray | None:
    from ..ood._model import _narrow

    entry = tables.blocks.get(key) if tables is not None else None
    if entry is None:
        return None
    index, matrix = entry
    rows = _row_index(index, ids)
    if rows is None:
        return None
    X = np.stack([np.asarray(matrix[r], dtype=np.float64).mean(axis=0) for r in rows])
    return _narrow(np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0))


def _modality_blocks(model: Any) -> dict[str, list[tuple[str, str]]]:
    """``{modality: [(block, table key), ...]}``: the detector's blocks in its order, then any
    other block of the model that has a table."""
    from ..features._tables import config_key
    from ..ood import modality_of

    out: dict[str, list[tuple[str, str]]] = {}
    ood = getattr(model, "ood", None)
    keys = getattr(model, "ood_keys", None) or {}
    if ood is not None:
        for modality, blocks in ood.blocks.items():
            out[modality] = [(name, keys.get(name, key)) for name, key in blocks]
    for name, ext in model.extractors:
        modality = modality_of(ext)
        if modality is None:
            continue
        pairs = out.setdefault(modality, [])
        if all(key != config_key(ext) for _, key in pairs):
            pairs.append((str(name), config_key(ext)))
    return out


def _pool_projection(X: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    k = max(1, min(int(n_components), Z.shape[0] - 1, Z.shape[1]))
    if Z.shape[0] < 2:
        return Z[:, :k]
    return PCA(n_components=k, random_state=seed).fit_transform(Z)


def pool_space(
    model: Any,
    tables: Any,
    ids: list[str],
    proba: np.ndarray | None = None,
    *,
    n_components: int = N_COMPONENTS,
    seed: int = 0,
) -> tuple[np.ndarray, str]:
    """``(rows, how)``: each pool item's point in the model's feature space and a short
    description of that space (``how``, e.g. ``"audio: the model's training PCA (16)"``).

    ``model``: a :class:`emoclassic.prediction.PreparedModel`; ``tables``: the feature tables
    prediction computed for the pool (rows by id; a windowed item's rows ``ID#wK`` are
    averaged); ``ids``: the pool items; ``proba``: their probabilities, the fallback space.
    """
    parts: list[np.ndarray] = []
    how: list[str] = []
    ood = getattr(model, "ood", None)
    for modality, blocks in _modality_blocks(model).items():
        mats = [_block_rows(tables, key, ids) for _, key in blocks]
        det = None if ood is None else ood.detectors.get(modality)
        judged = mats[: len(ood.blocks.get(modality, []))] if det is not None else []
        if judged and all(m is not None for m in judged):  # the detector's blocks come first
            X = np.hstack(judged)
            if X.shape[1] == det.n_features_in_:
                Z = det.pca_.transform(det.scaler_.transform(X))
                parts.append(Z)
                how.append(f"{modality}: the model's training PCA ({Z.shape[1]})")
                continue
        mats = [m for m in mats if m is not None]
        if not mats:
            continue
        Z = _pool_projection(np.hstack(mats), n_components, seed)
        parts.append(Z)
        how.append(f"{modality}: the pool's PCA ({Z.shape[1]})")
    if not parts:
        if proba is None:
            from ..exceptions import DataError

            raise DataError("the model has no feature table to spread picks over; give the "
                            "probabilities (proba=) as the fallback space")
        logger.info("diverse: no feature block of the model has a table (TF-IDF or extra "
                    "blocks alone); the picks are spread over the predicted probabilities")
        return np.sqrt(np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)), "predicted probabilities"
    scaled = []
    for Z in parts:
        norm = float(np.sqrt(np.mean(np.sum(Z ** 2, axis=1))))
        scaled.append(Z / norm if norm > 0 else Z)
    return np.hstack(scaled), "; ".join(how)
