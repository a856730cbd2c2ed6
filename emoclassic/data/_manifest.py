"""The manifest: one table of utterances that every corpus, user CSV and command shares.

A manifest is a plain :class:`pandas.DataFrame` (one row per utterance) whose first columns are
:data:`MANIFEST_COLUMNS`, in that order; the optional annotators' ``votes`` and their derived
``agreement`` follow when given (:mod:`._votes`), then extra user columns. Keeping it a bare
DataFrame (not a subclass) lets users build, filter and concatenate manifests with ordinary
pandas.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_path
from .._deprecate import renamed
from .._paths import shown_path
from ..exceptions import DataError
from ._rows import MANIFEST_COLUMNS, SPLITS, VOTE_COLUMNS, _is_missing, normalise_columns

__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "VOTE_COLUMNS",
    "read_manifest",
    "validate_manifest",
    "write_manifest",
]

logger = logging.getLogger(__name__)

_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_MAX_LISTED = 3


def _relative_if_inside(path: str, base_dir: str) -> str:
    try:
        rel = os.path.relpath(path, base_dir)
    except ValueError:  # another drive on Windows
        return path
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return path
    return Path(rel).as_posix()


def _normalise(
    df: pd.DataFrame,
    *,
    base_dir: str | None,
    source: str,
    require_labels: bool,
    check_files: bool,
) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"{source}: expected a pandas DataFrame, got {type(df).__name__}; "
            "build the manifest with pandas or read it with read_manifest()"
        )
    if len(df) == 0:
        raise DataError(
            f"{source}: the manifest has no rows; add at least one utterance "
            "(one row per audio file and/or transcript)"
        )
    frame = df.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        dup = sorted({c for c in frame.columns[frame.columns.duplicated()]})
        raise DataError(f"{source}: column(s) {dup} appear twice; rename or drop the copies")
    n = len(frame)
    has_votes = "votes" in frame.columns
    values = normalise_columns(
        {name: frame[name].tolist() for name in frame.columns
         if name in MANIFEST_COLUMNS or name == "votes"},
        n,
        base_dir=base_dir,
        source=source,
        require_labels=require_labels,
        check_files=check_files,
    )

    def obj(name: str) -> pd.Series:
        return pd.Series(values[name], dtype=object)

    out = pd.DataFrame(
        {
            "id": obj("id"),
            "path": obj("path"),
            "text": obj("text"),
            "label": obj("label"),
            "label_original": obj("label_original"),
            "speaker": obj("speaker"),
            "dialogue_id": obj("dialogue_id"),
            "utterance_index": pd.array(values["utterance_index"], dtype="Int64"),
            "split": obj("split"),
            "start": np.asarray(values["start"], dtype=float),
            "end": np.asarray(values["end"], dtype=float),
            "corpus": obj("corpus"),
        }
    )
    if has_votes:  # agreement is derived from the votes: a given one is replaced
        out["votes"] = obj("votes")
        out["agreement"] = np.asarray(values["agreement"], dtype=float)
    extras = [c for c in frame.columns if c not in MANIFEST_COLUMNS
              and not (has_votes and c in VOTE_COLUMNS)]  # fmt: skip
    if extras:
        out = pd.concat([out, frame[extras]], axis=1)
    return out


def validate_manifest(
    df: pd.DataFrame,
    *,
    require_labels: bool = True,
    check_files: bool = True,
    source: str | None = None,
) -> pd.DataFrame:
    """Check a manifest and return it normalised (schema columns filled, typed and ordered).

    Relative paths resolve against the current folder here; :func:`read_manifest` resolves
    them against the manifest file's folder before validating. Raises :class:`DataError`
    naming the first faulty row (1-based), its id and column, and the fix.
    """
    return _normalise(
        df,
        base_dir=None,
        source=source or "manifest",
        require_labels=require_labels,
        check_files=check_files,
    )


# --------------------------------------------------------------------------- reading
def _decode(file: Path) -> str:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DataError(f"{file}: cannot read the manifest ({exc.strerror}); check it") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("%s is not valid UTF-8; reading it as Windows-1252 (cp1252)", file)
        return data.decode("cp1252", errors="replace")


def _read_jsonl(file: Path, text: str) -> pd.DataFrame:
    stripped = text.lstrip()
    if file.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                "give a JSON array of objects or one JSON object per line (JSONL)"
            ) from exc
        if not all(isinstance(r, dict) for r in records):
            raise DataError(f"{file}: the JSON array must hold one object per utterance")
        return pd.DataFrame.from_records(records)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{file}: line {number} is not valid JSON ({exc.msg}); "
                "write one JSON object per line (JSONL)"
            ) from exc
        if not isinstance(record, dict):
            raise DataError(
                f"{file}: line {number} is a JSON {type(record).__name__}, not an object; "
                'write one object per line, e.g. {"path": "a.wav", "label": "anger"}'
            )
        records.append(record)
    if not records:
        return pd.DataFrame()
    return pd.DataFrame.from_records(records)


def _read_delimited(file: Path, text: str) -> pd.DataFrame:
    suffix = file.suffix.lower()
    if suffix in (".tsv", ".tab"):
        sep = "\t"
    elif suffix == ".csv":
        sep = ","
    else:
        first = text.split("\n", 1)[0]
        sep = "\t" if "\t" in first else ","
    kind = "TSV" if sep == "\t" else "CSV"
    if not text.strip():
        return pd.DataFrame()
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(
            f"{file}: cannot parse as {kind} ({reason}); check the separator and the quoting "
            "(fields holding the separator or a newline must be in double quotes)"
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def _maybe_numeric(column: pd.Series) -> pd.Series:
    """Extra CSV columns of numbers become numeric (e.g. precomputed features), but codes with
    leading zeros ("03") and anything not fully numeric stay text."""
    values = [v for v in column.tolist() if not _is_missing(v)]
    if not values or not all(isinstance(v, str) for v in values):
        return column
    if any(_LEADING_ZERO.match(v.strip()) for v in values):
        return column
    try:
        return pd.to_numeric(pd.Series(column.tolist(), index=column.index, dtype=object))
    except (TypeError, ValueError):
        return column


def _read_table(file: Path) -> pd.DataFrame:
    text = _decode(file)
    suffix = file.suffix.lower()
    if suffix in _JSONL_SUFFIXES or suffix == ".json":
        return _read_jsonl(file, text)
    return _read_delimited(file, text)


def _map_columns(
    raw: pd.DataFrame, mapping: Mapping[str, tuple[str, str | None]], source: str
) -> pd.DataFrame:
    """Rename user columns onto the schema; ``mapping`` is schema -> (option name, user column)."""
    available = ", ".join(repr(c) for c in raw.columns) or "none"
    frame = raw.copy()
    taken: dict[str, pd.Series] = {}
    consumed: set[str] = set()
    for schema, (option, user) in mapping.items():
        if user is None:
            continue
        if user in raw.columns:
            taken[schema] = raw[user]
            if user != schema:
                consumed.add(user)
        elif user != schema:
            raise DataError(
                f"{source}: no column {user!r} (given as {option}={user!r}); available columns: "
                f"{available}; pass one of them as {option}="
            )
    for schema, series in taken.items():
        if schema in frame.columns and mapping[schema][1] != schema:
            renamed = f"user_{schema}"
            logger.info(
                "%s: column %r kept as %r (%r maps onto it)",
                source,
                schema,
                renamed,
                mapping[schema][1],
            )
            frame = frame.rename(columns={schema: renamed})
        frame[schema] = series
    drop = [c for c in consumed if c not in MANIFEST_COLUMNS and c in frame.columns]
    return frame.drop(columns=drop)


def read_manifest(
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
) -> pd.DataFrame:
    """Read a CSV, TSV or JSONL manifest of the user's own utterances and validate it.

    The ``*_column`` options name the user's columns for the schema's ``label``, ``text``,
    ``path``, ``speaker`` (who spoke: what speaker normalisation reads, and what
    cross-validation groups by unless told otherwise) and ``id``. Relative audio paths resolve
    against the manifest file's folder. Labels stay verbatim (``label_original`` = ``label``);
    ``corpus`` defaults to ``"user"``. ``group_column`` is the old name of ``speaker_column``
    (deprecated; removed in 0.3).
    """
    speaker_column = renamed("group_column", group_column, "speaker_column", speaker_column,
                             default="speaker")
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "not found"
        raise DataError(
            f"manifest {what}: {shown_path(file)}; give the path of a .csv, .tsv or .jsonl "
            "file (or use a corpus reader for a corpus folder)"
        )
    source = str(file)
    raw = _read_table(file)
    if raw.shape[1] == 0 and len(raw) == 0:
        raise DataError(
            f"{source}: the manifest is empty; add a header line and one row per utterance"
        )
    mapping = {
        "id": ("id_column", id_column),
        "path": ("path_column", path_column),
        "text": ("text_column", text_column),
        "label": ("label_column", label_column),
        "speaker": ("speaker_column", speaker_column),
    }
    frame = _map_columns(raw, mapping, source)
    available = ", ".join(repr(c) for c in raw.columns)
    if "path" not in frame.columns and "text" not in frame.columns:
        raise DataError(
            f"{source}: neither a {path_column!r} (audio) nor a {text_column!r} column; "
            f"available columns: {available}; name them with path_column= / text_column="
        )
    if require_labels and "label" not in frame.columns:
        raise DataError(
            f"{source}: no {label_column!r} column; available columns: {available}; name the "
            "label column with label_column= (or pass require_labels=False for prediction)"
        )
    out = _normalise(
        frame,
        base_dir=str(file.parent.absolute()),
        source=source,
        require_labels=require_labels,
        check_files=check_files,
    )
    for name in out.columns[len(MANIFEST_COLUMNS) :]:
        out[name] = _maybe_numeric(out[name])
    return out


# --------------------------------------------------------------------------- writing
def _jsonable(value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _json_lines(frame: pd.DataFrame) -> Iterable[str]:
    columns = list(frame.columns)
    for row in frame.itertuples(index=False, name=None):
        record = {c: _jsonable(v) for c, v in zip(columns, row, strict=True)}
        yield json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def write_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a manifest atomically: CSV, or TSV/JSONL by extension (``.tsv``, ``.jsonl``).

    Audio paths inside the manifest's folder are written relative to it, so the folder can
    be moved or shared as a whole; :func:`read_manifest` reads the file back to the same frame.
    """
    file = Path(path).expanduser()
    frame = validate_manifest(df, require_labels=False, check_files=False, source=str(file))
    file.parent.mkdir(parents=True, exist_ok=True)
    base = str(file.parent.absolute())
    frame["path"] = [_relative_if_inside(p, base) if p is not None else None for p in frame["path"]]
    suffix = file.suffix.lower()
    with atomic_path(file) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        if suffix in _JSONL_SUFFIXES:
            handle.writelines(_json_lines(frame))
        else:
            sep = "\t" if suffix in (".tsv", ".tab") else ","
            frame.to_csv(handle, sep=sep, index=False, lineterminator="\n")
    return file
