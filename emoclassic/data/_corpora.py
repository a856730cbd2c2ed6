"""Corpus registry: pick a reader by name, and the ``--manifest`` / ``--corpus`` entry point."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..exceptions import ConfigError
from ._acted import read_cremad, read_emodb, read_emovo, read_ravdess, read_savee, read_tess
from ._iemocap import read_iemocap
from ._manifest import read_manifest
from ._meld import read_meld

__all__ = ["CORPORA", "read_corpus", "load_corpus", "load_manifest_or_corpus"]

CORPORA: dict[str, Callable[..., pd.DataFrame]] = {
    "ravdess": read_ravdess,
    "cremad": read_cremad,
    "tess": read_tess,
    "emodb": read_emodb,
    "savee": read_savee,
    "emovo": read_emovo,
    "iemocap": read_iemocap,
    "meld": read_meld,
}
_ALIASES = {"crema": "cremad"}

# read_manifest's column options: they describe a user's file, so they make no sense for a
# corpus and are rejected when set to anything but their defaults.
_COLUMN_DEFAULTS = {
    "label_column": "label",
    "text_column": "text",
    "path_column": "path",
    "speaker_column": "speaker",
    "id_column": "id",
    "group_column": None,  # the old name of speaker_column
}


def _normalise_name(name: str) -> str:
    key = "".join(ch for ch in str(name).strip().lower() if ch.isalnum())
    key = _ALIASES.get(key, key)
    if key not in CORPORA:
        raise ConfigError(
            f"unknown corpus {name!r}; known corpora: {', '.join(CORPORA)} "
            "(or give your own data with a manifest file)"
        )
    return key


def read_corpus(name: str, root: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read corpus ``name`` (case-insensitive; ``crema-d`` = ``cremad``) from ``root``."""
    key = _normalise_name(name)
    reader = CORPORA[key]
    accepted = [
        p.name for p in inspect.signature(reader).parameters.values() if p.kind is p.KEYWORD_ONLY
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"corpus {key!r} has no option(s) {', '.join(unknown)}; "
            f"its options: {', '.join(accepted) or 'none'}"
        )
    return reader(root, **kwargs)


def _option_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        return int(low)
    except ValueError:
        return text.strip()


def load_corpus(spec: str, **kwargs: Any) -> pd.DataFrame:
    """Read a ``"NAME:DIR"`` spec as given to ``--corpus`` (e.g. ``"emodb:data/emodb"``).

    Reader options ride in brackets after the name, so every ``--corpus`` accepts them:
    ``"iemocap[classes=6]:/data/IEMOCAP"``, ``"ravdess[include_song=false]:/data/ravdess"``.
    """
    name, sep, root = str(spec).partition(":")
    if not sep or not name.strip() or not root.strip():
        raise ConfigError(
            f"corpus spec {spec!r} is not NAME:DIR; write e.g. emodb:/data/emodb "
            f"(known corpora: {', '.join(CORPORA)})"
        )
    name = name.strip()
    if name.endswith("]") and "[" in name:
        name, _, inner = name[:-1].partition("[")
        for pair in filter(None, (p.strip() for p in inner.split(","))):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip():
                raise ConfigError(
                    f"corpus spec {spec!r}: option {pair!r} is not KEY=VALUE; write e.g. "
                    "iemocap[classes=6]:/data/IEMOCAP"
                )
            kwargs.setdefault(key.strip(), _option_value(value))
    return read_corpus(name, root.strip(), **kwargs)


def load_manifest_or_corpus(
    manifest: str | os.PathLike[str] | None = None,
    corpus: str | None = None,
    **manifest_options: Any,
) -> pd.DataFrame:
    """The data of a command: a manifest file or a ``NAME:DIR`` corpus, exactly one of them.

    ``manifest_options`` go to :func:`read_manifest`. With a corpus, column options must keep
    their defaults, and ``require_labels``/``check_files`` are moot (readers list real files
    and always label).
    """
    if (manifest is None) == (corpus is None):
        raise ConfigError(
            "give exactly one data source: a manifest file (--manifest PATH) or a corpus "
            "(--corpus NAME:DIR)" + (", not both" if manifest is not None else "")
        )
    if manifest is not None:
        return read_manifest(manifest, **manifest_options)
    unknown = set(manifest_options) - set(_COLUMN_DEFAULTS) - {"require_labels", "check_files"}
    if unknown:
        raise ConfigError(f"unexpected option(s) {sorted(unknown)} for a corpus")
    for option, default in _COLUMN_DEFAULTS.items():
        value = manifest_options.get(option, default)
        if value is not None and value != default:
            raise ConfigError(
                f"{option}={value!r} applies to manifest files only; drop it with --corpus"
            )
    assert corpus is not None
    return load_corpus(corpus)
