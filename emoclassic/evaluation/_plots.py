"""Plots for reports (matplotlib is imported only here, only when a plot is drawn).

Every plot is a :class:`matplotlib.figure.Figure` rendered straight to PNG bytes: no pyplot, so
no global figure state and the user's matplotlib backend (a notebook's inline backend, a GUI
backend) is never switched or touched.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fold_summary", "plot_confusion", "plot_folds", "plot_reliability",
           "plot_risk_coverage"]

#: metrics drawn per fold, with their display names
_FOLD_METRICS = {"ua": "UA", "wa": "WA", "macro_f1": "macro F1"}


def _png(fig, dpi: int, path: str | os.PathLike | None) -> bytes:
    """Render ``fig`` to PNG bytes (Agg, without pyplot) and write them to ``path`` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if path is not None:
        from .._atomic import atomic_write_bytes

        atomic_write_bytes(Path(path), data)
    return data


def plot_confusion(
    matrix,
    labels: Sequence[str],
    *,
    normalize: bool = True,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 120,
) -> bytes:
    """Draw a confusion matrix (rows: true, columns: predicted) and return the PNG bytes.

    With ``normalize`` each row shows recall fractions (colour) and the counts are printed;
    ``path`` also writes the PNG there, atomically.
    """
    from matplotlib.figure import Figure

    cm = np.asarray(matrix, dtype=float).reshape(len(labels), len(labels))
    k = len(labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = cm.sum(axis=1, keepdims=True)
        shown = np.where(rows > 0, cm / rows, 0.0) if normalize else cm
    size = max(3.6, 0.6 * k + 2.2)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    top = 1.0 if normalize else max(float(cm.max()) if cm.size else 1.0, 1.0)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=top)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                       label="share of the true class (recall)" if normalize else "count")
    if normalize:
        from matplotlib.ticker import PercentFormatter

        bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xticks(range(k), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    for i in range(k):
        for j in range(k):
            count = cm[i, j]
            text = f"{int(count)}" if float(count).is_integer() else f"{count:.1f}"
            if normalize:
                text += f"\n{shown[i, j]:.0%}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9 if k <= 8 else 7,
                    color="white" if shown[i, j] > 0.5 * top else "black")  # fmt: skip
    return _png(fig, dpi, path)


def fold_summary(folds: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, dict]:
    """Mean and sample standard deviation (``ddof=1``) of each metric over the outer folds.

    Why both: the pooled score hides how much a score moves from one held-out speaker set to
    the next; the spread is what tells a reader whether two pipelines really differ. ``sd`` is
    None with fewer than two folds (a single split has no spread).
    """
    out: dict[str, dict] = {}
    for key in keys:
        values = [float(f["metrics"][key]) for f in folds
                  if isinstance(f.get("metrics", {}).get(key), (int, float))]  # fmt: skip
        values = [v for v in values if np.isfinite(v)]
        out[key] = {
            "mean": float(np.mean(values)) if values else None,
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "n": len(values),
        }
    return out


