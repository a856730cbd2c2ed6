"""Manifest rows without pandas: the per-row checks every manifest goes through, and a reader
of plain CSV/TSV manifest files for the fully cached command-line path.

:func:`normalise_columns` is the one implementation of the manifest's row rules (ids derived
from paths, paths resolved, seconds parsed, splits mapped, duplicates and empty cells
refused); :func:`emoclassic.data.read_manifest` and :func:`~emoclassic.data.validate_manifest`
run it on a DataFrame's columns. :func:`read_plain_manifest` runs it on a manifest file split
by hand, so that a command whose features are all cached answers without importing pandas
(0.3 s, as much as the rest of such a run). It reads only files whose parsing cannot differ
from pandas' (no quotes, no blank lines, one value per column on every line, UTF-8) and
otherwise returns None: the caller then reads the file with :func:`read_manifest`, which
also raises the errors.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._deprecate import renamed
from ..exceptions import DataError
from ._votes import VOTES_HELP, agreement, format_votes, parse_votes

__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "VOTE_COLUMNS",
    "normalise_columns",
    "read_plain_manifest",
]

MANIFEST_COLUMNS: tuple[str, ...] = (
    "id",
    "path",
    "text",
    "label",
    "label_original",
    "speaker",
    "dialogue_id",
    "utterance_index",
    "split",
    "start",
    "end",
    "corpus",
)
SPLITS: tuple[str, ...] = ("train", "dev", "test")
#: the optional annotators' votes and the agreement derived from them (``_votes``); they
#: follow the schema columns when a manifest has votes
VOTE_COLUMNS: tuple[str, ...] = ("votes", "agreement")

_STR_COLUMNS = (
    "id",
    "path",
    "text",
    "label",
    "label_original",
    "speaker",
    "dialogue_id",
    "split",
    "corpus",
)
_SPLIT_ALIASES = {
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "development": "dev",
    "training": "train",
    "testing": "test",
}
_JSONL_SUFFIXES = (".jsonl", ".ndjson")


# --------------------------------------------------------------------------- value helpers
def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    pd = sys.modules.get("pandas")  # pandas' missing markers exist only once it is imported
    if pd is not None and (value is pd.NA or value is pd.NaT):
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False


def _to_str(value: Any) -> str | None:
    """A cell as a stripped string, or None when missing/blank; ``3.0`` reads as ``"3"``."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        text = str(bool(value))
    elif isinstance(value, (float, np.floating)) and float(value).is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _to_float(value: Any) -> float:
    """Parse a seconds value; raises ValueError with a readable reason."""
    if _is_missing(value):
        return math.nan
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return math.nan
    number = float(value)
    if math.isnan(number):
        return math.nan
    if math.isinf(number):
        raise ValueError("is infinite")
    return number


def _to_int(value: Any) -> int | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    number = float(value)
    if not number.is_integer():
        raise ValueError("is not a whole number")
    return int(number)


# --------------------------------------------------------------------------- problems
class _Problems:
    """Collects row problems so the user sees the first one (by row) and how many more."""

    def __init__(self, source: str):
        self.source = source
        self.ids: list[str | None] = []
        self._items: list[tuple[int, int, str, str, str]] = []

    def add(self, row: int, column: str, problem: str, fix: str) -> None:
        self._items.append((row, len(self._items), column, problem, fix))

    def messages(self) -> list[str]:
        out = []
        for row, _, column, problem, fix in sorted(self._items):
            where = f"row {row + 1}"
            row_id = self.ids[row] if row < len(self.ids) else None
            if row_id is not None:
                where += f" (id {row_id!r})"
            out.append(f"{self.source}: {where}, column {column!r}: {problem}; {fix}")
        return out

    def raise_if_any(self) -> None:
        items = self.messages()
        if not items:
            return
        message = items[0]
        if len(items) > 1:
            message += f" (and {len(items) - 1} more problem(s) in this manifest)"
        error = DataError(message)
        error.problems = items  # type: ignore[attr-defined]
        raise error


# --------------------------------------------------------------------------- paths
def _resolve_path(value: str, base_dir: str) -> str:
    expanded = os.path.expanduser(value)
    if not os.path.isabs(expanded):
        expanded = os.path.join(base_dir, expanded)
    return os.path.abspath(expanded)


def _relative(path: str, base_dir: str) -> str:
    try:
        return Path(os.path.relpath(path, base_dir)).as_posix()
    except ValueError:  # another drive on Windows
        return path


def _fmt_seconds(value: float) -> str:
    return "" if math.isnan(value) else f"{value:g}"


