"""Frame encodings as a block step: ``encode = "fisher"`` or ``encode = {type = "boaw", ...}``.

A ``frames`` or ``frame_llds`` block gives each clip's frame sequence (stateless, cached); its
``encode`` option adds a step that turns the sequence into one vector, learned on the training
rows only (:class:`~emoclassic.audio.BagOfAudioWords`, :class:`~emoclassic.audio.FisherVectors`),
so the codebook or mixture is fitted inside every fold and saved with the model.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..exceptions import ConfigError

__all__ = ["ENCODINGS", "FRAME_TYPES", "make_encoder"]

#: encoding name -> its class
ENCODINGS = {
    "boaw": "emoclassic.audio._encodings:BagOfAudioWords",
    "fisher": "emoclassic.audio._encodings:FisherVectors",
}
#: block types whose rows are frame sequences (what an encoding reads)
FRAME_TYPES = ("frames", "frame_llds")


def encoding_parts(block: str, value: Any) -> tuple[str, dict[str, Any]]:
    """``(encoding name, its options)`` of a block's ``encode`` value (a name or a table)."""
    where = f"[features.{block}].encode"
    table = {"type": value} if isinstance(value, str) else value
    if not isinstance(table, dict) or table.get("type") not in ENCODINGS:
        got = table.get("type") if isinstance(table, dict) else value
        raise ConfigError(f"{where}: unknown encoding {got!r}; valid: {', '.join(ENCODINGS)} "
                          "(a name, or a table with type = NAME and its options)")
    return table["type"], {k: v for k, v in table.items() if k != "type"}


def make_encoder(block: str, value: Any):
    """The encoder of a block's ``encode`` value, its options checked (one-line errors)."""
    import inspect

    kind, options = encoding_parts(block, value)
    module, _, attr = ENCODINGS[kind].partition(":")
    cls = getattr(import_module(module), attr)
    accepted = [p for p in inspect.signature(cls).parameters if p != "frame_dim"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"[features.{block}].encode: {kind} has no option {unknown[0]!r}; "
                          f"valid: {', '.join(accepted)}")
    enc = cls(**options)
    try:
        enc._check_params()
    except ConfigError as exc:
        raise ConfigError(f"[features.{block}].encode: {exc}") from None
    return enc
