"""The picks on disk: a CSV that ``emoclassic predict --manifest`` reads, and a page beside it
to listen to the picks in order.

Both are written atomically (:mod:`emoclassic._atomic`). Audio paths inside the CSV's folder
are written relative to it (as :func:`emoclassic.data.write_manifest` does), so the folder can
be moved or shared with the annotators as a whole; the page's ``<audio>`` elements point at
the files relative to the page, so it plays them from a file browser, with no server.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from .._atomic import atomic_write_text
from ..exceptions import ConfigError

__all__ = ["page_path", "render_page", "write_picks"]

_SUFFIXES = {".csv": ",", ".tsv": "\t"}

_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "max-width:72em;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
    "h1{font-size:1.5em;margin-bottom:.3em}.caption{color:#555;font-size:.92em}"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.92em}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:middle}"
    "th{background:#f3f3f3;white-space:nowrap}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}td.text{min-width:16em}"
    "audio{width:16em;height:2.2em}code{background:#f3f3f3;padding:0 .2em;border-radius:3px}"
)


def page_path(out: str | os.PathLike) -> Path:
    """The page written beside a picks file: ``picks.csv`` -> ``picks.html``."""
    return Path(out).with_suffix(".html")


def check_out(out: str | os.PathLike) -> Path:
    """``out`` as a picks file name (.csv or .tsv), before any work is done."""
    path = Path(out).expanduser()
    if path.suffix.lower() not in _SUFFIXES:
        raise ConfigError(f"--out {out}: give a .csv (or .tsv) file name for the picks, e.g. "
                          "picks.csv; the page is written beside it")
    return path


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _relative(path: str, folder: Path) -> str:
    """``path`` relative to ``folder`` when inside it, else as it is."""
    try:
        rel = os.path.relpath(path, folder)
    except ValueError:  # another drive (Windows)
        return path
    return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else Path(rel).as_posix()


def _audio_src(path: Any, page_dir: Path, start: Any = None, end: Any = None) -> str | None:
    """The ``src`` of a pick's ``<audio>``: its file relative to the page (``#t=`` for a
    segment of a longer file)."""
    if _missing(path) or not str(path).strip():
        return None
    absolute = Path(os.path.abspath(str(path)))
    try:
        src = quote(Path(os.path.relpath(absolute, page_dir.absolute())).as_posix(), safe="/")
    except ValueError:  # another drive (Windows): an absolute URI
        src = absolute.as_uri()
    a = None if _missing(start) else float(start)
    b = None if _missing(end) else float(end)
    if a is not None or b is not None:
        src += f"#t={a or 0:g}" + ("" if b is None else f",{b:g}")
    return src


def render_page(picks: pd.DataFrame, page_dir: str | os.PathLike, *, title: str | None = None
                ) -> str:  # fmt: skip
    """The HTML page of ``picks`` (a :func:`suggest` table) as served from ``page_dir``."""
    e = html.escape
    folder = Path(page_dir)
    meta = picks.attrs
    strategy = meta.get("strategy", "?")
    score = meta.get("score", "margin")
    explain = ("entropy of the predicted probabilities (larger: less sure)" if score == "entropy"
               else "margin, top-1 minus top-2 probability (smaller: less sure)")
    lines = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(title or 'What to annotate next')}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title or 'What to annotate next')}</h1>",
        f"<p>{len(picks)} utterance(s) chosen from {meta.get('n_pool', len(picks))} by the "
        f"<code>{e(str(strategy))}</code> strategy"
        + (f" with the model <code>{e(str(meta['model']))}</code>" if meta.get("model") else "")
        + ". Annotate them in this order.</p>",
        f"<p class='caption'>Score: {e(explain)}. The predicted and second labels are the "
        "model's guesses, not annotations.</p>",
        "<table><thead><tr><th>#</th><th>listen</th><th>id</th><th>transcript</th>"
        "<th>predicted</th><th>second</th><th>score</th></tr></thead><tbody>",
    ]
    starts = picks["start"] if "start" in picks.columns else [None] * len(picks)
    ends = picks["end"] if "end" in picks.columns else [None] * len(picks)
    for row, a, b in zip(picks.to_dict("records"), starts, ends, strict=True):
        src = _audio_src(row.get("path"), folder, a, b)
        audio = (f"<audio controls preload='none' src='{e(src)}'></audio>" if src else "–")
        text = row.get("text")
        text = "" if _missing(text) else str(text)
        p1, p2 = row.get("probability"), row.get("second_probability")
        first = e(str(row["predicted_label"])) + ("" if _missing(p1) else f" ({float(p1):.2f})")
        other = e(str(row["second_label"])) + ("" if _missing(p2) else f" ({float(p2):.2f})")
        lines.append(
            f"<tr><td class='num'>{int(row['rank'])}</td><td>{audio}</td>"
            f"<td>{e(str(row['id']))}</td><td class='text'>{e(text)}</td><td>{first}</td>"
            f"<td>{other}</td><td class='num'>{float(row['score']):.3f}</td></tr>"
        )
    lines.append("</tbody></table></body></html>")
    return "\n".join(lines) + "\n"


def write_picks(picks: pd.DataFrame, out: str | os.PathLike, *, title: str | None = None
                ) -> dict[str, Path]:  # fmt: skip
    """Write ``picks`` to ``out`` (.csv/.tsv) and the page beside it, both atomically.

    Returns ``{"picks": out, "page": the .html}``. Audio paths inside ``out``'s folder are
    written relative to it; the file reads back with
    ``emoclassic.data.read_manifest(out, require_labels=False)``.
    """
    path = check_out(out)
    folder = path.parent.absolute()
    frame = picks.copy()
    if "path" in frame.columns:
        frame["path"] = [None if _missing(p) or not str(p).strip()
                         else _relative(os.path.abspath(str(p)), folder)
                         for p in frame["path"]]  # fmt: skip
    sep = _SUFFIXES[path.suffix.lower()]
    atomic_write_text(path, frame.to_csv(sep=sep, index=False, lineterminator="\n"))
    page = page_path(path)
    atomic_write_text(page, render_page(picks, folder, title=title))
    return {"picks": path, "page": page}
