"""A fitted model's out-of-distribution judge: one detector per modality, one combined score.

:func:`fit_model_ood` runs where the final model is fitted
(:func:`emoclassic.evaluation.fit_final`): it finds the model's feature blocks
(:func:`emoclassic.features.block_extractors`), reads their training rows from the precomputed
tables, puts the audio blocks side by side and the text blocks side by side, and fits one
:class:`~emoclassic.ood.OODDetector` per modality, calibrated out of fold by speaker. The
result, a :class:`ModelOOD`, is stored on the estimator as ``emoclassic_ood_`` (so it is
pickled with the model) and summarised in the model card.

The score of a new item is ``max over modalities of distance / threshold``, divided by one
more factor chosen so that ``rate`` (5 %) of the out-of-fold training items score above 1:
each modality alone would flag 5 %, the maximum over two would flag more. So the threshold
of the combined score is always 1.0, and a per-modality score above 1 says which modality is
out of place. Blocks that learn their features (TF-IDF) or come from outside (extra blocks)
have no precomputed table and are not judged. A block wider than :data:`MAX_BLOCK_FEATURES`
columns (log-mel frames, spectrogram images) is first averaged down to that width over
contiguous groups of columns, so memory stays that of a pooled-feature block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["MAX_BLOCK_FEATURES", "MAX_ROWS", "MAX_SCORE", "ModelOOD", "OODScores", "block_keys",
           "fit_model_ood", "modality_of"]

#: scores above this (a feature beyond float range) are reported as this
MAX_SCORE = 1e6
#: wider blocks are averaged down to this many columns (contiguous groups) before judging
MAX_BLOCK_FEATURES = 16384
#: the detectors are fitted on at most this many training rows (a seeded random sample)
MAX_ROWS = 5000


def modality_of(extractor: Any) -> str | None:
    """``"audio"`` or ``"text"`` for an emoclassic extractor, else None (not judged)."""
    module = type(extractor).__module__
    for modality in ("audio", "text"):
        if module.startswith(f"emoclassic.{modality}"):
            return modality
    return None


def _narrow(X: np.ndarray, width: int = MAX_BLOCK_FEATURES) -> np.ndarray:
    """``X`` with at most ``width`` columns: means over contiguous groups of columns."""
    if X.shape[1] <= width:
        return X
    group = -(-X.shape[1] // width)
    starts = np.arange(0, X.shape[1], group)
    sizes = np.diff(np.append(starts, X.shape[1]))
    return np.add.reduceat(X, starts, axis=1) / sizes


def _table_rows(tables: Any, key: str, ids: list[str]) -> np.ndarray | None:
    entry = tables.blocks.get(key) if tables is not None else None
    if entry is None:
        return None
    index, matrix = entry
    rows = [index.get(i) for i in ids]
    if None in rows:
        return None
    return np.asarray(_narrow(matrix[rows]), dtype=np.float64)


def _model_blocks(estimator: Any) -> dict[str, list[tuple[str, str]]]:
    """``{modality: [(block name, config key), ...]}`` of the model's judged blocks."""
    from ..features import block_extractors
    from ..features._tables import config_key

    out: dict[str, list[tuple[str, str]]] = {}
    for name, ext in block_extractors(estimator):
        modality = modality_of(ext)
        if modality is not None:
            out.setdefault(modality, []).append((str(name), config_key(ext)))
    return out


def block_keys(estimator: Any) -> dict[str, str]:
    """``{block name: table key}`` of a fitted model's judged blocks as its extractors are now
    (what :meth:`ModelOOD.score` looks the tables up by)."""
    return {name: key for pairs in _model_blocks(estimator).values() for name, key in pairs}


@dataclass
class OODScores:
    """Combined and per-modality scores of some rows (threshold 1.0; NaN: not judged)."""

    score: np.ndarray
    by_modality: dict[str, np.ndarray] = field(default_factory=dict)
    threshold: float = 1.0


