"""A disk cache of per-item feature vectors, shared by every extractor and process.

Extraction learns nothing from labels, so each (item, extractor configuration) pair is computed
once and reused by every fold, grid candidate and later run. Entries are single ``.npy`` files
sharded by key prefix and written atomically (temp file + ``os.replace``), so concurrent
writers — joblib workers, Dask workers, two CLI runs — never see a half-written entry, and an
interrupted run keeps everything it had finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["FeatureStore", "file_identity", "key_prefix", "make_key", "resolve_store"]

#: Bump when a change to extraction code alters stored values without changing configurations.
STORE_FORMAT = 1


def file_identity(path: str | os.PathLike, *, content: bool = False) -> str:
    """Identify a file cheaply (absolute path, size, mtime) or exactly (content sha256).

    The cheap form never opens the file, so a fully cached run decodes no audio.
    """
    p = os.path.abspath(os.fspath(path))  # abspath, not resolve(): no per-item syscalls
    st = os.stat(p)
    if not content:
        return f"{p}|{st.st_size}|{st.st_mtime_ns}"
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def _dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"))


def make_key(*parts: Any) -> str:
    """A stable sha256 hex key over JSON-able parts (identity, segment, config, versions)."""
    return key_prefix(parts[0] if parts else None)(*parts[1:])


def key_prefix(config: Any):
    """``make_key`` with the first part serialised once: the fast path for many items."""
    from .. import __version__

    head = hashlib.sha256(_dumps([STORE_FORMAT, __version__, config]).encode("utf-8"))

    def key(*parts: Any) -> str:
        h = head.copy()
        h.update(_dumps(list(parts)).encode("utf-8"))
        return h.hexdigest()

    return key


class FeatureStore:
    """Float32 vectors on disk, one file per key, sharded in 256 sub-folders.

    Parameters
    ----------
    root : path
        Folder of the store; created on first write.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r})"

    def __reduce__(self):  # pickles as its root only: counters are per process
        return (FeatureStore, (self.root,))

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def __contains__(self, key: str) -> bool:
        return self._path(key).exists()

    def get(self, key: str) -> np.ndarray | None:
        """The stored array, or None on a miss (an unreadable entry counts as a miss)."""
        path = self._path(key)
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, EOFError) as exc:
            logger.warning("feature cache entry %s is unreadable (%s); recomputing", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        return arr

    def put(self, key: str, array: np.ndarray) -> None:
        """Store ``array`` as float32, atomically."""
        arr = np.ascontiguousarray(array, dtype=np.float32)
        with atomic_path(self._path(key)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        self.writes += 1

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("??/*.npy")) if self.root.exists() else 0

    def clear(self) -> None:
        """Delete every entry (the folder itself stays)."""
        for p in self.root.glob("??/*.npy"):
            p.unlink(missing_ok=True)


def resolve_store(cache: str | os.PathLike | FeatureStore | None) -> FeatureStore | None:
    """Accept a store, a folder path or None (no caching)."""
    if cache is None or isinstance(cache, FeatureStore):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return FeatureStore(cache)
    raise ConfigError(
        f"cache={cache!r} is not a folder path or FeatureStore; pass a folder such as "
        "'artifacts/cache' or None to disable caching"
    )