# --------------------------------------------------------------------------- the row rules
def normalise_columns(
    columns: Mapping[str, Sequence[Any]],
    n: int,
    *,
    base_dir: str | None,
    source: str,
    require_labels: bool,
    check_files: bool,
) -> dict[str, list[Any]]:
    """The manifest's schema columns, checked and normalised, from a table's raw columns.

    ``columns`` maps column names to ``n`` cell values each (strings, numbers, None or NaN);
    an ``id`` entry means the table has ids (else they are derived from the paths). Returns
    one list per :data:`MANIFEST_COLUMNS` name: strings or None, floats (NaN when missing)
    for ``start``/``end``, ints or None for ``utterance_index``. Raises :class:`DataError`
    naming the first faulty row (1-based), its id and column, and the fix.
    """
    base = os.path.abspath(base_dir) if base_dir is not None else os.getcwd()
    resolved_against = (
        f"relative paths resolve against {base}, the manifest's folder"
        if base_dir is not None
        else f"relative paths resolve against the working folder {base}"
    )
    problems = _Problems(source)

    def column(name: str) -> Sequence[Any]:
        return columns[name] if name in columns else [None] * n

    strings = {name: [_to_str(v) for v in column(name)] for name in _STR_COLUMNS}
    # Text keeps its inner whitespace; only blank transcripts count as missing.
    strings["text"] = [
        None if _is_missing(v) or not str(v).strip() else str(v) for v in column("text")
    ]

    starts: list[float] = []
    ends: list[float] = []
    for name, target in (("start", starts), ("end", ends)):
        for i, value in enumerate(column(name)):
            try:
                number = _to_float(value)
            except (TypeError, ValueError) as exc:
                reason = str(exc) if "infinite" in str(exc) else "is not a number"
                problems.add(i, name, f"value {value!r} {reason}", "give seconds, e.g. 1.25")
                number = math.nan
            if number < 0:
                problems.add(i, name, f"value {number:g} is negative", "give seconds >= 0")
            target.append(number)

    paths = [_resolve_path(p, base) if p is not None else None for p in strings["path"]]

    has_ids = "id" in columns
    ids: list[str | None] = []
    for i in range(n):
        given = strings["id"][i]
        if given is not None or has_ids:
            ids.append(given)
            continue
        if paths[i] is not None:
            derived = _relative(paths[i], base)
            if not (math.isnan(starts[i]) and math.isnan(ends[i])):
                derived += f"#{_fmt_seconds(starts[i])}-{_fmt_seconds(ends[i])}"
            ids.append(derived)
        else:
            ids.append(f"row{i + 1}")

    indices: list[int | None] = []
    for i, value in enumerate(column("utterance_index")):
        try:
            indices.append(_to_int(value))
        except (TypeError, ValueError):
            problems.add(
                i,
                "utterance_index",
                f"value {value!r} is not a whole number",
                "give the utterance's position in its dialogue (0, 1, 2...) or leave it empty",
            )
            indices.append(None)

    votes: list[dict[str, float] | None] = []
    for i, value in enumerate(column("votes")):
        try:
            votes.append(parse_votes(value))
        except ValueError as exc:
            problems.add(i, "votes", f"{value!r}: {exc}", VOTES_HELP)
            votes.append(None)

    labels = strings["label"]
    originals = [
        o if o is not None else lab
        for o, lab in zip(strings["label_original"], labels, strict=True)
    ]
    splits: list[str | None] = []
    corpora = [c if c is not None else "user" for c in strings["corpus"]]

    seen_ids: dict[str, int] = {}
    seen_segments: dict[tuple[str, float | None, float | None], int] = {}
    for i in range(n):
        row_id = ids[i]
        duplicate_path = False
        if paths[i] is None and strings["text"][i] is None:
            problems.add(
                i,
                "path",
                "the row has neither an audio path nor a text",
                "give a path, a text or both, or drop the row",
            )
        if labels[i] is None and require_labels and votes[i] is None:
            problems.add(
                i,
                "label",
                "the label is empty",
                "fill it in, give the row's votes (no majority label) or drop the row "
                "(unlabelled data is read with require_labels=False)",
            )

        split = strings["split"][i]
        if split is not None:
            split = _SPLIT_ALIASES.get(split.lower(), split.lower())
            if split not in SPLITS:
                problems.add(
                    i,
                    "split",
                    f"unknown split {strings['split'][i]!r}",
                    f"use one of {', '.join(SPLITS)} or leave it empty",
                )
        splits.append(split)

        start, end = starts[i], ends[i]
        if not math.isnan(start) and not math.isnan(end) and start >= end:
            problems.add(
                i,
                "start",
                f"start {start:g} s is not before end {end:g} s",
                "swap or fix the segment times",
            )

        path = paths[i]
        if path is not None:
            key = (
                path,
                None if math.isnan(start) else start,
                None if math.isnan(end) else end,
            )
            if key in seen_segments:
                problems.add(
                    i,
                    "path",
                    f"duplicate path {path} (same file and segment as row "
                    f"{seen_segments[key] + 1})",
                    "drop the repeated row or give distinct start/end times",
                )
                duplicate_path = True
            else:
                seen_segments[key] = i
            if check_files and not os.path.isfile(path):
                what = "is a folder, not a file" if os.path.isdir(path) else "not found"
                problems.add(
                    i,
                    "path",
                    f"audio file {what}: {path}",
                    f"fix the path ({resolved_against}) or pass check_files=False",
                )

        if row_id is None:
            problems.add(
                i,
                "id",
                "the id is empty",
                "give every row an id, or drop the id column so ids are derived from paths",
            )
        elif row_id in seen_ids:
            if not (duplicate_path and not has_ids):  # a derived id repeats the path problem
                problems.add(
                    i,
                    "id",
                    f"duplicate id (first used at row {seen_ids[row_id] + 1})",
                    "make the ids unique or drop the repeated row",
                )
        else:
            seen_ids[row_id] = i

    problems.ids = ids
    problems.raise_if_any()
    extra: dict[str, list[Any]] = {}
    if "votes" in columns:
        extra = {"votes": [format_votes(v) for v in votes],
                 "agreement": [agreement(v) for v in votes]}  # fmt: skip
    return {
        "id": ids,
        "path": paths,
        "text": strings["text"],
        "label": labels,
        "label_original": originals,
        "speaker": strings["speaker"],
        "dialogue_id": strings["dialogue_id"],
        "utterance_index": indices,
        "split": splits,
        "start": starts,
        "end": ends,
        "corpus": corpora,
        **extra,
    }