@dataclass
class ModelOOD:
    """What a saved model keeps to judge whether a new item lies inside its training data.

    ``detectors``: one fitted :class:`~emoclassic.ood.OODDetector` per modality;
    ``blocks``: the ``(block name, feature configuration key)`` pairs each modality's matrix
    is made of, in order; ``scale``: the factor that makes ``rate`` of the out-of-fold
    training items score above 1 after the maximum over modalities; ``oof_rate``: the share
    that does (about ``rate``); ``groups``: what the calibration folds were made of.
    """

    detectors: dict[str, Any]
    blocks: dict[str, list[tuple[str, str]]]
    scale: float = 1.0
    rate: float = 0.05
    n_items: int = 0
    oof_rate: float | None = None
    groups: str | None = None
    threshold: float = 1.0
    version: int = 1

    @property
    def method(self) -> str | None:
        methods = {d.method for d in self.detectors.values()}
        return methods.pop() if len(methods) == 1 else None

    def matrices(self, tables: Any, manifest: Any, keys: dict[str, str] | None = None
                 ) -> dict[str, np.ndarray | None]:  # fmt: skip
        """Each modality's feature matrix for the rows of ``manifest`` (None: not in tables).

        ``keys``: block name → the table key its extractor has *now* (:func:`block_keys`).
        The keys stored at fit include the feature definition's version, so after an
        upgrade that recomputes a block's features under a new version the stored key finds
        no table, and the model would silently lose its flags; the block's name does not
        change. Without ``keys`` the stored ones are used.
        """
        ids = [str(i) for i in manifest["id"]]
        keys = keys or {}
        out: dict[str, np.ndarray | None] = {}
        for modality, blocks in self.blocks.items():
            parts = [_table_rows(tables, keys.get(name, key), ids) for name, key in blocks]
            out[modality] = None if any(p is None for p in parts) else np.hstack(parts)
        return out

    def score(self, tables: Any, manifest: Any, keys: dict[str, str] | None = None
              ) -> OODScores:  # fmt: skip
        """Scores of the rows of ``manifest`` from the precomputed ``tables`` (``keys``: see
        :meth:`matrices`)."""
        n = len(manifest)
        by: dict[str, np.ndarray] = {}
        for modality, X in self.matrices(tables, manifest, keys).items():
            if X is None:
                logger.debug("out-of-distribution: no %s features in the tables", modality)
                continue
            det = self.detectors[modality]
            by[modality] = np.minimum(det.ood_score(X) / self.scale, MAX_SCORE)
        score = np.max(np.stack(list(by.values())), axis=0) if by else np.full(n, np.nan)
        return OODScores(score=score, by_modality=by, threshold=self.threshold)

    def summary(self) -> dict:
        """The model card's ``out_of_distribution`` entry."""
        modalities = {}
        for modality, det in self.detectors.items():
            modalities[modality] = {
                "blocks": [name for name, _ in self.blocks[modality]],
                "n_features": int(det.n_features_in_),
                "n_components": int(det.pca_.n_components_),
                "distance_threshold": round(float(det.threshold_ * self.scale), 6),
            }
        return {
            "method": self.method,
            "score": "max over modalities of distance / distance_threshold",
            "threshold": self.threshold,
            "target_rate": self.rate,
            "calibration": {
                "out_of_fold": True,
                "folds": max(int(d.n_splits_) for d in self.detectors.values()),
                "groups": self.groups,
                "n_items": self.n_items,
                "flag_rate": None if self.oof_rate is None else round(float(self.oof_rate), 4),
            },
            "modalities": modalities,
        }


def fit_model_ood(
    estimator: Any,
    tables: Any,
    manifest: Any,
    groups: Any = None,
    *,
    groups_name: str | None = None,
    method: str = "knn",
    n_components: int = 16,
    n_neighbors: int = 10,
    rate: float = 0.05,
    n_splits: int = 5,
    random_state: int = 0,
    max_rows: int = MAX_ROWS,
) -> ModelOOD | None:
    """Fit the out-of-distribution judge of a fitted ``estimator`` on its training rows.

    ``tables``: the precomputed features of ``manifest`` (the training rows); ``groups``: one
    value per row that the calibration folds must not split (the speakers; None: plain
    shuffled folds). A corpus of more than ``max_rows`` rows is represented by a random sample
    of that many (seeded by ``random_state``), so the fit stays a few seconds and its memory
    bounded at any corpus size. Returns None when the model has no judged block (e.g. TF-IDF
    alone) or fewer than 4 rows.
    """
    from ._detector import OODDetector

    blocks = _model_blocks(estimator)
    if not blocks or len(manifest) < 4:
        return None
    if len(manifest) > max_rows:
        keep = np.sort(np.random.default_rng(random_state).choice(len(manifest), max_rows,
                                                                  replace=False))  # fmt: skip
        manifest = manifest.iloc[keep].reset_index(drop=True)
        groups = None if groups is None else np.asarray(groups)[keep]
    probe = ModelOOD(detectors={}, blocks=blocks)
    detectors: dict[str, Any] = {}
    for modality, X in probe.matrices(tables, manifest).items():
        if X is None:
            logger.warning("out-of-distribution: the %s features of the training rows are not "
                           "in the tables; that modality is not judged", modality)
            continue
        det = OODDetector(method=method, n_components=n_components, n_neighbors=n_neighbors,
                          rate=rate, n_splits=n_splits, random_state=random_state)
        detectors[modality] = det.fit(X, groups=groups)
    if not detectors:
        return None
    blocks = {m: blocks[m] for m in detectors}
    oof = np.max([d.oof_distances_ / d.threshold_ for d in detectors.values()], axis=0)
    finite = oof[np.isfinite(oof)]
    scale = float(np.quantile(finite, 1.0 - rate)) if finite.size else 1.0
    scale = scale if scale > 0 else 1.0
    return ModelOOD(
        detectors=detectors, blocks=blocks, scale=scale, rate=float(rate),
        n_items=int(len(manifest)), oof_rate=float(np.mean(oof / scale > 1.0)),
        groups=groups_name if groups is not None else None,
    )  # fmt: skip
