"""What a spec's names mean: the block registry and the classifier zoo, asked in one place.

Syntax (``_types``) needs neither. These checks do, and both :func:`~emoclassic.spec.load_spec`
(the options a spec sets) and :func:`~emoclassic.fusion.translate_params` (the values a grid
tries) call them: whether a block type exists, which options its extractor takes, whether a
classifier accepts a parameter value. Messages name ``where`` the value came from.
"""

from __future__ import annotations

import logging
from typing import Any

from ..exceptions import ConfigError
from ._types import STEP_OPTIONS, TUNABLE_STEPS, check_keys

logger = logging.getLogger(__name__)

__all__ = ["block_options", "check_block", "check_block_option", "check_classifier"]


def block_options(type_name: str) -> list[str] | None:
    """The options a block of ``type_name`` takes, besides the step options.

    None when they cannot be told: the extractor takes ``**kwargs``, or it is not importable
    yet (building the block will say so).
    """
    from ..fusion._blocks import extractor_options

    try:
        return extractor_options(type_name)
    except ConfigError:
        logger.debug("cannot check the options of feature type %r", type_name)
        return None


def check_block(name: str, table: dict[str, Any]) -> None:
    """A ``[features.NAME]`` table names a registered type and only options it takes."""
    from ..fusion._blocks import BLOCK_TYPES

    where = f"[features.{name}]"
    type_name = table.get("type")
    if type_name not in BLOCK_TYPES:
        raise ConfigError(
            f"unknown feature type {type_name!r} in {where}; valid: "
            f"{', '.join(sorted(BLOCK_TYPES))}"
        )
    if "encode" in table:  # the encoding's name and options (building it checks them)
        from ..fusion._encode import make_encoder

        make_encoder(name, table["encode"])
    accepted = block_options(type_name)
    if accepted is None:
        return
    check_keys(table, ["type", *sorted(set(accepted) | STEP_OPTIONS)], where)


def check_block_option(key: str, type_name: str, option: str) -> None:
    """A grid key tunes an option the block's extractor takes."""
    accepted = block_options(type_name)
    if accepted is not None and option not in accepted:
        raise ConfigError(
            f"grid key {key!r}: feature type {type_name!r} has no option {option!r}; valid: "
            f"{', '.join(sorted(set(accepted) | set(TUNABLE_STEPS)))}"
        )


def check_classifier(name: str, params: dict[str, Any], where: str) -> None:
    """The zoo's classifier ``name`` takes ``params`` (names and values)."""
    from ..models import check_classifier_params

    try:
        check_classifier_params(name, params)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
