"""New inputs as manifest rows: audio files and folders, a transcript, a speaker, text alone.

Prediction takes a manifest like everything else; these functions turn what a user hands over
(``clip.wav --text "..."``, a folder of recordings, a table of rows, a sentence) into one, so
the command line, the Python API and a server build their input tables the same way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .._paths import shown_path
from ..exceptions import ConfigError, DataError

__all__ = [
    "AUDIO_EXTENSIONS",
    "collect_audio_files",
    "complete_manifest",
    "files_to_manifest",
    "prediction_inputs",
]

#: Extensions picked up when a folder is given (explicitly named files may have any extension).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aif", ".aiff", ".opus", ".au", ".caf"}
)


def collect_audio_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand folders (recursively, audio extensions only) and keep named files as given.

    A path that does not exist raises :class:`DataError` (naming the folder a relative path was
    resolved against) before any work is done.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS
            )
            if not found:
                raise DataError(
                    f"{p}: the folder holds no audio files "
                    f"({', '.join(sorted(AUDIO_EXTENSIONS))}); give audio files or a manifest"
                )
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif p.exists():
            raise DataError(f"{p}: not a regular file; give audio files or folders")
        else:
            raise DataError(f"{shown_path(p)}: no such file or folder; check the path")
    return out


def files_to_manifest(
    files: list[Path],
    *,
    text: str | None = None,
    speaker: str | None = None,
) -> pd.DataFrame:
    """One manifest row per audio file (``id`` = the path as given)."""
    rows = []
    for f in files:
        rows.append(
            {
                "id": str(f),
                "path": str(f.resolve()),
                "text": text,
                "label": None,
                "speaker": speaker,
                "start": math.nan,
                "end": math.nan,
            }
        )
    return complete_manifest(pd.DataFrame(rows))


def complete_manifest(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the schema's columns a prediction manifest may lack, so pipelines find them."""
    defaults: dict[str, Any] = {
        "id": None,
        "path": None,
        "text": None,
        "label": None,
        "label_original": None,
        "speaker": None,
        "dialogue_id": None,
        "utterance_index": None,
        "split": None,
        "start": math.nan,
        "end": math.nan,
        "corpus": "user",
    }
    frame = frame.copy()
    for col, default in defaults.items():
        if col not in frame.columns:
            frame[col] = default
    if frame["id"].isna().any():
        frame["id"] = [
            i if isinstance(i, str) and i else (p if isinstance(p, str) else f"row{k}")
            for k, (i, p) in enumerate(zip(frame["id"], frame["path"], strict=True))
        ]
    frame["id"] = frame["id"].astype(str)
    return frame.reset_index(drop=True)


def prediction_inputs(
    inputs: pd.DataFrame | str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    text: str | None = None,
    speaker: str | None = None,
) -> pd.DataFrame:
    """The table to predict on, from what a user gave.

    ``inputs`` is a manifest (a DataFrame of rows, transcripts in its 'text' column), audio
    files and folders (folders searched recursively), or None with ``text`` alone (one row,
    for a text model). ``text`` is the transcript of a single recording; ``speaker`` is the
    speaker of every row (for speaker-normalised models). Raises :class:`ConfigError` for a
    combination that cannot be meant and :class:`DataError` for a path that is not there.
    """
    if isinstance(inputs, pd.DataFrame):
        if text is not None:
            raise ConfigError("--text applies to FILE arguments; with --manifest put the "
                              "transcripts in its 'text' column")
        frame = inputs
        if speaker is not None:
            frame = frame.copy()
            frame["speaker"] = speaker
        return frame
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if inputs:
        files = collect_audio_files(list(inputs))
        if text is not None and len(files) > 1:
            raise ConfigError(
                f"--text applies to one recording but {len(files)} were given; use a manifest "
                "with a 'text' column for several"
            )
        return files_to_manifest(files, text=text, speaker=speaker)
    if text is None:
        raise ConfigError("nothing to predict: give audio FILE|DIR arguments or --manifest M")
    return pd.DataFrame([{"id": "text", "path": None, "text": text, "speaker": speaker}])
