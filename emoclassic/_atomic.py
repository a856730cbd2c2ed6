"""Atomic file writes: a temp file beside the target, then ``os.replace``.

A reader never sees half a file and an interrupted run leaves the old file (or none), never a
truncated one. The temp file gets the permissions a plain ``open()`` would give (``0o666``
less the umask), not ``mkstemp``'s private 0600, so the result is as readable as any other file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux >= 4.7).

    Elsewhere it falls back to set-and-restore under a lock, which is safe among writers here.
    """
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as fh,
    ):
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _mkstemp_beside(path: Path, suffix: str) -> tuple[int, str]:
    """``mkstemp`` in ``path``'s folder (created if needed); an OSError names ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:  # name the file the user asked for, not the temporary one
        if exc.errno is None:
            raise
        raise type(exc)(exc.errno, exc.strerror, str(path)) from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp file's path beside ``path``; on success it is renamed onto ``path``.

    Write the temp file by name (``np.save``, ``joblib.dump``, ``imsave``...). On any
    exception inside the block the temp file is removed and ``path`` keeps its old content.
    """
    target = Path(path)
    fd, name = _mkstemp_beside(target, suffix)
    tmp = Path(name)
    try:
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path`` as a Path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` exactly (no newline translation) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], payload: Any, *, indent: int = 2) -> Path:
    """Write ``payload`` as UTF-8 JSON plus a trailing newline, atomically.

    ``payload`` must already be JSON-safe (no NaN, numpy scalars or paths): nothing is
    converted here, so a bad value fails before ``path`` is touched.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        json.dump(payload, fh, indent=indent, ensure_ascii=False, allow_nan=False)
        fh.write("\n")
    return Path(path)
