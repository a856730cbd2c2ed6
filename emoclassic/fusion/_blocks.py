"""Feature blocks: which extractor each spec block type builds.

A block type names an extractor factory, the modality it belongs to (``audio``, ``text`` or
``extra``: what ablations group by) and the manifest columns it reads (what the fusion
ColumnTransformer hands it). :func:`register_block_type` adds types, e.g. a user's own
extractor. Precomputed "extra" blocks live in :mod:`._extra`.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from ..spec._types import STEP_OPTIONS  # block options that configure steps, not the extractor
from ._extra import ExtraFeatures

logger = logging.getLogger(__name__)

__all__ = [
    "BLOCK_TYPES",
    "BlockType",
    "ExtraFeatures",  # re-exported from ._extra (models saved before the move name it here)
    "STEP_OPTIONS",
    "block_columns",
    "extractor_class",
    "make_extractor",
    "register_block_type",
]


AUDIO_COLUMNS = ("id", "path", "start", "end")
TEXT_COLUMNS = ("id", "text", "speaker", "dialogue_id", "utterance_index")


@dataclass(frozen=True)
class BlockType:
    """A spec feature type: factory (a class or ``"module:Name"``), modality, input columns."""

    name: str
    factory: Any
    modality: str
    columns: tuple[str, ...]
    scale: bool = True  # standardise by default (False for already-normalised sparse TF-IDF)


BLOCK_TYPES: dict[str, BlockType] = {}


def register_block_type(
    name: str,
    factory: Callable[..., Any] | str,
    *,
    modality: str,
    columns: tuple[str, ...] | list[str] = ("id",),
    scale: bool = True,
) -> None:
    """Make ``type = name`` usable in specs. ``factory(**options)`` builds the extractor."""
    if modality not in ("audio", "text", "extra"):
        raise ConfigError(
            f"register_block_type: modality={modality!r} must be 'audio', 'text' or 'extra'"
        )
    BLOCK_TYPES[name] = BlockType(name, factory, modality, tuple(columns), scale)


register_block_type("pooled", "emoclassic.audio:PooledFeatures", modality="audio",
                    columns=AUDIO_COLUMNS)  # fmt: skip
register_block_type("alexnet", "emoclassic.audio:AlexNetEmbedder", modality="audio",
                    columns=AUDIO_COLUMNS)  # fmt: skip
# openSMILE functionals: needs the optional extra (research licence); says so when built
register_block_type("opensmile", "emoclassic.audio:OpenSmileFeatures", modality="audio",
                    columns=AUDIO_COLUMNS)  # fmt: skip
register_block_type("text", "emoclassic.text:SentenceEmbedder", modality="text",
                    columns=TEXT_COLUMNS)  # fmt: skip
register_block_type("tfidf", "emoclassic.text:TfidfText", modality="text",
                    columns=TEXT_COLUMNS, scale=False)  # fmt: skip
register_block_type("frames", "emoclassic.audio._frames:LogMelFrames", modality="audio",
                    columns=AUDIO_COLUMNS, scale=False)  # fmt: skip
# frame-level pooled descriptors (MFCC, energy, pitch ...): for encodings (`encode`), or LSTMs
register_block_type("frame_llds", "emoclassic.audio._frame_llds:FrameDescriptors",
                    modality="audio", columns=AUDIO_COLUMNS, scale=False)  # fmt: skip
register_block_type("extra", "emoclassic.fusion._extra:ExtraFeatures", modality="extra",
                    columns=("id",))  # fmt: skip


def _block_type(type_name: str) -> BlockType:
    try:
        return BLOCK_TYPES[type_name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown feature type {type_name!r}; valid: {', '.join(sorted(BLOCK_TYPES))}"
        ) from None


def extractor_class(type_name: str):
    """The factory of a block type, importing its module on first use."""
    factory = _block_type(type_name).factory
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"feature type {type_name!r} needs {module}.{attr}, which is not available "
                f"({exc}); install or finish that module, or use another feature type"
            ) from None
    return factory


def extractor_options(type_name: str) -> list[str] | None:
    """Keyword options the type's factory accepts (None when it takes ``**kwargs``)."""
    factory = extractor_class(type_name)
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def make_extractor(
    type_name: str,
    options: dict[str, Any],
    *,
    cache: Any = None,
    n_jobs: int | None = None,
    base_dir: str | os.PathLike | None = None,
    block: str | None = None,
):
    """Build the extractor of a block: its own options plus the shared runtime ones.

    ``block`` (the spec's block name) is given to extractors that take a ``block`` option
    (extra blocks: how ``--extra NAME=FILE`` finds them at prediction time).
    """
    factory = extractor_class(type_name)
    opts = {k: v for k, v in options.items() if k not in STEP_OPTIONS}
    if type_name == "extra" and opts.get("file") and base_dir is not None:
        opts["file"] = str(Path(base_dir, opts["file"]))
        if opts.get("ids"):
            opts["ids"] = str(Path(base_dir, opts["ids"]))
    accepted = extractor_options(type_name)
    if block is not None and accepted is not None and "block" in accepted:
        opts.setdefault("block", block)
    for name, value in (("cache", cache), ("n_jobs", n_jobs)):
        if name in opts:
            continue
        if accepted is None or name in accepted:
            if value is None:  # left to emoclassic.config_context at run time
                continue
            opts[name] = value
    if accepted is not None:
        unknown = sorted(set(opts) - set(accepted))
        if unknown:
            raise ConfigError(
                f"feature type {type_name!r} has no option {unknown[0]!r}; valid: "
                f"{', '.join(sorted(set(accepted) | STEP_OPTIONS))}"
            )
    try:
        return factory(**opts)
    except TypeError as exc:
        raise ConfigError(f"feature type {type_name!r}: {exc}") from None


def block_columns(type_name: str, options: dict[str, Any]) -> list[str]:
    """Manifest columns a block reads (the ColumnTransformer's selection for it)."""
    bt = _block_type(type_name)
    cols = list(bt.columns)
    if type_name == "extra" and options.get("columns"):
        cols = ["id", *[c for c in options["columns"] if c != "id"]]
    elif type_name == "extra" and options.get("id_column"):
        cols = [options["id_column"]]
    return cols


def block_modality(type_name: str, options: dict[str, Any] | None = None) -> str:
    return _block_type(type_name).modality


def block_scales(type_name: str) -> bool:
    return _block_type(type_name).scale
