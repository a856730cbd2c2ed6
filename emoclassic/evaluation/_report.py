"""Writing CV reports: JSON (the record), Markdown (for docs) and self-contained HTML.

Every file is written atomically (temp file in the same folder, then ``os.replace``), so an
interrupted run never leaves half a report. The HTML embeds the confusion-matrix PNG as base64
and needs nothing else to display.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes
from ._metrics import METRIC_KEYS

__all__ = ["REPORT_KEYS", "render_html", "render_markdown", "write_reports"]

#: top-level keys of every cv_report.json (``ablation`` only with ``ablation=True``)
REPORT_KEYS = (
    "name", "metrics", "per_class", "confusion", "baselines", "folds", "best_params", "grid",
    "protocol", "data", "predictions", "spec", "features", "timing", "versions",
)  # fmt: skip

_METRIC_NAMES = {"ua": "UA", "wa": "WA", "macro_f1": "macro F1", "weighted_f1": "weighted F1"}


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}"


def _tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, shared by Markdown and HTML."""
    out = []
    head = ["", *(_METRIC_NAMES[k] for k in METRIC_KEYS)]
    rows = [["model", *(_pct(report["metrics"].get(k)) for k in METRIC_KEYS)]]
    for name, m in report.get("baselines", {}).items():
        rows.append([f"{name} baseline", *(_pct(m.get(k)) for k in METRIC_KEYS)])
    out.append(("Scores (%, pooled over outer folds)", head, rows))
    if "ablation" in report:
        rows = [[mod, *(_pct(v["metrics"].get(k)) for k in METRIC_KEYS)]
                for mod, v in report["ablation"].items()]  # fmt: skip
        out.append(("Ablation (%, same outer folds)", ["modality", *head[1:]], rows))
    rows = [
        [lab, _pct(v["precision"]), _pct(v["recall"]), _pct(v["f1"]), str(v["support"])]
        for lab, v in report.get("per_class", {}).items()
    ]
    out.append(("Per class (%)", ["class", "precision", "recall", "F1", "support"], rows))
    rows = []
    for f in report.get("folds", []):
        test = ", ".join(f.get("test_groups", [])[:6])
        if len(f.get("test_groups", [])) > 6:
            test += ", …"
        rows.append([
            str(f["fold"]), *(_pct(f["metrics"].get(k)) for k in ("ua", "wa", "macro_f1")),
            str(f["n_train"]), str(f["n_test"]), test or "–",
            json.dumps(f.get("best_params", {}), sort_keys=True),
        ])  # fmt: skip
    out.append((
        "Per fold",
        ["fold", "UA", "WA", "macro F1", "train", "test", "test groups", "best params"],
        rows,
    ))  # fmt: skip
    att = report.get("attention")
    if att:  # attention fusion: the mean out-of-fold weight of each block, overall and by class
        blocks = att["blocks"]
        rows = [["all", *(f"{att['mean'][b]:.3f}" for b in blocks)]]
        rows += [[c, *(f"{w[b]:.3f}" for b in blocks)] for c, w in att["per_class"].items()]
        out.append(("Attention over blocks (out-of-fold means)", ["class", *blocks], rows))
    return out


def _protocol_line(report: dict[str, Any]) -> str:
    p = report.get("protocol", {})
    d = report.get("data", {})
    return (
        f"scheme **{p.get('scheme')}** by `{p.get('groups')}` ({p.get('n_outer_folds')} outer "
        f"folds; inner: {p.get('inner')}), scoring `{p.get('scoring')}`, speaker normalisation: "
        f"{'yes' if p.get('speaker_normalization') else 'no'}; {d.get('n_items')} items, "
        f"{len(d.get('classes', {}))} classes, {len(d.get('groups', {}))} groups, "
        f"{d.get('n_failed', 0)} failed"
    )


def render_markdown(report: dict[str, Any], *, image: str | None = "confusion.png") -> str:
    """The report as Markdown (tables of scores, ablation, classes and folds)."""
    lines = [f"# CV report: {report.get('name', 'pipeline')}", "", _protocol_line(report), ""]
    for title, header, rows in _tables(report):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join("---" for _ in header) + "|"]  # fmt: skip
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        lines.append("")
    if image:
        lines += ["## Confusion matrix", "", f"![confusion matrix]({image})", ""]
    lines += [
        "## Best parameters (most frequent over folds)",
        "",
        "```json",
        json.dumps(report.get("best_params", {}), indent=2, sort_keys=True),
        "```",
        "",
    ]
    t = report.get("timing", {})
    lines.append(
        f"Timing: extraction {t.get('extraction')} s, CV {t.get('cv')} s, total {t.get('total')} s."
    )
    failed = report.get("data", {}).get("failed", [])
    if failed:
        lines += ["", f"Failed items ({len(failed)}):", ""]
        lines += [f"- `{f['id']}` ({f['block']}): {f['message']}" for f in failed[:50]]
    return "\n".join(lines) + "\n"


def render_html(report: dict[str, Any], *, png: bytes | None = None) -> str:
    """A self-contained HTML page (the PNG, if given, is embedded as base64)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>CV report: {e(str(report.get('name', '')))}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
        "td:first-child{text-align:left}code,pre{background:#f6f6f6}</style></head><body>",
        f"<h1>CV report: {e(str(report.get('name', '')))}</h1>",
        f"<p>{e(_protocol_line(report)).replace('**', '')}</p>",
    ]
    for title, header, rows in _tables(report):
        parts.append(f"<h2>{e(title)}</h2><table><tr>")
        parts += [f"<th>{e(h)}</th>" for h in header]
        parts.append("</tr>")
        for r in rows:
            parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
        parts.append("</table>")
    if png:
        b64 = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>Confusion matrix</h2><img alt='confusion matrix' "
                     f"src='data:image/png;base64,{b64}'>")  # fmt: skip
    parts.append("<h2>Best parameters</h2><pre>"
                 + e(json.dumps(report.get("best_params", {}), indent=2, sort_keys=True))
                 + "</pre>")  # fmt: skip
    parts.append("<h2>Versions</h2><pre>"
                 + e(json.dumps(report.get("versions", {}), indent=2)) + "</pre>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def _finite(value: Any) -> Any:
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def write_reports(report: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``cv_report.json``, ``cv_report.md``, ``cv_report.html`` and ``confusion.png``.

    Returns ``{"json", "markdown", "html", "confusion"}`` → paths.
    """
    from ._plots import plot_confusion

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conf = report.get("confusion", {})
    png = plot_confusion(
        conf.get("matrix", []), conf.get("labels", []), title=str(report.get("name", ""))
    )
    paths = {
        "json": out / "cv_report.json",
        "markdown": out / "cv_report.md",
        "html": out / "cv_report.html",
        "confusion": out / "confusion.png",
    }
    atomic_write_bytes(paths["confusion"], png)
    text = json.dumps(_finite(report), indent=2, sort_keys=False, allow_nan=False, default=str)
    atomic_write_bytes(paths["json"], (text + "\n").encode("utf-8"))
    atomic_write_bytes(paths["markdown"], render_markdown(report).encode("utf-8"))
    atomic_write_bytes(paths["html"], render_html(report, png=png).encode("utf-8"))
    return paths