# --------------------------------------------------------------------------- plain files
def _plain_table(text: str, sep: str) -> tuple[list[str], list[list[str | None]]] | None:
    """Header and rows of a delimited text that any CSV parser splits the same way, else None.

    pandas (``dtype=str``, ``keep_default_na=False``, ``na_values=[""]``) reads such a text
    as these cells with empty ones missing: no quote character anywhere, lines ending in
    ``\\n`` or ``\\r\\n``, no blank line, as many values on every line as in the header, and
    header names that are distinct, non-empty and need no renaming.
    """
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        return None
    header = [name.strip() for name in lines[0].split(sep)]
    if "" in header or len(set(header)) != len(header):
        return None
    width = len(header)
    rows: list[list[str | None]] = []
    for line in lines[1:]:
        cells = line.split(sep)
        if len(cells) != width or not line.strip():
            return None
        rows.append([c if c != "" else None for c in cells])
    return header, rows


def read_plain_manifest(
    path: str | os.PathLike[str],
    *,
    label_column: str = "label",
    text_column: str = "text",
    path_column: str = "path",
    speaker_column: str = "speaker",
    id_column: str = "id",
    require_labels: bool = True,
    check_files: bool = True,
    group_column: str | None = None,
) -> dict[str, list[Any]] | None:
    """The schema columns of a plain CSV/TSV manifest file, exactly as :func:`read_manifest`
    normalises them, or None when the file needs :func:`read_manifest` itself.

    Takes :func:`read_manifest`'s options. None means: a JSON/JSONL file, text that is not
    UTF-8, quoting, blank lines, ragged rows, a column option that renames an existing column,
    or any problem :func:`read_manifest` reports (it raises the error; this never does).
    The extra (non-schema) columns are not returned (but ``votes`` and ``agreement`` are,
    when the file has votes).
    """
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    if suffix in _JSONL_SUFFIXES or suffix == ".json":
        return None
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    if suffix in (".tsv", ".tab"):
        sep = "\t"
    elif suffix == ".csv":
        sep = ","
    else:
        sep = "\t" if "\t" in text.split("\n", 1)[0] else ","
    table = _plain_table(text, sep)
    if table is None:
        return None
    header, rows = table
    raw = {name: [row[j] for row in rows] for j, name in enumerate(header)}
    columns = dict(raw)
    mapping = {
        "id": id_column,
        "path": path_column,
        "text": text_column,
        "label": label_column,
        "speaker": renamed("group_column", group_column, "speaker_column", speaker_column,
                           default="speaker"),
    }
    # read_manifest's column mapping; the user's own columns it then drops or keeps do not
    # matter here (only schema columns are read)
    for schema, user in mapping.items():
        if user is None or user == schema:
            continue
        if user not in raw:
            return None  # read_manifest names the missing column
        if schema in raw:
            return None  # read_manifest keeps the schema's column as user_<name>
        columns[schema] = raw[user]
    if "path" not in columns and "text" not in columns:
        return None
    if require_labels and "label" not in columns:
        return None
    try:
        return normalise_columns(
            columns,
            len(rows),
            base_dir=str(file.parent.absolute()),
            source=str(file),
            require_labels=require_labels,
            check_files=check_files,
        )
    except DataError:
        return None
