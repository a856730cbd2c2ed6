"""Windows of a recording: where they fall, how they are cut from an array, how they are smoothed.

One set of rules for every caller, so a file predicted with ``--window 2 --hop 0.5``, the same
samples handed over as an array, and the same audio read from a stream give windows with the
same bounds and, for the complete ones, the same numbers:

* windows last ``window`` seconds and start every ``hop`` seconds (``hop`` defaults to
  ``window``: windows that touch; ``hop < window``: windows that overlap; ``hop > window`` is
  refused, since the audio between windows would be in no result);
* a recording no longer than one window is one window, whatever its length;
* the part after the last complete window (shorter than a hop) is not dropped: when it is at
  least half a hop long it gets one more window, starting where the next would start and
  ending at the recording's end; a shorter rest stretches the last window to the end. So
  every sample is in some window, and every window lasts between ``window - hop/2`` and
  ``window + hop/2`` seconds (with ``hop = window``: the rule of earlier releases, a short tail
  joins the previous window);
* ``complete_only=True`` keeps the full-length windows only (what a stream emits: it cannot
  know that a rest is the last one), and a recording shorter than one window then has none.

Smoothing is a trailing moving average over the last ``smooth`` windows' probabilities
(:func:`smooth_probabilities`): it uses only past windows, so a stream, which cannot wait for
future windows, gives the same smoothed numbers as a whole file.

A leaf: numpy and :mod:`emoclassic.exceptions` only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from .exceptions import DataError

__all__ = [
    "StreamWindows",
    "check_windows",
    "iter_array_windows",
    "smooth_probabilities",
    "window_bounds",
]

#: slack for floating-point window arithmetic (seconds)
_EPS = 1e-9


def _positive_seconds(value, name: str, example: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not (v > 0 and math.isfinite(v)):
        raise DataError(f"{name}={value!r}: give a positive number of seconds (e.g. {example})")
    return v


def check_windows(
    window: float | None, hop: float | None = None, smooth: int | None = None
) -> tuple[float | None, float | None, int]:
    """Validate the window options; return ``(window, hop, smooth)`` with ``smooth`` >= 1.

    Raises one-line :class:`DataError` naming the option and the fix: a window or hop that is
    not a positive number of seconds, a hop without a window, a hop longer than the window
    (the audio between windows would be in no result), a smoothing length that is not a whole
    number of windows >= 1.
    """
    window = _positive_seconds(window, "window", "--window 2")
    hop = _positive_seconds(hop, "hop", "--hop 0.5")
    if hop is not None and window is None:
        raise DataError(f"hop={hop:g} needs a window length: give --window SECONDS too "
                        "(e.g. --window 2 --hop 0.5)")
    if hop is not None and window is not None and hop > window + _EPS:
        raise DataError(
            f"hop={hop:g} is longer than window={window:g}, so the audio between windows would "
            "be in no result; give a hop at most the window (no --hop: windows that touch)"
        )
    if smooth is None:
        return window, hop, 1
    if isinstance(smooth, bool) or not isinstance(smooth, (int, np.integer)) or smooth < 1:
        raise DataError(f"smooth={smooth!r}: give a whole number of windows >= 1 to average "
                        "(e.g. --smooth 3; 1 = no smoothing)")
    return window, hop, int(smooth)


def window_bounds(
    duration: float, window: float, hop: float | None = None, *, complete_only: bool = False
) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of the windows of a recording of ``duration`` seconds.

    The rules are in the module docs: windows every ``hop`` (default ``window``) seconds; the
    rest after the last complete window becomes its own window when at least half a hop long,
    else it stretches the last one; a recording no longer than a window is one window.
    ``complete_only`` returns full-length windows only (none for a shorter recording). Bounds
    are rounded to the microsecond.
    """
    window, hop, _ = check_windows(window, hop)
    hop = window if hop is None else hop
    duration = max(float(duration), 0.0)
    n = int(math.floor((duration - window) / hop + _EPS)) + 1 if duration + _EPS >= window else 0
    bounds = [(k * hop, k * hop + window) for k in range(n)]
    if not complete_only:
        if not bounds:
            bounds = [(0.0, duration)]
        else:
            last = bounds[-1][1]
            rest = duration - last
            if rest >= 0.5 * hop - _EPS and rest > _EPS:
                bounds.append((n * hop, duration))
            elif rest > _EPS:
                bounds[-1] = (bounds[-1][0], duration)
    return [(round(a, 6), round(b, 6)) for a, b in bounds]


