"""One emotion vocabulary across corpora, so models trained on one corpus name classes alike.

Corpus readers translate their own codes (EmoDB's ``W``, CREMA-D's ``ANG``...) with their own
tables, then pass through :func:`to_canonical`; user manifests keep their labels verbatim.
"""

from __future__ import annotations

__all__ = ["CANONICAL_EMOTIONS", "to_canonical", "is_canonical"]

CANONICAL_EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happiness",
    "sadness",
    "anger",
    "fear",
    "disgust",
    "surprise",
    "boredom",
    "excitement",
    "frustration",
    "contempt",
    "other",
)

# Spellings and abbreviations seen across corpora. Single letters are deliberately absent:
# they are ambiguous between corpora (EmoDB "A" is fear, SAVEE "a" is anger), so each reader
# decodes its own letters first.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "neutral": ("neu", "neut", "neutrality"),
    "calm": ("calmness", "cal"),
    "happiness": ("happy", "hap", "joy", "joyful", "joyous", "glad", "happiness", "happy_joy"),
    "sadness": ("sad", "sorrow", "unhappy"),
    "anger": ("angry", "ang", "anger", "mad", "annoyed", "irritated"),
    "fear": ("fearful", "fea", "afraid", "scared", "anxiety", "anxious", "fright"),
    "disgust": ("disgusted", "dis", "disgusting"),
    "surprise": (
        "surprised",
        "sur",
        "sup",
        "ps",
        "pleasant_surprise",
        "pleasant_surprised",
        "pleasantly_surprised",
    ),
    "boredom": ("bored", "bor", "boring"),
    "excitement": ("excited", "exc", "exciting"),
    "frustration": ("frustrated", "fru", "frustrating"),
    "contempt": ("contemptuous", "contemp"),
    "other": ("oth", "others"),
}

_LOOKUP: dict[str, str] = {name: name for name in CANONICAL_EMOTIONS}
for _canon, _words in _SYNONYMS.items():
    for _word in _words:
        _LOOKUP[_word] = _canon


def _key(label: str) -> str:
    return "_".join(str(label).strip().lower().replace("-", " ").split())


def to_canonical(label: str) -> str:
    """Map a corpus spelling (``"joy"``, ``"ANG"``, ``"ps"``...) onto the canonical name.

    A label with no known mapping comes back lowercased and stripped, never silently as
    ``"other"``: check with :func:`is_canonical` when the vocabulary must be closed.
    """
    key = _key(label)
    return _LOOKUP.get(key, str(label).strip().lower())


def is_canonical(label: str) -> bool:
    """Whether ``label`` is exactly one of :data:`CANONICAL_EMOTIONS`."""
    return isinstance(label, str) and label in CANONICAL_EMOTIONS
