"""Old spellings kept for one release: one helper so every renamed option warns the same way.

A rename must not break a user's script on the day they upgrade, and must not live forever
either: the old name keeps working for one release (``REMOVED_IN``) with a ``FutureWarning``
(shown to users by default, unlike ``DeprecationWarning``) that names the new spelling.
"""

from __future__ import annotations

import warnings
from typing import Any

from .exceptions import ConfigError

__all__ = ["DEPRECATED", "REMOVED_IN", "renamed"]

#: The release that drops the old spellings.
REMOVED_IN = "0.3"


#: Default of a renamed estimator parameter: "not given" (scikit-learn's own idiom; a plain
#: string, so that ``clone``, ``get_params`` and the estimator checks take it like any default).
DEPRECATED = "deprecated"


def renamed(old: str, old_value: Any, new: str, new_value: Any, *, default: Any,
            stacklevel: int = 3) -> Any:
    """The value of option ``new`` when a caller may still use its old name ``old``.

    ``old_value`` is ``DEPRECATED`` or None when the old name was not given. Giving both names
    with different values is an error; giving only the old one warns and passes its value on.
    """
    if old_value is None or (isinstance(old_value, str) and old_value == DEPRECATED):
        return new_value
    if new_value != default and new_value != old_value:
        raise ConfigError(f"{old}= is the old name of {new}=; give only {new}={new_value!r}")
    warnings.warn(
        f"{old}= is deprecated and will be removed in emoclassic {REMOVED_IN}; use {new}=",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return old_value
