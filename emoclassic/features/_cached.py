"""A fully cached extraction answered without building the extractor.

Every vector of a second ``emoclassic features`` run over the same clips is in the feature
store, and looking up 400 rows this way takes 16 ms (manifest, keys and vectors); but
building the extractor imports scikit-learn (1.2 s, through SciPy) and reading the manifest
imports pandas (0.3 s). So a fully cached run of 400 clips spent 1.9 of its 2.0 s importing
what it did not use (see docs/benchmarks.md, "Cached re-run, as a user runs it").

This module imports neither. It needs two things the extractor would otherwise say:

- the text every cache key of the extractor's configuration starts from
  (:func:`~emoclassic.features._store.config_prefix`) and its feature names. A run that built
  the extractor records both with :func:`remember_extraction`, in ``<cache>/requests/``, under
  a key of the request (the block type and options given to
  :func:`emoclassic.fusion.make_extractor`), the package version and a fingerprint of the
  package's files (name, size, mtime), so an edit or an upgrade of emoclassic never reuses a
  stale record. Only extractor classes that declare ``_identity_from_code = True`` themselves
  (their configuration and names follow from their parameters and emoclassic's code alone: no
  model file, no other package's version) are recorded;
- the manifest's rows, read by :func:`emoclassic.data._rows.read_plain_manifest` with the same
  row rules as :func:`emoclassic.data.read_manifest`.

:func:`cached_extraction` then makes each row's key exactly as the extractor does (file
identity, segment, the recorded prefix) and reads the vectors. It returns None, and the caller
takes the normal path, whenever anything is not plainly there: no record, a manifest it does
not read, a missing file, one missing or unreadable vector, a vector of another length. A
result it does return equals :func:`emoclassic.features.extract`'s for the same rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._result import ExtractionResult
from ._store import (
    STORE_FORMAT,
    FeatureStore,
    _dumps,
    config_prefix,
    file_identity,
    key_function,
    read_vector,
)

logger = logging.getLogger(__name__)

__all__ = ["cached_extraction", "code_fingerprint", "remember_extraction"]

#: sub-folder of the store that holds the request records (shards are two hex digits)
REQUESTS = "requests"

_FINGERPRINT: str | None = None


def code_fingerprint() -> str:
    """sha256 over the name, size and mtime of every file of the installed emoclassic package.

    Computed once per process (about 1 ms: one ``stat`` per file, no file is read).
    """
    global _FINGERPRINT
    if _FINGERPRINT is None:
        root = Path(__file__).resolve().parent.parent
        lines = []
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = os.path.join(folder, name)
                st = os.stat(path)
                lines.append(f"{os.path.relpath(path, root)}|{st.st_size}|{st.st_mtime_ns}")
        _FINGERPRINT = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return _FINGERPRINT


def _store_root(cache: Any) -> Path | None:
    """The folder of a plain feature store given as a path or a :class:`FeatureStore`."""
    if isinstance(cache, (str, os.PathLike)):
        text = os.fspath(cache)
        return None if text.strip().lower() in ("", "none", "off", "no") else Path(text)
    if type(cache) is FeatureStore:
        return cache.root
    return None  # None (no cache) or a store with layers of its own


def _record_path(root: Path, type_name: str, options: dict) -> Path:
    from .. import __version__

    request = _dumps([STORE_FORMAT, __version__, type_name, options, code_fingerprint()])
    return root / REQUESTS / f"{hashlib.sha256(request.encode('utf-8')).hexdigest()}.json"


def remember_extraction(type_name: str, options: dict, extractor: Any, cache: Any) -> bool:
    """Record what a later fully cached run of the same request needs (see the module docs).

    ``type_name`` and ``options`` are what built ``extractor`` through
    :func:`emoclassic.fusion.make_extractor` (without ``cache``/``n_jobs``). Returns whether a
    record is in place; a store that cannot be written only loses the fast path.
    """
    root = _store_root(cache)
    if root is None or not type(extractor).__dict__.get("_identity_from_code", False):
        return False
    try:
        names = [str(n) for n in extractor.get_feature_names_out()]
        record = {
            "type": type_name,
            "options": json.loads(_dumps(options)),
            "class": f"{type(extractor).__module__}.{type(extractor).__qualname__}",
            "prefix": config_prefix(extractor._config()),
            "feature_names": names,
        }
    except Exception as exc:  # noqa: BLE001 - no record, no harm: the normal path stays
        logger.debug("no cached-run record for %s: %s", type_name, exc)
        return False
    text = json.dumps(record, sort_keys=True, ensure_ascii=False)
    path = _record_path(root, type_name, options)
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return True
        from .._atomic import atomic_path

        with atomic_path(path) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
    except OSError as exc:
        logger.debug("cannot record the cached-run record %s: %s", path, exc)
        return False
    return True


def _load_record(root: Path, type_name: str, options: dict) -> dict | None:
    try:
        record = json.loads(_record_path(root, type_name, options).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("prefix"), str)
        or not isinstance(record.get("feature_names"), list)
        or not all(isinstance(n, str) for n in record["feature_names"])
    ):
        return None
    return record


def _seconds(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def cached_extraction(
    type_name: str,
    options: dict,
    manifest: str | os.PathLike[str],
    *,
    cache: Any,
    **manifest_options: Any,
) -> ExtractionResult | None:
    """``extract(make_extractor(type_name, options), read_manifest(manifest))`` when every
    row's vector is already in ``cache``, read without building the extractor; else None.

    ``manifest_options`` are :func:`emoclassic.data.read_manifest`'s. Returns None (nothing
    logged, nothing raised) whenever the normal path has something to do or to say; see the
    module docs.
    """
    root = _store_root(cache)
    if root is None:
        return None
    record = _load_record(root, type_name, options)
    if record is None:
        return None
    from ..data._rows import read_plain_manifest

    rows = read_plain_manifest(manifest, **manifest_options)
    if rows is None:
        return None
    names = record["feature_names"]
    width = len(names)
    n = len(rows["id"])
    key = key_function(record["prefix"])
    store = FeatureStore(root)
    out = np.empty((n, width), dtype=np.float32)
    for i, (path, start, end) in enumerate(zip(rows["path"], rows["start"], rows["end"],
                                               strict=True)):
        if path is None:
            return None  # a text-only row: the extractor reports it
        try:
            parts = (file_identity(path), _seconds(start), _seconds(end))
            vec = read_vector(store._path(key(parts)))
        except (OSError, ValueError, EOFError):
            return None  # a missing file or vector, or an unreadable one
        if vec.ndim != 1 or vec.shape[0] != width:
            return None
        out[i] = vec
    return ExtractionResult(
        features=out,
        ids=[str(i) for i in rows["id"]],
        failures=[],
        feature_names=list(names),
        ok=np.ones(n, dtype=bool),
        n_cached=n,
        n_computed=0,
    )
