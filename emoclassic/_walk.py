"""The one walk over a model's estimators: templates and fitted clones alike.

Meta-estimators keep unfitted templates in their parameters (``transformers``, ``estimators``)
and the fitted clones that predict in attributes (``transformers_``, ``estimators_``). What
needs every feature extractor or speaker normaliser inside a model (the model card, the
precompute step) must see both, so it walks every attribute, not ``get_params``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["iter_estimators"]


def iter_estimators(obj: Any) -> Iterator[Any]:
    """Every estimator reachable from ``obj`` through attributes and containers, once each."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        cur = stack.pop()
        if id(cur) in seen or isinstance(cur, (str, bytes, type)):
            continue
        seen.add(id(cur))
        if isinstance(cur, (list, tuple, set, frozenset)):
            children = list(cur)
        elif isinstance(cur, dict):
            children = list(cur.values())
        elif hasattr(cur, "get_params"):
            yield cur
            try:
                children = list(vars(cur).values())
            except TypeError:
                continue
        else:
            continue
        stack.extend(reversed(children))  # depth first, in attribute order
