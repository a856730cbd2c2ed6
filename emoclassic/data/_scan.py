"""Shared plumbing of the corpus readers: finding files, reporting skips, finishing manifests."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .._paths import shown_path
from ..exceptions import DataError
from ._manifest import MANIFEST_COLUMNS, validate_manifest

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac")
_IGNORED_DIRS = {"__MACOSX", ".git", ".ipynb_checkpoints"}
_MAX_WARNINGS = 10


def require_dir(root: str | os.PathLike[str], corpus: str, layout: str) -> Path:
    """The corpus root as a Path, or a DataError saying what folder was expected."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "not found"
        raise DataError(
            f"{corpus} folder {what}: {shown_path(folder)}; expected the layout {layout}"
        )
    return folder


def walk_files(folder: Path, suffixes: Sequence[str] | None = None) -> Iterator[Path]:
    """Files under ``folder`` (recursively, sorted), skipping hidden files and macOS litter."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _IGNORED_DIRS and not d.startswith(".")
        )
        for name in sorted(filenames):
            if name.startswith("."):  # .DS_Store, AppleDouble "._x.wav" files
                continue
            if suffixes is not None and not name.lower().endswith(tuple(suffixes)):
                continue
            yield Path(dirpath) / name


class SkipLog:
    """Warns about files that do not follow the corpus naming, without flooding the log."""

    def __init__(self, corpus: str):
        self.corpus = corpus
        self.count = 0

    def skip(self, path: Path | str, reason: str) -> None:
        self.count += 1
        if self.count <= _MAX_WARNINGS:
            logger.warning("%s: skipped %s: %s", self.corpus, path, reason)

    def summary(self) -> None:
        if self.count > _MAX_WARNINGS:
            logger.warning(
                "%s: skipped %d files in all (only the first %d are listed)",
                self.corpus,
                self.count,
                _MAX_WARNINGS,
            )


def no_match(corpus: str, folder: Path, layout: str, skipped: int = 0) -> DataError:
    extra = f" ({skipped} file(s) had other names and were skipped)" if skipped else ""
    return DataError(
        f"{corpus}: no file in {folder} follows the corpus naming{extra}; "
        f"expected the layout {layout}"
    )


def finish(
    records: list[dict[str, Any]],
    *,
    corpus: str,
    folder: Path,
    layout: str,
    skips: SkipLog,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Turn reader records into a validated manifest (duplicate copies of a file dropped)."""
    skips.summary()
    if not records:
        raise no_match(corpus, folder, layout, skips.count)
    seen: dict[str, str] = {}
    kept = []
    duplicates = 0
    for record in records:
        key = record["id"]
        if key in seen:
            duplicates += 1
            if duplicates <= _MAX_WARNINGS:
                logger.warning(
                    "%s: skipped %s: same utterance as %s (is the corpus copied twice under %s?)",
                    corpus,
                    record.get("path"),
                    seen[key],
                    folder,
                )
            continue
        seen[key] = str(record.get("path"))
        kept.append(record)
    columns = list(MANIFEST_COLUMNS) + [c for c in extra_columns if c not in MANIFEST_COLUMNS]
    frame = pd.DataFrame.from_records(kept, columns=columns)
    frame["corpus"] = corpus
    manifest = validate_manifest(
        frame, require_labels=True, check_files=False, source=f"{corpus} reader ({folder})"
    )
    logger.info("%s: %d utterances read from %s", corpus, len(manifest), folder)
    return manifest
