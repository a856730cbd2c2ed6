"""Metrics of emotion recognition, in the field's names, and the baselines to read them against.

- ``ua``: unweighted accuracy = balanced accuracy = mean per-class recall (over the classes
  present in ``y_true``);
- ``wa``: weighted accuracy = plain accuracy;
- ``macro_f1``, ``weighted_f1``: F1 averaged over classes, equally or by support.

All are fractions in [0, 1]. Baselines: ``majority`` predicts the most frequent training class;
``chance`` is a uniform random guesser over the classes, whose metrics are those of its
*expected* confusion matrix (every true class spread evenly over the K predicted classes:
UA = WA = 1/K; per-class precision = the class's share, recall = 1/K), computed analytically,
so no seed is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["METRIC_KEYS", "chance_metrics", "compute_metrics", "metrics_from_confusion"]

METRIC_KEYS = ("ua", "wa", "macro_f1", "weighted_f1")


def _confusion(y_true, y_pred, labels: list) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=np.float64)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            cm[index[t], index[p]] += 1
    return cm


def metrics_from_confusion(cm: np.ndarray, labels: Sequence) -> dict[str, Any]:
    """``metrics``, ``per_class`` and ``confusion`` from a (possibly fractional) matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    total = support.sum()
    present = support > 0
    metrics = {
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "wa": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "n": int(round(total)),
    }
    per_class = {
        str(lab): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(round(support[i])),
        }
        for i, lab in enumerate(labels)
    }
    integral = np.allclose(cm, np.round(cm))
    matrix = np.round(cm).astype(int).tolist() if integral else np.round(cm, 4).tolist()
    return {
        "metrics": metrics,
        "per_class": per_class,
        "confusion": {"labels": [str(lab) for lab in labels], "matrix": matrix},
    }


def compute_metrics(y_true, y_pred, *, labels: Sequence | None = None) -> dict[str, Any]:
    """UA, WA, macro/weighted F1, per-class scores and the confusion matrix.

    Returns ``{"metrics": {ua, wa, macro_f1, weighted_f1, n}, "per_class": {label:
    {precision, recall, f1, support}}, "confusion": {"labels", "matrix"}}`` (rows: true,
    columns: predicted). ``labels`` fixes the class order (default: sorted union); pairs with a
    label outside ``labels`` are not counted.
    """
    y_true = [str(v) for v in np.asarray(y_true, dtype=object).tolist()]
    y_pred = [str(v) for v in np.asarray(y_pred, dtype=object).tolist()]
    if labels is None:
        labels = sorted(set(y_true) | set(y_pred))
    labels = [str(lab) for lab in labels]
    return metrics_from_confusion(_confusion(y_true, y_pred, labels), labels)


def chance_metrics(y_true, *, labels: Sequence) -> dict[str, float]:
    """Expected metrics of a uniform random guesser over ``labels`` (analytic; see module)."""
    labels = [str(lab) for lab in labels]
    y_true = [str(v) for v in y_true]
    k = len(labels)
    counts = np.array([sum(1 for t in y_true if t == lab) for lab in labels], dtype=np.float64)
    cm = np.repeat(counts[:, None] / max(k, 1), k, axis=1)
    return metrics_from_confusion(cm, labels)["metrics"]