def _samples(seconds: float, sr: int) -> int:
    return int(round(seconds * sr))


def iter_array_windows(
    y: np.ndarray, sr: int, window: float, hop: float | None = None, *,
    complete_only: bool = False,
) -> Iterator[tuple[float, float, np.ndarray]]:
    """Yield ``(start, end, samples)`` for the windows of ``y`` (time on its last axis) at
    ``sr`` Hz, with the bounds of :func:`window_bounds`; the samples are views, not copies."""
    n = int(np.shape(y)[-1])
    for a, b in window_bounds(n / sr, window, hop, complete_only=complete_only):
        yield a, b, y[..., _samples(a, sr):min(n, _samples(b, sr))]


class StreamWindows:
    """The complete windows of a signal that arrives in pieces, each as soon as it is whole.

    ``push(samples)`` appends samples (time on the last axis) and returns the windows it
    completed, as ``(start, end, samples)`` with the bounds of :func:`window_bounds`
    ``(..., complete_only=True)`` over everything pushed so far, so a stream cuts exactly
    the complete windows a whole file would get. Only the samples a later window still needs
    are kept.
    """

    def __init__(self, sr: int, window: float, hop: float | None = None) -> None:
        window, hop, _ = check_windows(window, hop)
        if isinstance(sr, bool) or not (isinstance(sr, (int, np.integer)) and sr > 0):
            raise DataError(f"sr={sr!r}: give the sample rate in Hz as a positive integer")
        self.sr = int(sr)
        self.window = window
        self.hop = window if hop is None else hop
        self._buffer: np.ndarray | None = None
        self._offset = 0  # samples dropped from the buffer's front
        self._next = 0  # index of the next window to emit

    @property
    def n_emitted(self) -> int:
        """How many windows ``push`` has returned so far."""
        return self._next

    def push(self, samples: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
        samples = np.asarray(samples)
        self._buffer = samples if self._buffer is None else np.concatenate(
            [self._buffer, samples], axis=-1)
        total = self._offset + self._buffer.shape[-1]
        out = []
        while True:
            a, b = self._next * self.hop, self._next * self.hop + self.window
            if b > total / self.sr + _EPS:
                break
            sa, sb = _samples(round(a, 6), self.sr), _samples(round(b, 6), self.sr)
            out.append((round(a, 6), round(b, 6),
                        self._buffer[..., sa - self._offset:sb - self._offset].copy()))
            self._next += 1
        keep = _samples(round(self._next * self.hop, 6), self.sr)  # the next window's start
        if keep > self._offset:
            self._buffer = self._buffer[..., keep - self._offset:]
            self._offset = keep
        return out


def smooth_probabilities(probabilities: np.ndarray, smooth: int) -> np.ndarray:
    """Trailing moving average over ``smooth`` consecutive windows (rows, in time order).

    Row ``i`` becomes the mean of rows ``max(0, i - smooth + 1) .. i``: past windows only, so
    a stream gives the same numbers as a whole file; the first windows average what there is.
    ``smooth=1`` returns the input unchanged.
    """
    p = np.asarray(probabilities, dtype=float)
    if smooth <= 1 or len(p) <= 1:
        return p
    c = np.cumsum(np.vstack([np.zeros((1, p.shape[1])), p]), axis=0)
    hi = np.arange(1, len(p) + 1)
    lo = np.maximum(0, hi - int(smooth))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]
