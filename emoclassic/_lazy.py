"""Lazy public names for a package: ``import emoclassic.data`` costs nothing until a name is used.

Six packages (the top level, ``audio``, ``data``, ``features``, ``fusion`` and ``models``) re-export
names from private modules without importing them up front, so start-up (``emoclassic --help``,
a fully cached ``features`` run, unpickling a saved model for a cold ``predict``) pays only for
what it touches. One helper builds their module-level
``__getattr__`` and ``__dir__`` (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps a public name to the private
    submodule defining it; the first access imports it and caches it in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
