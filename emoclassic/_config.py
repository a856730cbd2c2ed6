"""Runtime settings: where features are cached, how many workers, progress bars, backend.

These say *how* to compute, never *what*: a saved model must not carry the feature-cache
folder of the machine that trained it, nor its worker count. So they live here, in a context
(like :func:`sklearn.config_context`), and every extractor reads them when it runs, unless its
own parameter of the same name is set (an explicit ``PooledFeatures(cache="c")`` still wins).
Nothing rewrites a model's parameters to change them.

A :class:`~contextvars.ContextVar` keeps the settings per thread and per asyncio task.
Worker processes do not inherit them: the extraction machinery hands its workers the resolved
store explicitly, and the CV's fits read precomputed tables, not the cache.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from .exceptions import ConfigError

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS: dict[str, Any] = {
    "cache": None,  # feature-store folder (str/PathLike), a FeatureStore, or None: no cache
    "n_jobs": 1,  # worker processes for extraction chunks
    "progress": False,  # progress bars on stderr
    "backend": "local",  # where parallel work runs: "local" or "dask"
    "scheduler": None,  # Dask scheduler address or scheduler JSON file
}

_CONFIG: ContextVar[dict[str, Any]] = ContextVar("emoclassic_config", default=_DEFAULTS)


def get_config() -> dict[str, Any]:
    """A copy of the current runtime settings."""
    return dict(_CONFIG.get())


def _checked(updates: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(updates) - set(_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown runtime setting {unknown[0]!r}; valid: {', '.join(_DEFAULTS)}"
        )
    out = {k: v for k, v in updates.items()}
    if "n_jobs" in out and out["n_jobs"] is not None:
        n = out["n_jobs"]
        if isinstance(n, bool) or not isinstance(n, int) or n == 0:
            raise ConfigError(f"n_jobs={n!r} must be a positive integer (or -1: all cores)")
        if n < 0:
            out["n_jobs"] = max(1, (os.cpu_count() or 1) + 1 + n)
    if "backend" in out and out["backend"] not in ("local", "dask"):
        raise ConfigError(f"backend={out['backend']!r} is unknown; choose local or dask")
    if "cache" in out and isinstance(out["cache"], str) and out["cache"].strip().lower() in (
        "", "none", "off", "no"
    ):
        out["cache"] = None
    return out


def set_config(**settings: Any) -> None:
    """Change runtime settings for the rest of this thread or task (see :func:`config_context`).

    A value of None for ``n_jobs``/``progress``/``backend`` restores the default.
    """
    current = dict(_CONFIG.get())
    for key, value in _checked(settings).items():
        current[key] = _DEFAULTS[key] if value is None and key != "cache" else value
    _CONFIG.set(current)


@contextlib.contextmanager
def config_context(**settings: Any) -> Iterator[dict[str, Any]]:
    """Runtime settings for the ``with`` block only.

    >>> with config_context(cache="artifacts/cache", n_jobs=2):   # doctest: +SKIP
    ...     model.predict(manifest)

    Keys: ``cache`` (feature-store folder, a FeatureStore, or None), ``n_jobs``, ``progress``,
    ``backend`` ("local" or "dask"), ``scheduler``.
    """
    current = dict(_CONFIG.get())
    for key, value in _checked(settings).items():
        current[key] = _DEFAULTS[key] if value is None and key != "cache" else value
    token = _CONFIG.set(current)
    try:
        yield dict(current)
    finally:
        _CONFIG.reset(token)


class _NoBar:
    """What :func:`progress_bar` gives when bars are off: the calls a bar takes, doing nothing."""

    def __init__(self, iterable: Any = None) -> None:
        self._iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self._iterable if self._iterable is not None else ())

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(iterable: Any = None, *, enabled: bool, **options: Any) -> Any:
    """A tqdm bar over ``iterable`` (or with ``total=``) when ``enabled``, else a bar that does
    nothing, without importing tqdm (20 ms of a cold ``predict``, issue 16)."""
    if not enabled:
        return _NoBar(iterable)
    from tqdm.auto import tqdm

    return tqdm(iterable, **options)
