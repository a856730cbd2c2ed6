"""What the commands print: ``--format`` and progress bars, JSON and CSV on stdout, result
lines, failed items and the exit code they lead to, headline metrics."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import typer

from ._app import _STATE, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, _error, _one_line
from ._options import FORMATS


def _output(fmt: str, progress: bool | None = None) -> bool:
    """Check ``--format`` and decide whether progress bars are drawn.

    Bars are for a person watching a terminal: not when stderr is redirected to a log, and
    not in json/csv runs, whose consumer is a program, unless ``--progress`` asks for them.
    """
    from ..exceptions import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose table, json or csv")
    _STATE.fmt = fmt
    if progress is not None:
        return progress
    if _STATE.quiet or fmt != "table":
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _print_json(document: Any) -> None:
    """Stdout as exactly one JSON document (NaN written as null)."""
    from ..artifacts import _jsonable

    typer.echo(json.dumps(_jsonable(document), indent=2, ensure_ascii=False, allow_nan=False))


def _print_csv(header: list[str], rows: list[list[Any]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else (_fmt(v) if isinstance(v, float) else v)
                         for v in row])
    typer.echo(buf.getvalue(), nl=False)


def _tell(message: str) -> None:
    """A result line for people: stdout in table runs, stderr (unless -q) in json/csv runs."""
    if _STATE.fmt == "table":
        typer.echo(message)
    else:
        _say(message)


def _say(message: str) -> None:
    """Progress and summaries on stderr (stdout stays machine-readable)."""
    if not _STATE.quiet:
        typer.echo(message, err=True)


def _failure_parts(f: Any) -> tuple[str, str, str | None]:
    """``(id, message, path)`` of a Failure record (or its dict form)."""
    if hasattr(f, "to_dict"):
        f = f.to_dict()
    if isinstance(f, dict):
        msg = f.get("error") or f.get("message") or ""
        if f.get("block"):
            msg = f"[{f['block']}] {msg}"
        return str(f.get("id")), _one_line(msg), f.get("path")
    return str(f[0]), _one_line(f[1]), None


def _failure_record(f: Any) -> dict[str, str | None]:
    """A failed item for JSON output: ``{"id", "path", "error"}`` (the predict schema)."""
    item, msg, path = _failure_parts(f)
    return {"id": item, "path": path, "error": msg}


def _list_failures(failures: list, *, limit: int = 50) -> None:
    """Print failed items on stderr, one per line (``id: message``)."""
    if not failures:
        return
    typer.echo(f"{len(failures)} item(s) failed:", err=True)
    for k, f in enumerate(failures):
        if k == limit:
            typer.echo(f"  ... and {len(failures) - limit} more", err=True)
            break
        item, msg, path = _failure_parts(f)
        for prefix in (path, item):
            if prefix and msg.startswith(f"{prefix}: "):
                msg = msg[len(prefix) + 2:]
                break
        typer.echo(f"  {item}: {msg}", err=True)


def _finish(failures: list, n_ok: int) -> int:
    """Report failed items and choose the exit code (1: some failed; 2: nothing worked)."""
    if not failures:
        return EXIT_OK
    if n_ok == 0 and len(failures) == 1:  # a single input: a plain one-line error
        item, msg, path = _failure_parts(failures[0])
        named = item in msg or (path is not None and path in msg)
        _error(msg if named else f"{item}: {msg}")
        return EXIT_ERROR
    _list_failures(failures)
    if n_ok == 0:
        _error(f"all {len(failures)} items failed (listed above); nothing was produced")
        return EXIT_ERROR
    return EXIT_PARTIAL


def _partial(failures: list) -> int:
    """The exit code of a run that finished without some items: listed, 1; else 0."""
    if not failures:
        return EXIT_OK
    _list_failures(failures)
    return EXIT_PARTIAL


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


_HEADLINE = ("ua", "wa", "macro_f1", "weighted_f1")


def _headline(metrics: dict | None) -> str:
    """``ua=0.812 wa=0.800 macro_f1=0.790 ...`` from a metrics dict (means when nested)."""
    if not isinstance(metrics, dict):
        return ""
    parts = []
    for key in _HEADLINE:
        value = metrics.get(key)
        if isinstance(value, dict):
            value = value.get("mean")
        if isinstance(value, (int, float)):
            parts.append(f"{key}={_fmt(float(value))}")
    return " ".join(parts)


def _mean(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("mean")
    return float(value) if isinstance(value, (int, float)) else None
