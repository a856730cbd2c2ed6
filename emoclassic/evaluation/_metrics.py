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

Calibration (:func:`calibration_summary`): whether a model's probabilities mean what they say.
The expected calibration error is the standard *top-label* ECE: each item's confidence is its
largest probability and it counts as right when that class is the true one; the confidences are
put into ``n_bins`` equal-width bins over [0, 1] (bin ``b`` holds confidences in
``(b/n, (b+1)/n]``, 0 in the first), and ``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|``.
Equal-width bins, not equal-mass, because that is the definition most papers and tools report,
so the figure compares. The per-bin counts, mean confidences and accuracies are kept: they are a
reliability diagram.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "METRIC_KEYS",
    "calibration_summary",
    "chance_metrics",
    "compute_metrics",
    "expected_calibration_error",
    "metrics_from_confusion",
    "risk_coverage",
]

#: equal-width confidence bins of the ECE (the usual 10)
ECE_BINS = 10

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


def _top_label(y_true, proba, labels: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Each row's confidence (largest probability) and whether its class is the true one."""
    p = np.asarray(proba, dtype=np.float64)
    labels = [str(lab) for lab in labels]
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise ValueError(f"probabilities of shape {p.shape} need one column per label "
                         f"({len(labels)})")  # fmt: skip
    truth = np.array([str(v) for v in np.asarray(y_true, dtype=object).tolist()], dtype=object)
    if len(truth) != len(p):
        raise ValueError(f"{len(truth)} labels for {len(p)} rows of probabilities")
    top = np.argmax(p, axis=1) if len(p) else np.zeros(0, dtype=int)
    correct = np.asarray(labels, dtype=object)[top] == truth if len(p) else np.zeros(0, bool)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    return conf, correct.astype(bool)


#: confidence thresholds of :func:`risk_coverage`: abstain below 0, 0.05, ..., 0.95
RISK_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(20))


def risk_coverage(y_true, proba, labels: Sequence, *,
                  thresholds: Sequence[float] = RISK_THRESHOLDS) -> list[dict[str, Any]]:
    """What abstaining buys: for each threshold, the share of items whose top probability is
    at least it (``coverage``, the items ``predict --abstain-below`` would still answer), how
    many (``n``) and the accuracy of their top label (``accuracy``; None when none is kept).

    Threshold 0 keeps every item (the plain accuracy). A model whose probabilities rank its
    errors well gains accuracy quickly as coverage falls; a flat curve says its confidence
    does not tell right from wrong, whatever its calibration error.
    """
    conf, correct = _top_label(y_true, proba, labels)
    n = len(conf)
    out = []
    for t in thresholds:
        keep = conf >= float(t)
        k = int(keep.sum())
        out.append({"threshold": float(t), "coverage": k / n if n else 0.0, "n": k,
                    "accuracy": float(correct[keep].mean()) if k else None})
    return out


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each confidence: ``(b/n, (b+1)/n]`` is bin ``b``; 0 falls into bin 0."""
    inner = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    return np.digitize(np.clip(conf, 0.0, 1.0), inner, right=True)


def expected_calibration_error(y_true, proba, labels: Sequence, *, n_bins: int = ECE_BINS
                               ) -> float:  # fmt: skip
    """Top-label ECE of ``proba`` (rows: items, columns: ``labels``) against ``y_true``."""
    return calibration_summary(y_true, proba, labels, n_bins=n_bins)["ece"]


def calibration_summary(y_true, proba, labels: Sequence, *, n_bins: int = ECE_BINS
                        ) -> dict[str, Any]:  # fmt: skip
    """The calibration of probabilities ``proba`` (one column per label, in ``labels`` order).

    Returns ``ece`` (top-label expected calibration error, see the module docstring), ``mce``
    (the largest gap of a non-empty bin), ``n``, ``n_bins``, ``accuracy`` and ``confidence``
    (top-label, over all items), ``log_loss`` and ``brier`` (mean over items of the squared
    distance between the probability vector and the one-hot truth: proper scores, so a model
    cannot improve them by hedging, as it can the ECE) and ``bins``: per bin ``lower``,
    ``upper``, ``count``, ``confidence`` and ``accuracy`` (None for an empty bin), what a
    reliability diagram draws. All figures are fractions; ``ece`` is in [0, 1].
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins={n_bins!r} must be an integer >= 1")
    conf, correct = _top_label(y_true, proba, labels)
    n = len(conf)
    idx = _bin_index(conf, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins, ece, mce = [], 0.0, 0.0
    for b in range(n_bins):
        mask = idx == b
        count = int(mask.sum())
        entry: dict[str, Any] = {"lower": round(float(edges[b]), 6),
                                 "upper": round(float(edges[b + 1]), 6), "count": count,
                                 "confidence": None, "accuracy": None}  # fmt: skip
        if count:
            c, a = float(conf[mask].mean()), float(correct[mask].mean())
            entry["confidence"], entry["accuracy"] = c, a
            ece += count / n * abs(a - c)
            mce = max(mce, abs(a - c))
        bins.append(entry)
    p = np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)
    truth = [str(v) for v in np.asarray(y_true, dtype=object).tolist()]
    index = {str(lab): i for i, lab in enumerate(labels)}
    onehot = np.zeros_like(p)
    for r, t in enumerate(truth):
        if t in index:
            onehot[r, index[t]] = 1.0
    p_true = (p * onehot).sum(axis=1)
    return {
        "ece": float(ece),
        "mce": float(mce),
        "n": int(n),
        "n_bins": int(n_bins),
        "accuracy": float(correct.mean()) if n else None,
        "confidence": float(conf.mean()) if n else None,
        "log_loss": float(-np.log(np.clip(p_true, 1e-15, 1.0)).mean()) if n else None,
        "brier": float(((p - onehot) ** 2).sum(axis=1).mean()) if n else None,
        "bins": bins,
    }
