"""How a path is named in an error message.

A relative path is resolved against a folder the user may not have in mind: the working
folder for command-line arguments, the manifest's folder for the audio paths inside it. An
error that shows only ``sub/a.wav`` leaves the user guessing which one was used, so every
"not found" message names that folder through :func:`shown_path`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shown_path"]


def shown_path(
    path: str | os.PathLike, *, base: str | os.PathLike | None = None, base_name: str = ""
) -> str:
    """``path`` for a message: as given, plus the folder it was resolved against if relative.

    ``base`` is that folder (default: the working folder); ``base_name`` says what it is, so
    the message reads ``a.wav (resolved against /data/corpus, the manifest's folder)``.
    """
    text = os.fspath(path)
    if Path(text).expanduser().is_absolute():
        return text
    if base is None:
        return f"{text} (resolved against the working folder {Path.cwd()})"
    return f"{text} (resolved against {base}{', ' + base_name if base_name else ''})"
