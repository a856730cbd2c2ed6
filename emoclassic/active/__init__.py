"""Active learning: which unlabelled utterances to annotate next.

One module per job: ``_strategies`` (rankings from probabilities: margin, entropy, random,
diverse; plain numpy, shared with the simulation in ``benchmarks/quality/active_learning.py``),
``_space`` (the pool in the model's feature space, from the tables prediction computed),
``_suggest`` (:func:`suggest`: a pool predicted by the one prediction path, then ranked) and
``_page`` (the picks CSV and the page to listen to them).

Names are imported on first use, so ``import emoclassic.active`` costs nothing up front.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:  # the names below, for type checkers and editors
    from ._page import page_path, render_page, write_picks
    from ._space import pool_space
    from ._strategies import STRATEGIES, check_request, entropy, margin, rank, top_two
    from ._suggest import PICK_COLUMNS, suggest

_LAZY = {
    "page_path": "_page",
    "render_page": "_page",
    "write_picks": "_page",
    "pool_space": "_space",
    "STRATEGIES": "_strategies",
    "check_request": "_strategies",
    "entropy": "_strategies",
    "margin": "_strategies",
    "rank": "_strategies",
    "top_two": "_strategies",
    "PICK_COLUMNS": "_suggest",
    "suggest": "_suggest",
}

__all__ = [
    "PICK_COLUMNS",
    "STRATEGIES",
    "check_request",
    "entropy",
    "margin",
    "page_path",
    "pool_space",
    "rank",
    "render_page",
    "suggest",
    "top_two",
    "write_picks",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
