"""Annotators' votes: the manifest's optional ``votes`` column and the ``agreement`` it implies.

Corpora publish more than one label per utterance (IEMOCAP: each evaluator's categories;
CREMA-D: crowd counts per emotion; MSP-style corpora: distributions). One hard ``label`` hides
how sure the annotators were, which is what soft-label training and agreement-aware
evaluation need, so a manifest may carry the votes as text: ``"anger:3;neutral:1"`` (label,
colon, a count or share >= 0; pairs separated by ``;``). JSON manifests may give an object
``{"anger": 3, "neutral": 1}`` instead.

``agreement`` is derived, never given: the share of the votes held by the most voted label (1.0
when everyone agreed; 0.5 for ``anger:1;sadness:1``). Ties are allowed; they just have no
majority (:func:`majority` is None).

Pure Python (no pandas), so the plain-manifest path can validate votes too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "VOTES_HELP",
    "agreement",
    "format_votes",
    "majority",
    "map_votes",
    "parse_votes",
    "top_label",
]

#: the fix every votes error ends with
VOTES_HELP = "write label:count pairs separated by ';', e.g. anger:3;neutral:1"

Votes = dict[str, float]


def _number(text: str) -> float:
    value = float(text)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(text)
    return value


def parse_votes(value: Any) -> Votes | None:
    """``{label: count}`` of a votes cell (a ``"a:3;b:1"`` string or a mapping); None when
    the cell is empty. Raises ValueError with the problem (no fix: the caller adds where).

    Zero counts are allowed and dropped; every label once; at least one count above 0.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        text = str(value).strip()
        if not text:
            return None
        pairs = []
        for part in text.split(";"):
            part = part.strip()
            if not part:
                continue  # a trailing ';' is fine
            label, sep, count = part.rpartition(":")
            if not sep:
                raise ValueError(f"{part!r} has no ':count'")
            pairs.append((label, count))
    out: Votes = {}
    for label, count in pairs:
        label = str(label).strip()
        if not label:
            raise ValueError(f"a vote has an empty label ({label}:{count})")
        try:
            number = _number(str(count).strip())
        except ValueError:
            raise ValueError(f"the count of {label!r} is {count!r}, not a number") from None
        if number < 0:
            raise ValueError(f"the count of {label!r} is negative ({count})")
        if label in out:
            raise ValueError(f"label {label!r} appears twice")
        out[label] = number
    out = {k: v for k, v in out.items() if v > 0}
    if not out:
        raise ValueError("no label has a count above 0")
    return out


def _fmt(count: float) -> str:
    return str(int(count)) if float(count).is_integer() else f"{count:.6g}"


def format_votes(votes: Mapping[str, float] | None) -> str | None:
    """The canonical text of ``votes``: most voted first (ties by name), ``"a:3;b:1"``."""
    if not votes:
        return None
    items = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    return ";".join(f"{label}:{_fmt(count)}" for label, count in items)


def agreement(votes: Mapping[str, float] | None) -> float:
    """The share of the votes held by the most voted label (NaN without votes)."""
    if not votes:
        return math.nan
    total = float(sum(votes.values()))
    return max(votes.values()) / total if total > 0 else math.nan


def majority(votes: Mapping[str, float] | None) -> str | None:
    """The most voted label, or None when there are no votes or the top is tied."""
    if not votes:
        return None
    top = max(votes.values())
    winners = [label for label, count in votes.items() if count == top]
    return winners[0] if len(winners) == 1 else None


def top_label(votes: Mapping[str, float] | None) -> str | None:
    """The most voted label, ties broken by name (for stratifying folds, never for metrics)."""
    if not votes:
        return None
    return min(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def map_votes(votes: Mapping[str, float] | None, mapping: Callable[[str], str | None]
              ) -> Votes | None:  # fmt: skip
    """``votes`` with every label renamed by ``mapping`` (counts of labels that meet are
    summed, e.g. IEMOCAP's hap and exc as happiness; a label mapped to None is dropped)."""
    if not votes:
        return None
    out: Votes = {}
    for label, count in votes.items():
        new = mapping(label)
        if new is None:
            continue
        out[new] = out.get(new, 0.0) + float(count)
    return out or None
