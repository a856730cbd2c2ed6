"""Functionals: how a descriptor matrix ``(k, T)`` is summarised over time into ``k`` values each.

Apart from the descriptors because they are the one step every pooled vector shares, whatever
the descriptor (spectral rows, pitch over voiced frames, per-cycle jitter): :func:`functionals`
takes any ``(k, T)`` matrix, and :data:`FUNCTIONALS` names and explains each statistic the
presets may ask for.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FUNCTIONALS", "functionals"]

# --------------------------------------------------------------------------- functionals
_PCT = {"p1": 1, "p5": 5, "p10": 10, "p25": 25, "p50": 50, "p75": 75, "p90": 90, "p95": 95,
        "p99": 99}
_RANGES = {
    "range": ("max", "min"),
    "range1_99": ("p99", "p1"),
    "range10_90": ("p90", "p10"),
    "iqr25_75": ("p75", "p25"),
    "iqr25_50": ("p50", "p25"),
    "iqr50_75": ("p75", "p50"),
}
_UPLEVEL = {"uplevel25": 0.25, "uplevel50": 0.50, "uplevel75": 0.75, "uplevel90": 0.90}

#: Every functional and what it means (units: those of the descriptor; times in seconds).
FUNCTIONALS: dict[str, str] = {
    "mean": "arithmetic mean",
    "std": "standard deviation (population)",
    "skew": "skewness (0 for a constant)",
    "kurtosis": "excess kurtosis (0 for a constant)",
    "min": "minimum",
    "max": "maximum",
    **{k: f"{v}th percentile (linear interpolation)" for k, v in _PCT.items()},
    **{k: f"{a} - {b}" for k, (a, b) in _RANGES.items()},
    "slope": "linear-regression slope over time (units per second)",
    "offset": "linear-regression value at the segment's start",
    "regerr": "RMS error of the linear regression",
    **{k: f"fraction of frames above min + {int(v * 100)} % of the range"
       for k, v in _UPLEVEL.items()},
    "risetime": "fraction of frames where the descriptor rises",
    "falltime": "fraction of frames where the descriptor falls",
    "meanabsdelta": "mean absolute frame-to-frame change (units per second)",
    "tcentroid": "temporal centroid of (x - min), 0 = start, 1 = end",
    "qmean": "quadratic mean (RMS)",
}


def functionals(
    M: np.ndarray, funcs: tuple[str, ...], *, frame_rate: float, t: np.ndarray | None = None
) -> np.ndarray:
    """Apply ``funcs`` to each row of ``M`` ``(k, T)``: returns ``(k, len(funcs))`` float64.

    ``t`` are the frames' times in seconds (default ``arange(T) / frame_rate``). Every value is
    finite for finite input, whatever ``T >= 1`` (constants give 0 spread, slope and shape).
    """
    given = np.asarray(M)
    M = given.astype(np.float64, copy=False)
    k, T = M.shape
    out = np.zeros((k, len(funcs)))
    if T == 0 or k == 0:
        return out
    need = set(funcs)
    vals: dict[str, np.ndarray] = {}
    mean = M.mean(axis=1)
    vals["mean"] = mean
    C = M - mean[:, None]
    var = np.einsum("ij,ij->i", C, C) / T
    std = np.sqrt(var)
    vals["std"] = std
    if need & {"skew", "kurtosis"}:
        flat = var <= 1e-12 * np.maximum(1.0, mean * mean)
        safe = np.where(flat, 1.0, var)
        C2 = C * C
        vals["skew"] = np.where(flat, 0.0, np.einsum("ij,ij->i", C2, C) / T / safe**1.5)
        vals["kurtosis"] = np.where(flat, 0.0, np.einsum("ij,ij->i", C2, C2) / T / safe**2 - 3)
    if "qmean" in need:
        vals["qmean"] = np.sqrt(var + mean * mean)
    order_stats = {"min", "max", *(_PCT), *(_RANGES), *(_UPLEVEL), "tcentroid"}
    if need & order_stats:
        # order statistics of float32 descriptors: sorted in float32 (3x faster than float64,
        # and the same values: widening to float64 is exact and keeps the order)
        exact = given.dtype in (np.float32, np.float16)
        S = np.sort(given, axis=1).astype(np.float64) if exact else np.sort(M, axis=1)
        vals["min"], vals["max"] = S[:, 0], S[:, -1]
        # only the percentiles asked for, or that a range asks for (each is a gather)
        pct = {n for n in need if n in _PCT}
        pct |= {q for n in need if n in _RANGES for q in _RANGES[n] if q in _PCT}
        for name in pct:
            pos = _PCT[name] / 100 * (T - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, T - 1)
            frac = pos - lo
            vals[name] = S[:, lo] * (1 - frac) + S[:, hi] * frac
        for name, (a, b) in _RANGES.items():
            if name in need or (name == "range" and need & set(_UPLEVEL)):
                vals[name] = vals[a] - vals[b]
        for name, p in _UPLEVEL.items():
            if name in need:
                thr = vals["min"] + p * vals["range"]
                vals[name] = (thr[:, None] < M).mean(axis=1)
        if "tcentroid" in need:
            W = M - vals["min"][:, None]
            s = W.sum(axis=1)
            rel = np.arange(T) / (T - 1) if T > 1 else np.full(1, 0.5)
            vals["tcentroid"] = np.divide(W @ rel, s, out=np.full(k, 0.5), where=s > 1e-12)
    if need & {"slope", "offset", "regerr"}:
        tt = np.arange(T) / frame_rate if t is None else np.asarray(t, dtype=np.float64)
        tbar = tt.mean()
        tc = tt - tbar
        stt = float(tc @ tc)
        slope = (C @ tc) / stt if stt > 0 else np.zeros(k)
        vals["slope"] = slope
        vals["offset"] = mean - slope * tbar
        vals["regerr"] = np.sqrt(np.maximum(var - slope * slope * stt / T, 0.0))
    if need & {"risetime", "falltime", "meanabsdelta"}:
        if T > 1:
            D = np.diff(M, axis=1)
            vals["risetime"] = (D > 0).mean(axis=1)
            vals["falltime"] = (D < 0).mean(axis=1)
            vals["meanabsdelta"] = np.abs(D).mean(axis=1) * frame_rate
        else:
            vals["risetime"] = vals["falltime"] = vals["meanabsdelta"] = np.zeros(k)
    for j, name in enumerate(funcs):
        out[:, j] = vals[name]
    return out
