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
    "manifest_from_rows",
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


#: the schema's columns a prediction manifest may lack, with what they default to
_DEFAULTS: dict[str, Any] = {
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


def files_to_manifest(
    files: list[Path],
    *,
    text: str | None = None,
    speaker: str | None = None,
) -> pd.DataFrame:
    """One manifest row per audio file (``id`` = the path as given)."""
    return manifest_from_rows(
        [{"id": str(f), "path": str(Path(f).resolve()), "text": text, "speaker": speaker}
         for f in files]  # fmt: skip
    )


def manifest_from_rows(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A complete prediction manifest from row dicts, built in one go.

    Each dict holds some of the schema's columns (the others take their defaults, as in
    :func:`complete_manifest`) and may hold others (a ``waveform`` cell for audio in memory:
    :class:`emoclassic.prediction.Waveform`). Why not ``complete_manifest(pd.DataFrame(rows))``:
    that builds and copies the frame column by column, which a warm single-clip prediction
    (:class:`emoclassic.Recognizer`) would pay on every call.
    """
    names = list(_DEFAULTS) + [k for r in rows for k in r if k not in _DEFAULTS]
    columns = {c: [r.get(c, _DEFAULTS.get(c)) for r in rows] for c in dict.fromkeys(names)}
    frame = pd.DataFrame(columns)
    if not all(isinstance(i, str) and i for i in columns["id"]):
        if frame["id"].isna().any():
            frame["id"] = _filled_ids(frame)
        frame["id"] = frame["id"].astype(str)
    return frame


def _filled_ids(frame: pd.DataFrame) -> list[str]:
    return [
        i if isinstance(i, str) and i else (p if isinstance(p, str) else f"row{k}")
        for k, (i, p) in enumerate(zip(frame["id"], frame["path"], strict=True))
    ]


def complete_manifest(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the schema's columns a prediction manifest may lack, so pipelines find them."""
    missing = {col: default for col, default in _DEFAULTS.items() if col not in frame.columns}
    frame = frame.assign(**missing) if missing else frame.copy()
    if frame["id"].isna().any():
        frame["id"] = _filled_ids(frame)
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
