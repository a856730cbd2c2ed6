"""Turning what emoclassic computes into plain JSON values: one function for every writer.

Reports, model cards, predictions and cache keys all hold numpy scalars and arrays, masked
arrays (scikit-learn's ``cv_results_``), paths, sets, records with ``to_dict`` and non-finite
floats, which JSON cannot hold. One converter keeps them written the same way everywhere.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(value: Any, *, sort_keys: bool = False) -> Any:
    """``value`` as JSON-able Python: dicts (string keys), lists, str, int, float, bool, None.

    NaN and infinities become None; numpy scalars and arrays become Python values and lists
    (masked entries None); paths become strings; sets sorted lists; objects with ``to_dict``
    their dict; anything else its ``repr``. ``sort_keys`` sorts dicts (stable cache keys).
    """
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0])) if sort_keys else value.items()
        return {str(k): jsonable(v, sort_keys=sort_keys) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, sort_keys=sort_keys) for v in value]
    if isinstance(value, (set, frozenset)):
        return [jsonable(v, sort_keys=sort_keys) for v in sorted(value, key=str)]
    if isinstance(value, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(value).tolist()
        data = value.data.tolist()
        return jsonable(_masked(data, mask), sort_keys=sort_keys)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), sort_keys=sort_keys)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        try:
            return jsonable(to_dict(), sort_keys=sort_keys)
        except Exception:  # noqa: BLE001 - fall back to repr
            pass
    return repr(value)


def _masked(data: Any, mask: Any) -> Any:
    if isinstance(data, list):
        return [_masked(d, m) for d, m in zip(data, mask, strict=True)]
    return None if mask else data
