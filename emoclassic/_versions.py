"""Versions of emoclassic and the libraries a saved model depends on, without importing them.

Model cards and reports record these so that a model can be checked against the
environment that loads it. ``importlib.metadata`` reads the installed distributions' metadata,
so asking for torch's version costs microseconds instead of a multi-second import.
"""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["versions", "TRACKED_DISTRIBUTIONS", "major_minor"]

#: key in the result -> installed distribution names to try, in order
TRACKED_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "emoclassic": ("emoclassic",),
    "scikit-learn": ("scikit-learn",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "joblib": ("joblib",),
    "pandas": ("pandas",),
    "torch": ("torch",),
    "librosa": ("librosa",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "sentence-transformers": ("sentence-transformers",),
}


def _installed(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str | None]:
    """``{"python": ..., "emoclassic": ..., "scikit-learn": ..., ...}``; None when not installed."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for key, names in TRACKED_DISTRIBUTIONS.items():
        out[key] = _installed(names)
    if out["emoclassic"] is None:  # running from a source tree that is not installed
        from . import __version__

        out["emoclassic"] = __version__
    return out


def major_minor(version: str | None) -> tuple[int, ...] | None:
    """``"1.9.1" -> (1, 9)``; None when the version is unknown or not numeric."""
    if not version:
        return None
    parts: list[int] = []
    for piece in version.split(".")[:2]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            return None
        parts.append(int(digits))
    return tuple(parts)
