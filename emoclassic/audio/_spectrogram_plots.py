"""Spectrograms as pictures: the CNN image as a PNG, the figure a person reads, a folder of them.

Two kinds of picture: :func:`~._spectrogram.spectrogram_image` is the CNN input (a bare [0, 1]
array, written by :func:`save_spectrogram_png`), :func:`plot_spectrogram` the figure a person
reads (time in seconds, frequency in Hz, a dB colour bar, a title; written by
:func:`save_spectrogram_figure`). :func:`save_spectrogram_pngs` writes either for a whole
manifest. Apart from the numbers (:mod:`._spectrogram`) because this is the only audio code
that touches matplotlib and the file system; matplotlib is imported inside the functions, and
plots use bare :class:`matplotlib.figure.Figure` objects (no pyplot), so the caller's backend is
left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..exceptions import ConfigError
from ._spectrogram import _hz_to_mel, _image_size, _log_mel_re_loudest, spectrogram_image

__all__ = [
    "SPECTROGRAM_KINDS",
    "plot_spectrogram",
    "save_spectrogram_figure",
    "save_spectrogram_png",
    "save_spectrogram_pngs",
]


def save_spectrogram_png(
    path: str | os.PathLike, image: np.ndarray, *, cmap: str | None = "magma"
) -> Path:
    """Write ``image`` (H, W) in [0, 1] (row 0 = lowest band) as a PNG, atomically.

    Low frequencies are drawn at the bottom. ``cmap=None`` writes grey levels. A 3-D
    ``(H, W, 3|4)`` array is written as it is. The folder is created if needed.
    """
    from matplotlib import image as mpimg  # imsave writes PNGs through Pillow, no backend

    path = Path(path)
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ConfigError(f"save_spectrogram_png: image of shape {arr.shape} is not (H, W)")
    arr = np.flipud(arr)
    with atomic_path(path, suffix=".png") as tmp:
        if arr.ndim == 2:
            mpimg.imsave(tmp, arr, cmap=cmap or "gray", vmin=0.0, vmax=1.0, format="png")
        else:
            mpimg.imsave(tmp, arr, format="png")
    return path


#: candidate frequency ticks (Hz) of the figure's mel-scaled axis
_HZ_TICKS = (0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 20000)



def plot_spectrogram(
    y: np.ndarray,
    sr: int = 16000,
    *,
    ax=None,
    title: str | None = None,
    n_fft: int = 512,
    hop_length: int = 160,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float = 80.0,
    cmap: str = "magma",
):
    """Draw the log-mel spectrogram for a person: time (s), frequency (Hz), dB colour bar.

    The frequency axis keeps the mel spacing (as the features see it) but is labelled in Hz;
    levels are dB relative to the clip's loudest bin (0 dB), floored ``top_db`` below. With
    ``ax=None`` a new :class:`matplotlib.figure.Figure` is made (no pyplot: nothing is shown
    and the global backend is untouched); pass a pyplot axis to draw into your own figure.
    Returns the axis (its figure is ``ax.figure``).
    """
    db = _log_mel_re_loudest(y, sr, top_db, "a plot", n_fft=n_fft, hop_length=hop_length,
                             n_mels=n_mels, fmin=fmin, fmax=fmax)
    y = np.asarray(y, dtype=np.float32)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(8.0, 3.2), layout="constrained").add_subplot(1, 1, 1)
    top = sr / 2 if fmax is None else float(fmax)
    lo, hi = float(_hz_to_mel(fmin)), float(_hz_to_mel(top))
    step = (hi - lo) / (n_mels + 1)  # band centres are equally spaced on the mel scale
    hop_s = hop_length / sr
    n_frames = db.shape[1]
    im = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=-float(top_db),
        vmax=0.0,
        interpolation="nearest",
        extent=(-0.5 * hop_s, (n_frames - 0.5) * hop_s, lo + 0.5 * step, hi - 0.5 * step),
    )
    ax.set_xlim(0.0, max(len(y) / sr, hop_s))
    ticks = [f for f in _HZ_TICKS if fmin <= f <= top]
    kept: list[float] = []
    for f in ticks:  # drop ticks closer than 6 % of the axis to the previous one
        if not kept or _hz_to_mel(f) - _hz_to_mel(kept[-1]) >= 0.06 * (hi - lo):
            kept.append(f)
    ax.set_yticks([float(_hz_to_mel(f)) for f in kept], labels=[f"{f:g}" for f in kept])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz, mel scale)")
    ax.figure.colorbar(im, ax=ax, format="%.0f", label="level (dB re. loudest)", pad=0.02)
    if title:
        ax.set_title(title)
    return ax


def save_spectrogram_figure(
    path: str | os.PathLike,
    y: np.ndarray,
    sr: int = 16000,
    *,
    title: str | None = None,
    dpi: int = 100,
    **plot_options,
) -> Path:
    """Write :func:`plot_spectrogram` of ``y`` as a PNG (``dpi=100``: 800 x 320 px), atomically.

    ``plot_options`` go to :func:`plot_spectrogram` (``n_mels``, ``fmax``, ``cmap`` ...).
    The folder is created if needed.
    """
    ax = plot_spectrogram(y, sr, title=title, **plot_options)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        ax.figure.savefig(tmp, format="png", dpi=dpi)
    return path


#: what :func:`save_spectrogram_pngs` can draw
SPECTROGRAM_KINDS = ("figure", "cnn")


def save_spectrogram_pngs(
    X,
    out_dir: str | os.PathLike,
    *,
    kind: str = "figure",
    sr: int = 16000,
    size: tuple[int, int] | None = None,
    n_mels: int = 128,
    cmap: str | None = "magma",
    dpi: int = 100,
    on_error: str = "raise",
):
    """Write one ``<id>.png`` spectrogram per item of ``X`` (manifest, paths) into ``out_dir``.

    The one place that writes spectrogram PNGs for a manifest (the CLI's
    ``features --spectrogram-png`` and scripts call it). ``kind="figure"`` (default) draws
    :func:`plot_spectrogram` for a person — time axis (s), frequency axis (Hz), dB colour bar,
    the id (and label, when ``X`` has a ``label`` column) as title — at ``dpi``.
    ``kind="cnn"`` writes the bare :func:`spectrogram_image` at ``size`` (default 224 x 224),
    the AlexNet input, through :func:`save_spectrogram_png` (``cmap=None``: grey levels).
    Rows with ``start``/``end`` are cut to that segment. Files are named by the row's ``id``
    (by the file's stem for a list of paths). Returns a DataFrame ``id -> png`` path (missing
    for failed items when ``on_error="skip"``).
    """
    import re

    import pandas as pd

    from ..exceptions import BatchError, EmoclassicError
    from ._base import audio_items
    from ._io import load_audio

    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error={on_error!r} is not valid; use 'raise' or 'skip'")
    if kind not in SPECTROGRAM_KINDS:
        raise ConfigError(
            f"kind={kind!r} is not valid; use 'figure' (for people) or 'cnn' (the network input)"
        )
    if kind == "figure" and size is not None:
        raise ConfigError(
            f"size={size!r} applies to kind='cnn' only; drop it or pass kind='cnn'"
        )
    if kind == "cnn":
        size = _image_size((224, 224) if size is None else size)
    labels: dict[str, str] = {}
    if isinstance(X, pd.DataFrame) and {"id", "label"} <= set(X.columns):
        labels = {str(i): str(v) for i, v in zip(X["id"], X["label"], strict=True)
                  if isinstance(v, str) and v.strip()}  # fmt: skip
    out = Path(out_dir)
    rows, failures = [], []
    for it in audio_items(None, X):
        payload_kind, a, b, c = it.payload
        name = Path(a).stem if payload_kind == "file" and it.id == a else it.id
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "clip"
        try:
            if payload_kind == "wave":
                y = np.asarray(a, dtype=np.float32)
            elif payload_kind == "file":
                y = load_audio(a, sr=sr, start=b, end=c)
            else:
                raise EmoclassicError(f"{it.id}: no usable audio path; fix the row")
            target = out / f"{safe}.png"
            if kind == "figure":
                label = labels.get(str(it.id))
                title = f"{name} ({label})" if label else name
                png = save_spectrogram_figure(target, y, sr, title=title, n_mels=n_mels,
                                              cmap=cmap or "magma", dpi=dpi)  # fmt: skip
            else:
                png = save_spectrogram_png(target,
                                           spectrogram_image(y, sr, size=size, n_mels=n_mels),
                                           cmap=cmap)  # fmt: skip
            rows.append((it.id, str(png)))
        except EmoclassicError as exc:
            failures.append((it.id, str(exc)))
            rows.append((it.id, None))
    if failures and on_error == "raise":
        from ..features import Failure

        records = [Failure(id=str(i), message=m) for i, m in failures]
        if len(failures) == 1:
            raise BatchError(failures[0][1], records)
        raise BatchError(f"{len(failures)} spectrogram PNG(s) failed, first: {failures[0][1]}",
                         records)
    return pd.DataFrame(rows, columns=["id", "png"]).set_index("id")
