"""Scoring a saved model on labelled data: a held-out split or another corpus.

Labels of another corpus are mapped onto the model's (the canonical emotion vocabulary, or a
dict); rows whose label the model does not know are left out and counted.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._config import config_context
from .._json import jsonable as _json_safe
from .._versions import versions
from ..exceptions import ConfigError, DataError
from ..features import precompute, use_tables
from ._metrics import calibration_summary, chance_metrics, compute_metrics
from ._splits import LABEL, _prepare, _runtime

logger = logging.getLogger(__name__)

__all__ = ["score_model"]


def score_model(
    estimator,
    manifest: pd.DataFrame,
    *,
    split: str | None = None,
    label_map: str | dict | None = "canonical",
    cache: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    extra: Mapping[str, str | os.PathLike] | None = None,
) -> dict[str, Any]:
    """Score a fitted model on a labelled manifest (another corpus, or a held-out split).

    When the manifest's labels are not all among the model's ``classes_``, both sides are
    mapped (``"canonical"``: through :func:`emoclassic.data.to_canonical`; a dict: by it) and
    only the shared classes are scored; ``data.dropped_labels`` counts what was left out.
    Returns ``metrics``, ``per_class``, ``confusion``, ``baselines``, ``calibration`` (the
    expected calibration error and reliability bins of the model's probabilities over the
    scored classes, as in cv_report; None for a model without ``predict_proba``) and ``data``
    (each of ``predictions`` carries its ``probabilities`` then). The
    features come from the shared precompute step (rows that fail are left out and listed in
    ``data.failed``); ``cache``/``n_jobs``/``progress`` left at None take the values of
    :func:`emoclassic.config_context`. ``extra`` gives the model's extra blocks the rows'
    vectors (block name → file keyed by id; :func:`emoclassic.fusion.extra_inputs`).
    """
    from ..fusion._extra import extra_inputs

    df, _ = _prepare(manifest)
    df = extra_inputs(estimator, df, extra)
    if split is not None:
        if "split" not in df.columns:
            raise DataError(f"split={split!r} asked for but the manifest has no 'split' column")
        df = df.loc[df["split"].astype(str).str.lower() == split.lower()].reset_index(drop=True)
        if df.empty:
            raise DataError(f"the manifest has no rows with split {split!r}")
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    if not classes:
        raise ConfigError("score_model needs a fitted classifier with classes_")
    truth = df[LABEL].astype(str).tolist()
    mapper = _label_mapper(label_map, truth, classes)
    mapped_truth = [mapper(t) for t in truth]
    mapped_classes = sorted({mapper(c) for c in classes})
    keep = np.array([t in set(mapped_classes) for t in mapped_truth], dtype=bool)
    dropped = Counter(t for t, k in zip(truth, keep, strict=True) if not k)
    if dropped:
        logger.warning(
            "score_model: %d row(s) with labels the model does not know are left out: %s",
            sum(dropped.values()),
            dict(dropped),
        )
    df = df.loc[keep].reset_index(drop=True)
    mapped_truth = [t for t, k in zip(mapped_truth, keep, strict=True) if k]
    if df.empty:
        raise DataError(
            f"no row of the manifest has a label the model knows ({', '.join(classes)}); "
            "check label_map"
        )
    with config_context(**_runtime(cache=cache, n_jobs=n_jobs, progress=progress)):
        pre = precompute(estimator, df)
    failed = [f.to_dict() for f in pre.failures]
    if pre.failures:
        ok = ~df["id"].astype(str).isin(pre.failed_ids).to_numpy()
        df = df.loc[ok].reset_index(drop=True)
        mapped_truth = [t for t, k in zip(mapped_truth, ok, strict=True) if k]
    t0 = time.perf_counter()
    with use_tables(pre.tables):
        pred = [mapper(str(p)) for p in estimator.predict(df)]
        proba = _mapped_proba(estimator, df, mapper, mapped_classes)
    seconds = time.perf_counter() - t0
    labels = mapped_classes
    calibration = None
    if proba is not None and len(mapped_truth):
        calibration = {**calibration_summary(mapped_truth, proba, labels),
                       "source": "predict_proba"}
    scored = compute_metrics(mapped_truth, pred, labels=labels)
    counts = Counter(mapped_truth)
    top = max(sorted(counts), key=lambda c: counts[c])
    return {
        "metrics": scored["metrics"],
        "per_class": scored["per_class"],
        "confusion": scored["confusion"],
        "baselines": {
            "majority": compute_metrics(mapped_truth, [top] * len(mapped_truth), labels=labels)[
                "metrics"
            ],  # fmt: skip
            "chance": chance_metrics(mapped_truth, labels=labels),
        },
        "data": {
            "n_items": len(mapped_truth),
            "split": split,
            "classes": {str(k): int(v) for k, v in sorted(counts.items())},
            "model_classes": classes,
            "label_map": label_map
            if isinstance(label_map, (str, type(None)))
            else _json_safe(label_map),  # fmt: skip
            "dropped_labels": {str(k): int(v) for k, v in sorted(dropped.items())},
            "failed": failed,
        },
        "calibration": calibration,
        "predictions": [
            {"id": str(i), "label": t, "predicted": p,
             **({} if proba is None else
                {"probabilities": dict(zip(labels, np.round(proba[k], 6).tolist(),
                                           strict=True))})}
            for k, (i, t, p) in enumerate(zip(df["id"], mapped_truth, pred, strict=True))
        ],
        "timing": {"predict": round(seconds, 3)},
        "versions": versions(),
    }


def _mapped_proba(estimator, df: pd.DataFrame, mapper, mapped_classes: list[str]
                  ) -> np.ndarray | None:
    """The model's probabilities over the scored (mapped) classes: the columns of model
    classes that map onto one scored class are summed, so that the calibration error is
    that of the labels the metrics score. None when the model has no ``predict_proba``."""
    if not callable(getattr(estimator, "predict_proba", None)) or df.empty:
        return None
    from ..fusion import aligned_proba

    classes = np.asarray(estimator.classes_, dtype=object)
    proba = aligned_proba(estimator, df, classes)
    index = {c: j for j, c in enumerate(mapped_classes)}
    out = np.zeros((proba.shape[0], len(mapped_classes)))
    for j, c in enumerate(classes):
        out[:, index[mapper(str(c))]] += proba[:, j]
    return out


def _label_mapper(label_map, truth: list[str], classes: list[str]):
    if label_map is None or label_map == "none":
        return lambda s: s
    if isinstance(label_map, dict):
        table = {str(k): str(v) for k, v in label_map.items()}
        return lambda s: table.get(s, s)
    if label_map != "canonical":
        raise ConfigError(f"label_map={label_map!r}; use 'canonical', 'none' or a dict")
    if set(truth) <= set(classes):
        return lambda s: s  # same vocabulary: nothing to map
    try:
        from ..data import to_canonical
    except ImportError:  # pragma: no cover - data is always there in a full install
        return lambda s: s
    return lambda s: to_canonical(s)
