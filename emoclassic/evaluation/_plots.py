"""Plots for reports (matplotlib is imported only here, only when a plot is drawn)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_confusion"]


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
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    cm = np.asarray(matrix, dtype=float)
    k = len(labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = cm.sum(axis=1, keepdims=True)
        shown = np.where(rows > 0, cm / rows, 0.0) if normalize else cm
    size = max(3.5, 0.6 * k + 2.0)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="recall" if normalize else "count")
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
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > 0.5 * (1 if normalize else cm.max()) else
                    "black")  # fmt: skip
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if path is not None:
        from .._atomic import atomic_write_bytes

        atomic_write_bytes(Path(path), data)
    return data