def plot_folds(
    folds: Sequence[Mapping[str, Any]],
    *,
    chance: float | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 120,
) -> bytes:
    """Bar chart of UA, WA and macro F1 per outer fold, with the mean UA and chance as lines.

    Folds are unordered, so bars (not lines) are drawn; each fold is labelled with its test
    groups when there are few (``fold 0: s1, s2``). Returns the PNG bytes (and writes ``path``
    atomically).
    """
    from matplotlib.figure import Figure

    n = len(folds)
    keys = list(_FOLD_METRICS)
    fig = Figure(figsize=(min(12.0, max(6.0, 2.4 + 0.9 * n)), 3.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(n)
    bar = 0.8 / len(keys)
    colours = ("#1f77b4", "#9ecae1", "#ff7f0e")
    for j, key in enumerate(keys):
        vals = [100 * float(f.get("metrics", {}).get(key) or 0.0) for f in folds]
        ax.bar(x + (j - (len(keys) - 1) / 2) * bar, vals, bar, label=_FOLD_METRICS[key],
               color=colours[j % len(colours)])  # fmt: skip
    mean_ua = fold_summary(folds, ["ua"])["ua"]["mean"]
    if mean_ua is not None:
        ax.axhline(100 * mean_ua, color="#1f77b4", linestyle="--", linewidth=1.2,
                   label=f"mean UA ({100 * mean_ua:.1f})")  # fmt: skip
    if chance is not None:
        ax.axhline(100 * float(chance), color="grey", linestyle=":", linewidth=1.2,
                   label=f"chance UA ({100 * float(chance):.1f})")  # fmt: skip
    crowded = n > 10
    ax.set_xticks(x, labels=[_fold_label(f, one_line=crowded) for f in folds],
                  rotation=45 if crowded else 0, ha="right" if crowded else "center",
                  fontsize=8)  # fmt: skip
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (%)")
    ax.set_xlabel("outer fold (test groups)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.legend(loc="outside lower center", ncols=5, fontsize=8, frameon=False)
    ax.set_title(title or "Scores per outer fold")
    return _png(fig, dpi, path)


def _fold_label(fold: Mapping[str, Any], *, one_line: bool = False) -> str:
    """``fold 0`` over its test groups (``spk04, spk07``), or their count when there are many."""
    groups = [str(g) for g in fold.get("test_groups", [])]
    label = f"fold {fold.get('fold', '?')}"
    if 0 < len(groups) <= 2:
        names = ", ".join(groups)
    elif groups:
        names = f"{len(groups)} groups"
    else:
        return label
    return f"{label}: {names}" if one_line else f"{label}\n{names}"


def plot_reliability(
    bins: Sequence[Mapping[str, Any]],
    *,
    ece: float | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 120,
) -> bytes:
    """Reliability diagram of a report's ``calibration.bins``: accuracy per confidence bin
    against the diagonal (perfect calibration), with the share of items per bin below.

    Bars show each non-empty bin's accuracy; a marker, its mean confidence (a bar below its
    marker: over-confident). Why the counts panel: a bin of three items can sit far from the
    diagonal without meaning much; the ECE weights bins by their counts, and so should the eye.
    Returns the PNG bytes (and writes ``path`` atomically).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.4, 4.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    lower = np.array([float(b["lower"]) for b in bins])
    upper = np.array([float(b["upper"]) for b in bins])
    counts = np.array([int(b.get("count") or 0) for b in bins])
    width = upper - lower
    centres = (lower + upper) / 2
    full = counts > 0
    acc = np.array([float(b["accuracy"]) if b.get("accuracy") is not None else 0.0 for b in bins])
    conf = np.array([float(b["confidence"]) if b.get("confidence") is not None else np.nan
                     for b in bins])  # fmt: skip
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    top.bar(centres[full], acc[full], width[full] * 0.9, color="#1f77b4", alpha=0.85,
            label="accuracy")  # fmt: skip
    top.plot(conf[full], acc[full], "o", color="#ff7f0e", markersize=4,
             label="mean confidence")  # fmt: skip
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.grid(alpha=0.3)
    top.set_axisbelow(True)
    top.legend(loc="upper left", fontsize=8, frameon=False)
    heading = title or "Reliability (out-of-fold)"
    if ece is not None:
        heading += f"\nECE {100 * float(ece):.1f} %"
    top.set_title(heading, fontsize=10)
    total = max(int(counts.sum()), 1)
    bottom.bar(centres, counts / total, width * 0.9, color="#9ecae1")
    bottom.set_ylabel("items", fontsize=8)
    bottom.set_xlabel("confidence (largest probability)")
    bottom.yaxis.set_major_formatter("{x:.0%}")
    bottom.grid(axis="y", alpha=0.3)
    bottom.set_axisbelow(True)
    return _png(fig, dpi, path)


def plot_risk_coverage(
    points: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 120,
) -> bytes:
    """Accuracy of the answered items against the share answered (a report's
    ``risk_coverage``), abstaining below each confidence threshold; thresholds 0.3, 0.5, 0.7
    and 0.9 marked. Why a curve and not a number: where to abstain is the application's
    choice (a tutor may skip half the items, a triage tool none), and the curve shows the
    price of each choice. Returns the PNG bytes (and writes ``path`` atomically).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.4, 3.6), layout="constrained")
    ax = fig.subplots()
    kept = [p for p in points if p.get("accuracy") is not None and p.get("n")]
    cov = np.array([float(p["coverage"]) for p in kept])
    acc = np.array([float(p["accuracy"]) for p in kept])
    ax.plot(cov, acc, "-o", color="#1f77b4", markersize=3)
    for p in kept:
        t = float(p["threshold"])
        if any(abs(t - m) < 1e-9 for m in (0.3, 0.5, 0.7, 0.9)):
            ax.annotate(f"{t:g}", (float(p["coverage"]), float(p["accuracy"])),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    if len(acc):
        ax.axhline(acc[0], linestyle="--", color="grey", linewidth=1, label="answering all")
        ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.invert_xaxis()  # abstaining more: to the right
    ax.set_xlabel("coverage (share answered)")
    ax.set_ylabel("accuracy of the answered")
    ax.xaxis.set_major_formatter("{x:.0%}")
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.grid(alpha=0.3)
    ax.set_title(title or "Abstaining below a confidence (out-of-fold)", fontsize=10)
    return _png(fig, dpi, path)
