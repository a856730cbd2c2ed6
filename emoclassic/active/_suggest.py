"""``suggest``: which unlabelled utterances of a pool to send to annotators next.

Annotation is the expensive part of a corpus, and the labels that help a model most are the
ones it is least sure about; so the pool is predicted by the one prediction path
(:func:`emoclassic.prediction.predict_manifest`'s: the same precompute, failures per item,
windows of long files) and ranked by a strategy of :mod:`emoclassic.active._strategies`.
``diverse`` spreads its picks over the model's feature space, read from the tables that very
prediction computed (:func:`emoclassic.active.pool_space`).

The picks are a prediction manifest (``emoclassic predict --manifest picks.csv`` reads them)
that carries the model's guesses under names no reader takes for a label
(``predicted_label``, ``second_label``) and never a ``label`` column, so a pick cannot slip
into training data as a gold label before a person has annotated it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import BatchError, DataError
from ._strategies import DIVERSE_CANDIDATES, check_request, entropy, margin, rank, top_two

__all__ = ["PICK_COLUMNS", "suggest"]

logger = logging.getLogger(__name__)

#: the first columns of every picks table, in order
PICK_COLUMNS = ("id", "path", "text", "rank", "score", "predicted_label", "second_label",
                "probability", "second_probability", "out_of_distribution")  # fmt: skip
#: schema columns a pick carries where the pool has them (what ``predict`` reads)
CARRIED = ("speaker", "dialogue_id", "utterance_index", "split", "start", "end", "corpus")
#: never carried: annotations (a pick must not look labelled) and in-memory audio
DROPPED = frozenset({"label", "label_original", "votes", "agreement", "waveform"})


def _prepared(model: Any, trust: bool):
    """A :class:`~emoclassic.prediction.PreparedModel` from a path, Recognizer or estimator."""
    from ..prediction import PreparedModel

    if isinstance(model, PreparedModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        from ..artifacts import load_model

        estimator, info = load_model(model, trust=trust)
        info = {**info, "path": str(model)}
        return PreparedModel.of(estimator, info)
    prepared = getattr(model, "_model", None)  # a Recognizer: inspected once already
    if isinstance(prepared, PreparedModel):
        return prepared
    return PreparedModel.of(model)


def _pool(manifest: Any) -> pd.DataFrame:
    if isinstance(manifest, (str, os.PathLike)):
        from ..data import read_manifest

        manifest = read_manifest(manifest, require_labels=False, check_files=False)
    if not isinstance(manifest, pd.DataFrame):
        raise DataError(f"the pool is a {type(manifest).__name__}; give a manifest (a DataFrame "
                        "or the path of a .csv/.tsv/.jsonl file)")
    if len(manifest) == 0:
        raise DataError("the pool has no rows; give a manifest with one row per unlabelled "
                        "utterance (no label column needed)")
    return manifest


def _carried(pool: pd.DataFrame) -> list[str]:
    """The pool's columns a pick keeps: schema columns that hold something, then the user's."""
    from ..data import MANIFEST_COLUMNS

    keep = [c for c in CARRIED if c in pool.columns and pool[c].notna().any()]
    extras = [c for c in pool.columns if c not in MANIFEST_COLUMNS and c not in DROPPED
              and c not in PICK_COLUMNS]  # fmt: skip
    return keep + extras


def suggest(
    model: Any,
    manifest: pd.DataFrame | str | os.PathLike,
    *,
    n: int = 50,
    strategy: str = "margin",
    seed: int | None = 0,
    candidates: int = DIVERSE_CANDIDATES,
    cache: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    extra: Mapping[str, str | os.PathLike] | None = None,
    tables: Any = None,
    trust: bool = False,
) -> pd.DataFrame:
    """Rank the unlabelled utterances of ``manifest`` and return the ``n`` to annotate first.

    ``model``: a saved model's path (checked as :func:`emoclassic.artifacts.load_model` does;
    ``trust`` as there), a :class:`emoclassic.Recognizer`, or a fitted pipeline.
    ``manifest``: the pool (a DataFrame or a manifest file; no ``label`` column needed, and
    labels present are ignored). ``strategy``: ``margin`` (smallest top-1 minus top-2
    probability first), ``entropy`` (largest first), ``random`` (seeded) or ``diverse``
    (the ``candidates * n`` smallest margins grouped into ``n`` clusters in the model's
    feature space, the item nearest each centre; seeded). ``cache``, ``n_jobs``,
    ``progress``, ``extra``: as for :func:`emoclassic.prediction.predict_manifest`.
    ``tables``: feature tables already holding every pool row (e.g. from
    :func:`emoclassic.features.precompute` over a larger set, as a simulation reuses them);
    their blocks are not computed again.

    Returns one row per pick, in order: :data:`PICK_COLUMNS` (``score`` is the entropy for
    ``entropy``, else the margin; ``predicted_label``/``second_label`` are the model's two best
    classes with their probabilities; ``out_of_distribution`` the prediction's flag), then the
    pool's ``speaker``, ``dialogue_id``, ``utterance_index``, ``split``, ``start``, ``end``,
    ``corpus`` where it has them, then its other columns (never ``label``,
    ``label_original``, ``votes`` or ``agreement``). Fewer rows when fewer items could be
    predicted. ``attrs``: ``strategy``, ``score`` (what the score is), ``n_pool`` (items
    ranked), ``labels``, ``seed``, ``space`` (``diverse``: the feature space used), ``model``
    (its name) and ``failures`` (a :class:`~emoclassic.features.Failure` per item that could
    not be predicted; those are skipped, the others ranked). Raises
    :class:`~emoclassic.exceptions.ConfigError` for a bad ``n`` or ``strategy``,
    :class:`~emoclassic.exceptions.DataError` for an empty pool, and
    :class:`~emoclassic.exceptions.BatchError` when no item could be predicted.
    """
    from ..prediction import _predict

    n, strategy = check_request(n, strategy)
    pool = _pool(manifest)
    prepared = _prepared(model, trust)
    result = _predict(prepared, pool, cache=cache, n_jobs=n_jobs, progress=progress,
                      extra=extra, tables=tables, keep_tables=strategy == "diverse")
    frame = pool.reset_index(drop=True)
    scored = [k for k, (entry, _) in enumerate(result.outcomes) if entry is not None]
    if not scored:
        first = result.failures[0] if result.failures else None
        why = f" (first: {first.id}: {first.message})" if first is not None else ""
        raise BatchError(f"none of the {len(frame)} pool item(s) could be predicted{why}; "
                         "nothing to suggest", result.failures)
    labels = result.labels
    entries = [result.outcomes[k][0] for k in scored]
    proba = np.array([[e["probabilities"][lab] for lab in labels] for e in entries])
    features, space = None, None
    if strategy == "diverse":
        from ._space import pool_space

        features, space = pool_space(prepared, result.tables, [e["id"] for e in entries],
                                     proba, seed=0 if seed is None else int(seed))
    if len(scored) < n:
        logger.info("suggest: the pool has %d item(s) that could be predicted, fewer than "
                    "n=%d; all are ranked", len(scored), n)
    order = rank(proba, n, strategy, features=features, seed=seed, candidates=candidates)
    picks = _picks(frame, scored, entries, proba, labels, order, strategy)
    picks.attrs.update({
        "strategy": strategy,
        "score": "entropy" if strategy == "entropy" else "margin",
        "n_pool": len(scored),
        "labels": list(labels),
        "seed": seed,
        "space": space,
        "model": prepared.info.get("name") or prepared.info.get("path"),
        "failures": list(result.failures),
    })
    return picks


def _picks(frame: pd.DataFrame, scored: list[int], entries: list[dict], proba: np.ndarray,
           labels: list[str], order: np.ndarray, strategy: str) -> pd.DataFrame:  # fmt: skip
    """The picks table: the ranked rows of ``frame`` with their scores and the model's guesses."""
    best, second = top_two(proba)
    score = entropy(proba) if strategy == "entropy" else margin(proba)
    rows = frame.iloc[[scored[i] for i in order]].reset_index(drop=True)
    lab = np.asarray(labels, dtype=object)
    at = np.arange(len(proba))
    out = pd.DataFrame({
        "id": [entries[i]["id"] for i in order],
        "path": rows["path"] if "path" in rows.columns else None,
        "text": rows["text"] if "text" in rows.columns else None,
        "rank": np.arange(1, len(order) + 1),
        "score": np.round(score[order], 6),
        "predicted_label": lab[best[order]],
        "second_label": lab[second[order]],
        "probability": np.round(proba[at, best][order], 6),
        "second_probability": np.round(proba[at, second][order], 6),
        # outside the training data (None: the model has no detector): worth a careful listen
        "out_of_distribution": pd.array([entries[i]["out_of_distribution"] for i in order],
                                        dtype="boolean"),
    })
    for column in _carried(frame):
        out[column] = rows[column].to_numpy()
    return out
