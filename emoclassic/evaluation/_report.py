"""Writing CV reports: JSON (the record), Markdown (for docs) and self-contained HTML.

Every file is written atomically (temp file in the same folder, then ``os.replace``), so an
interrupted run never leaves half a report. The HTML embeds the confusion-matrix, per-fold and
reliability PNGs as base64 and needs nothing else to display. Markdown and HTML are built from
the same pieces (tables, notes, prose written in Markdown's inline syntax); the HTML converts the
inline syntax (``code`` spans, ``**bold**``) rather than showing it raw.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .._atomic import atomic_write_bytes
from .._json import jsonable
from ._metrics import METRIC_KEYS
from ._plots import fold_summary

__all__ = ["REPORT_KEYS", "render_html", "render_markdown", "write_reports"]

#: top-level keys of every cv_report.json (``calibration`` too when the model gives
#: probabilities, as every shipped spec does; ``ablation`` only with ``ablation=True``)
REPORT_KEYS = (
    "name", "metrics", "per_class", "confusion", "baselines", "folds", "best_params", "grid",
    "protocol", "data", "predictions", "spec", "features", "timing", "versions",
)  # fmt: skip

_METRIC_NAMES = {"ua": "UA", "wa": "WA", "macro_f1": "macro F1", "weighted_f1": "weighted F1"}


class _Table(NamedTuple):
    """One table of the report; ``foot`` rows are summaries (bold), ``note`` a sentence after."""

    title: str
    header: list[str]
    rows: list[list[str]]
    foot: list[list[str]] = []
    note: str | None = None


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}"


def _pm(stats: dict[str, Any]) -> str:
    """``mean ± sd`` in percent (just the mean when there is no spread to show)."""
    if stats.get("mean") is None:
        return "–"
    if stats.get("sd") is None:
        return _pct(stats["mean"])
    return f"{_pct(stats['mean'])} ± {_pct(stats['sd'])}"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items())) or "–"


def _fold_stats(report: dict[str, Any]) -> dict[str, dict]:
    return fold_summary(report.get("folds") or [], METRIC_KEYS)


def _tables(report: dict[str, Any]) -> list[_Table]:
    """Every table, shared by Markdown and HTML."""
    out = []
    folds = report.get("folds") or []
    stats = _fold_stats(report)
    head = ["", *(_METRIC_NAMES[k] for k in METRIC_KEYS)]
    rows = [["model (pooled)", *(_pct(report["metrics"].get(k)) for k in METRIC_KEYS)]]
    if len(folds) > 1:
        rows.append([f"model (mean ± sd of {len(folds)} folds)",
                     *(_pm(stats[k]) for k in METRIC_KEYS)])  # fmt: skip
    high = report.get("metrics_high_agreement")
    if high and high.get("metrics"):
        rows.append([f"high-agreement items ({high['n']} of {high['n_with_votes']} voted, "
                     f"agreement ≥ {high['threshold']:g})",
                     *(_pct(high["metrics"].get(k)) for k in METRIC_KEYS)])  # fmt: skip
    for name, m in report.get("baselines", {}).items():
        rows.append([f"{name} baseline", *(_pct(m.get(k)) for k in METRIC_KEYS)])
    out.append(_Table(
        "Scores (%)", head, rows,
        note="Pooled: every item scored once, by the model of the outer fold that held it out. "
             "Mean ± sd: each outer fold scored alone (sample standard deviation over folds).",
    ))  # fmt: skip
    if "ablation" in report:
        rows = [[mod, *(_pct(v["metrics"].get(k)) for k in METRIC_KEYS)]
                for mod, v in report["ablation"].items()]  # fmt: skip
        out.append(_Table("Ablation (%, same outer folds)", ["modality", *head[1:]], rows))
    cross = _cross_corpus_table(report)
    if cross is not None:
        out.append(cross)
    cal = _calibration_table(report)
    if cal is not None:
        out.append(cal)
    risk = _risk_table(report)
    if risk is not None:
        out.append(risk)
    rows = [
        [lab, _pct(v["precision"]), _pct(v["recall"]), _pct(v["f1"]), str(v["support"])]
        for lab, v in report.get("per_class", {}).items()
    ]
    out.append(_Table("Per class (%)", ["class", "precision", "recall", "F1", "support"], rows))
    rows = []
    for f in folds:
        groups = [str(g) for g in f.get("test_groups", [])]
        test = ", ".join(groups[:6]) + (", …" if len(groups) > 6 else "")
        rows.append([
            str(f["fold"]), *(_pct(f["metrics"].get(k)) for k in METRIC_KEYS),
            str(f["n_train"]), str(f["n_test"]), test or "–",
            _params_text(f.get("best_params") or {}),
        ])  # fmt: skip
    foot = []
    if len(folds) > 1:
        foot.append(["mean ± sd", *(_pm(stats[k]) for k in METRIC_KEYS), "", "", "", ""])
    out.append(_Table(
        "Per fold (%)",
        ["fold", *head[1:], "train", "test", "test groups", "best params"],
        rows, foot,
    ))  # fmt: skip
    att = report.get("attention")
    if att:  # attention fusion: the mean out-of-fold weight of each block, overall and by class
        blocks = att["blocks"]
        rows = [["all", *(f"{att['mean'][b]:.3f}" for b in blocks)]]
        rows += [[c, *(f"{w[b]:.3f}" for b in blocks)] for c, w in att["per_class"].items()]
        out.append(_Table("Attention over blocks (out-of-fold means)", ["class", *blocks], rows))
    rows = _feature_rows(report)
    if rows:
        out.append(_Table("Feature blocks", ["block", "type", "extractor", "options",
                                             "weights / model"], rows))  # fmt: skip
    return out


def _cross_corpus_table(report: dict[str, Any]) -> _Table | None:
    """Each test set's scores beside the in-corpus figure, and the drop between them: how
    much of what the cross-validation promises survives another corpus."""
    cross = report.get("cross_corpus")
    if not cross:
        return None
    metrics = report.get("metrics") or {}
    trained_on = next(iter(cross.values())).get("trained_on") or []
    where = f" ({', '.join(trained_on)})" if trained_on else ""
    rows = [[f"in-corpus CV{where}", *(_pct(metrics.get(k)) for k in METRIC_KEYS),
             str(metrics.get("n", "–")), "–", "–"]]  # fmt: skip
    dropped = []
    for name, entry in cross.items():
        m = entry.get("metrics") or {}
        ua, ref = m.get("ua"), metrics.get("ua")
        drop = "–" if ua is None or ref is None else f"{100 * (float(ref) - float(ua)):.1f}"
        rows.append([f"test: {name}", *(_pct(m.get(k)) for k in METRIC_KEYS),
                     str(entry.get("n", "–")), str(entry.get("n_dropped", 0)), drop])  # fmt: skip
        if entry.get("dropped"):
            labels = ", ".join(f"{k} {v}" for k, v in entry["dropped"].items())
            dropped.append(f"`{name}`: {labels}")
    note = (
        "In-corpus: the pooled cross-validation above, on the training corpora. Each test set "
        "is scored once by one model tuned and fitted on all the training rows (tuning folds "
        "grouped by (corpus, speaker)), on the model's classes it contains. UA drop: in-corpus "
        "UA − test UA, in points."
    )
    if dropped:
        note += " Dropped (classes the model does not learn): " + "; ".join(dropped) + "."
    return _Table("Cross-corpus (%)", ["", *(_METRIC_NAMES[k] for k in METRIC_KEYS), "items",
                                       "dropped", "UA drop"], rows, note=note)  # fmt: skip


def _calibration_table(report: dict[str, Any]) -> _Table | None:
    """The reliability bins as a table, the ECE and where the probabilities come from."""
    cal = report.get("calibration")
    if not cal:
        return None
    rows = []
    for b in cal.get("bins") or []:
        if not b.get("count"):
            continue
        gap = None if b.get("accuracy") is None else b["accuracy"] - b["confidence"]
        rows.append([f"{_pct(b['lower'])}–{_pct(b['upper'])}", str(b["count"]),
                     _pct(b.get("confidence")), _pct(b.get("accuracy")),
                     "–" if gap is None else f"{100 * gap:+.1f}"])  # fmt: skip
    methods = cal.get("methods") or {}
    source = ", ".join(f"`{k}`: {v}" for k, v in methods.items()) or "–"
    note = (
        f"ECE {_pct(cal.get('ece'))} % (top-label, {cal.get('n_bins')} equal-width bins, pooled "
        f"out-of-fold probabilities of {cal.get('n')} items); largest bin gap "
        f"{_pct(cal.get('mce'))} %; log-loss {_num(cal.get('log_loss'))}, Brier "
        f"{_num(cal.get('brier'))}. Probabilities: {source}. Gap: accuracy − confidence "
        "(negative: over-confident)."
    )
    return _Table("Calibration (%, out-of-fold)",
                  ["confidence bin", "items", "mean confidence", "accuracy", "gap"], rows,
                  note=note)  # fmt: skip


#: the thresholds of the risk-coverage table (the JSON holds every 0.05)
_RISK_ROWS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _risk_table(report: dict[str, Any]) -> _Table | None:
    """Coverage and accuracy when abstaining below a few confidence thresholds."""
    points = report.get("risk_coverage")
    if not points:
        return None
    rows = [[_num(p["threshold"]).rstrip("0").rstrip(".") if p["threshold"] else "0 (all)",
             _pct(p["coverage"]), str(p["n"]), _pct(p.get("accuracy"))]
            for p in points if any(abs(p["threshold"] - t) < 1e-9 for t in _RISK_ROWS)]
    note = ("What `predict --abstain-below P` would give on these out-of-fold predictions: the "
            "items whose top probability is at least P are answered (coverage), with the "
            "accuracy of their labels; the others are `uncertain`.")
    return _Table("Abstaining: risk-coverage (%, out-of-fold)",
                  ["abstain below", "coverage", "items answered", "accuracy"], rows, note=note)


def _num(x: Any) -> str:
    return "–" if x is None else f"{float(x):.3f}"


def _feature_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, info in (report.get("features") or {}).items():
        if not isinstance(info, dict):
            continue
        options = info.get("options") or {}
        opts = ", ".join(f"{k}={json.dumps(v)}" for k, v in options.items()) or "–"
        rows.append([name, str(info.get("type", "–")), str(info.get("class", "–")), opts,
                     _weights_text(info)])  # fmt: skip
    return rows


def _weights_text(info: dict[str, Any]) -> str:
    w = info.get("weights_info")
    if isinstance(w, dict):
        if w.get("pretrained"):
            source = Path(str(w.get("source"))).name
            return f"pretrained ({source}, sha256 {str(w.get('sha256'))[:12]}…)"
        return f"**random** (seed {w.get('seed')})"
    ident = info.get("model_identity")
    if isinstance(ident, dict) and ident.get("name"):
        return f"{ident['name']} (sha256 {str(ident.get('sha256'))[:12]}…)"
    return "–"


def _notes(report: dict[str, Any]) -> list[str]:
    """Warnings a reader must see before the scores (Markdown inline syntax).

    Why here and not only in the JSON: a seeded random AlexNet gives random-projection
    features, far from what "AlexNet features" suggests; a reader of the page must not
    mistake them for ImageNet transfer learning.
    """
    notes = []
    for name, info in (report.get("features") or {}).items():
        w = info.get("weights_info") if isinstance(info, dict) else None
        if isinstance(w, dict) and not w.get("pretrained"):
            notes.append(
                f"Feature block `{name}` ({info.get('class', 'AlexNet')}) uses **random AlexNet "
                f"weights** (seeded initialisation, seed {w.get('seed')}), not ImageNet weights: "
                "its embeddings are fixed random projections of the spectrogram. Give the block "
                "`weights = \"PATH\"` (a local alexnet-owt-7be5be79.pth) for pretrained features."
            )
    spec = report.get("spec") or {}
    fusion = spec.get("fusion")
    heads = [("classifier", spec.get("classifier"))]
    if isinstance(fusion, dict):
        heads += [(f"fusion.classifiers.{b}", c)
                  for b, c in (fusion.get("classifiers") or {}).items()]  # fmt: skip
    for where, clf in heads:
        if isinstance(clf, dict) and clf.get("name") == "alexnet" and not clf.get("weights"):
            notes.append(
                f"The AlexNet classifier (`{where}`) is trained from **random weights** (seeded "
                f"initialisation, seed {clf.get('seed', 0)}), not fine-tuned from ImageNet."
            )
    failed = (report.get("data") or {}).get("n_failed") or 0
    if failed:
        notes.append(f"{failed} item(s) failed to extract and are not scored (listed at the end).")
    for name, entry in (report.get("cross_corpus") or {}).items():
        if entry.get("n_failed"):
            notes.append(f"Test set `{name}`: {entry['n_failed']} item(s) failed to extract and "
                         "are not scored (listed in cv_report.json).")
    return notes


def _protocol_line(report: dict[str, Any]) -> str:
    p = report.get("protocol", {})
    d = report.get("data", {})
    return (
        f"Scheme **{p.get('scheme')}** by `{p.get('groups')}` ({p.get('n_outer_folds')} outer "
        f"folds; inner: {p.get('inner')}), scoring `{p.get('scoring')}`, normalisation: "
        f"{p.get('normalization') or ('speaker' if p.get('speaker_normalization') else 'none')}, "
        f"adaptation: {p.get('adaptation') or 'none'}; {d.get('n_items')} items, "
        f"{len(d.get('classes', {}))} classes, {len(d.get('groups', {}))} groups, "
        f"{d.get('n_failed', 0)} failed.{_labels_note(p.get('labels') or {})}"
    )


def _labels_note(labels: dict[str, Any]) -> str:
    """How training read the votes (nothing for hard labels on data without votes)."""
    if not labels or (labels.get("mode") == "hard" and not labels.get("n_with_votes")
                      and not labels.get("min_agreement")):  # fmt: skip
        return ""
    text = f" Labels: **{labels.get('mode')}**; {labels.get('n_with_votes', 0)} items with votes"
    if labels.get("n_no_majority"):
        text += f", {labels['n_no_majority']} without a majority ({labels.get('no_majority')})"
    if labels.get("min_agreement"):
        text += (f"; min agreement {labels['min_agreement']:g}: "
                 f"{labels.get('n_below_min_agreement', 0)} left out of training")  # fmt: skip
    return text + "."


def _headline(report: dict[str, Any]) -> str:
    """One sentence a reader can quote: pooled UA, its spread over folds, and chance."""
    m = report.get("metrics") or {}
    ua = _fold_stats(report)["ua"]
    text = f"**UA {_pct(m.get('ua'))} %** (pooled)"
    if ua.get("sd") is not None:
        text += f", {_pm(ua)} % per fold (mean ± sd of {ua['n']})"
    chance = (report.get("baselines") or {}).get("chance", {}).get("ua")
    if chance is not None:
        text += f"; chance {_pct(chance)} %"
    ece = (report.get("calibration") or {}).get("ece")
    if ece is not None:
        text += f"; calibration error (ECE) {_pct(ece)} %"
    return text + "."


def _timing_line(report: dict[str, Any]) -> str:
    t = report.get("timing", {})
    return (f"Timing: extraction {t.get('extraction')} s, CV {t.get('cv')} s, "
            f"total {t.get('total')} s.")  # fmt: skip


def _failed_lines(report: dict[str, Any]) -> list[str]:
    failed = report.get("data", {}).get("failed", [])
    return [f"`{f['id']}` ({f['block']}): {f['message']}" for f in failed[:50]]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(
    report: dict[str, Any],
    *,
    image: str | None = "confusion.png",
    folds_image: str | None = "folds.png",
    reliability_image: str | None = "reliability.png",
    risk_image: str | None = "risk_coverage.png",
) -> str:
    """The report as Markdown (notes, tables of scores, calibration, ablation, classes, folds
    and blocks).

    ``image``, ``folds_image``, ``reliability_image`` and ``risk_image`` are the relative paths
    of the confusion-matrix, per-fold, reliability and risk-coverage PNGs (None leaves a figure
    out).
    """
    lines = [f"# CV report: {report.get('name', 'pipeline')}", "", _protocol_line(report), "",
             _headline(report), ""]  # fmt: skip
    for note in _notes(report):
        lines += [f"> **Note:** {note}", ""]
    for table in _tables(report):
        header = table.header
        lines += [f"## {table.title}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join("---" for _ in header) + "|"]  # fmt: skip
        lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in table.rows]
        lines += ["| " + " | ".join(f"**{_md_cell(c)}**" if c else "" for c in r) + " |"
                  for r in table.foot]  # fmt: skip
        lines.append("")
        if table.note:
            lines += [table.note, ""]
        if table.title.startswith("Per fold") and folds_image and report.get("folds"):
            lines += [f"![scores per fold]({folds_image})", ""]
        if table.title.startswith("Calibration") and reliability_image:
            lines += [f"![reliability diagram]({reliability_image})", ""]
        if table.title.startswith("Abstaining") and risk_image:
            lines += [f"![risk-coverage curve]({risk_image})", ""]
    if image:
        lines += ["## Confusion matrix", "", f"![confusion matrix]({image})", ""]
    lines += [
        "## Best parameters (most frequent over folds)",
        "",
        "```json",
        json.dumps(report.get("best_params", {}), indent=2, sort_keys=True),
        "```",
        "",
        _timing_line(report),
    ]
    failed = _failed_lines(report)
    if failed:
        lines += ["", f"Failed items ({report['data'].get('n_failed', len(failed))}):", ""]
        lines += [f"- {f}" for f in failed]
    return "\n".join(lines) + "\n"


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline_html(text: str) -> str:
    """Markdown inline syntax → HTML: ``code`` spans become <code>, ``**x**`` <strong>.

    Everything else is escaped; code spans are escaped but not further converted.
    """
    parts, pos = [], 0
    for m in _CODE.finditer(text):
        parts.append(_BOLD.sub(r"<strong>\1</strong>", html.escape(text[pos : m.start()])))
        parts.append(f"<code>{html.escape(m.group(1))}</code>")
        pos = m.end()
    parts.append(_BOLD.sub(r"<strong>\1</strong>", html.escape(text[pos:])))
    return "".join(parts)


_NUMERIC = re.compile(r"^[-+]?[0-9][0-9.,]*( ± [0-9.]+)?%?$")


def _column_kinds(table: _Table) -> list[str]:
    """CSS class per column: ``num`` (right-aligned figures), ``text`` (one line) or ``long``
    (wraps): numbers line up, short labels never break, only long text wraps."""
    kinds = []
    for j in range(len(table.header)):
        cells = [r[j] for r in table.rows if j < len(r) and r[j] not in ("", "–")]
        if cells and all(_NUMERIC.match(c) for c in cells):
            kinds.append("num")
        elif any(len(c) > 32 for c in cells):
            kinds.append("long")
        else:
            kinds.append("text")
    return kinds

_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "max-width:64em;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
    "h1{font-size:1.6em;margin-bottom:.3em}h2{font-size:1.2em;margin:1.6em 0 .4em;"
    "border-bottom:1px solid #ddd;padding-bottom:.2em}"
    ".wide{overflow-x:auto}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.92em}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
    "td.text{white-space:nowrap}td.long{min-width:14em}"
    "th{background:#f3f3f3;white-space:nowrap}td.num{text-align:right;white-space:nowrap;"
    "font-variant-numeric:tabular-nums}"
    "tr.foot td{font-weight:bold;background:#fafafa;white-space:nowrap}"
    "code,pre{background:#f3f3f3;border-radius:3px;font-size:.9em}code{padding:0 .2em}"
    "pre{padding:.6em;overflow-x:auto}"
    ".note{background:#fff4e0;border-left:4px solid #e69500;padding:.5em .8em;margin:.8em 0}"
    ".headline{font-size:1.15em}.caption{color:#555;font-size:.9em;margin:.2em 0 1em}"
    "img{max-width:100%;height:auto}figure{margin:.5em 0}"
    "figcaption{color:#555;font-size:.9em}"
)


def _img(png: bytes, alt: str) -> str:
    """An <img> with the PNG inline (the page must stand alone when mailed or archived)."""
    b64 = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


def render_html(
    report: dict[str, Any], *, png: bytes | None = None, folds_png: bytes | None = None,
    reliability_png: bytes | None = None, risk_png: bytes | None = None,
) -> str:
    """A self-contained HTML page; ``png`` (confusion matrix), ``folds_png`` (scores per fold)
    ``reliability_png`` (reliability diagram) and ``risk_png`` (risk-coverage curve), when
    given, are embedded as base64."""
    e = html.escape
    name = e(str(report.get("name", "")))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>CV report: {name}</title><style>{_CSS}</style></head><body>",
        f"<h1>CV report: {name}</h1>",
        f"<p>{_inline_html(_protocol_line(report))}</p>",
        f"<p class='headline'>{_inline_html(_headline(report))}</p>",
    ]
    parts += [f"<div class='note'><strong>Note:</strong> {_inline_html(n)}</div>"
              for n in _notes(report)]  # fmt: skip
    for table in _tables(report):
        parts.append(f"<h2>{e(table.title)}</h2><div class='wide'><table><thead><tr>")
        parts += [f"<th>{e(h)}</th>" for h in table.header]
        parts.append("</tr></thead><tbody>")
        kinds = _column_kinds(table)
        for r, cls in [(r, "") for r in table.rows] + [(r, " class='foot'") for r in table.foot]:
            cells = "".join(f"<td class='{k}'>{_inline_html(c)}</td>"
                            for c, k in zip(r, kinds, strict=False))  # fmt: skip
            parts.append(f"<tr{cls}>{cells}</tr>")
        parts.append("</tbody></table></div>")
        if table.note:
            parts.append(f"<p class='caption'>{_inline_html(table.note)}</p>")
        if table.title.startswith("Per fold") and folds_png:
            parts.append("<figure>" + _img(folds_png, "scores per fold")
                         + "<figcaption>UA, WA and macro F1 of each outer fold; dashed: mean "
                         "UA over folds; dotted: chance.</figcaption></figure>")  # fmt: skip
        if table.title.startswith("Calibration") and reliability_png:
            parts.append("<figure>" + _img(reliability_png, "reliability diagram")
                         + "<figcaption>Accuracy per confidence bin (bars) and the bin's mean "
                         "confidence (dots) against the diagonal of perfect calibration; below: "
                         "share of items per bin.</figcaption></figure>")  # fmt: skip
        if table.title.startswith("Abstaining") and risk_png:
            parts.append("<figure>" + _img(risk_png, "risk-coverage curve")
                         + "<figcaption>Accuracy of the items answered against the share "
                         "answered, abstaining below each confidence threshold (0.05 apart; "
                         "0.3, 0.5, 0.7 and 0.9 marked); dashed: answering all."
                         "</figcaption></figure>")  # fmt: skip
    if png:
        parts.append("<h2>Confusion matrix</h2><figure>"
                     + _img(png, "confusion matrix")
                     + "<figcaption>Rows: true class; columns: predicted. Colour and "
                     "percentage: share of the true class (recall); numbers: items, pooled "
                     "over the outer folds.</figcaption></figure>")  # fmt: skip
    parts.append("<h2>Best parameters (most frequent over folds)</h2><pre>"
                 + e(json.dumps(report.get("best_params", {}), indent=2, sort_keys=True))
                 + "</pre>")  # fmt: skip
    parts.append(f"<p>{_inline_html(_timing_line(report))}</p>")
    failed = _failed_lines(report)
    if failed:
        parts.append(f"<h2>Failed items ({report['data'].get('n_failed', len(failed))})</h2><ul>")
        parts += [f"<li>{_inline_html(f)}</li>" for f in failed]
        parts.append("</ul>")
    parts.append("<h2>Versions</h2><pre>"
                 + e(json.dumps(report.get("versions", {}), indent=2)) + "</pre>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def write_reports(report: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``cv_report.json``, ``cv_report.md``, ``cv_report.html``, ``confusion.png``,
    (when the report has folds) ``folds.png`` and (when it has calibration) ``reliability.png``
    and ``risk_coverage.png``.

    Returns ``{"json", "markdown", "html", "confusion"[, "folds"][, "reliability",
    "risk_coverage"]}`` → paths.
    The plots are
    drawn on bare :class:`matplotlib.figure.Figure` objects, so the caller's matplotlib backend
    and pyplot state are left as they were.
    """
    from ._plots import plot_confusion, plot_folds, plot_reliability, plot_risk_coverage

    report = dict(report)  # a CVReport or a plain dict
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conf = report.get("confusion", {})
    name = str(report.get("name", ""))
    png = plot_confusion(conf.get("matrix", []), conf.get("labels", []),
                         title=f"{name}: confusion matrix" if name else None)  # fmt: skip
    folds = report.get("folds") or []
    chance = (report.get("baselines") or {}).get("chance", {}).get("ua")
    folds_png = plot_folds(folds, chance=chance, title=f"{name}: scores per outer fold"
                           if name else None) if folds else None  # fmt: skip
    cal = report.get("calibration") or {}
    reliability_png = None
    if cal.get("bins"):
        reliability_png = plot_reliability(cal["bins"], ece=cal.get("ece"),
                                           title=f"{name}: reliability" if name else None)
    risk_png = None
    if report.get("risk_coverage"):
        risk_png = plot_risk_coverage(report["risk_coverage"],
                                      title=f"{name}: abstaining" if name else None)
    paths = {
        "json": out / "cv_report.json",
        "markdown": out / "cv_report.md",
        "html": out / "cv_report.html",
        "confusion": out / "confusion.png",
    }
    atomic_write_bytes(paths["confusion"], png)
    if folds_png is not None:
        paths["folds"] = atomic_write_bytes(out / "folds.png", folds_png)
    if reliability_png is not None:
        paths["reliability"] = atomic_write_bytes(out / "reliability.png", reliability_png)
    if risk_png is not None:
        paths["risk_coverage"] = atomic_write_bytes(out / "risk_coverage.png", risk_png)
    # NaN and infinities become null (JSON has neither); numpy values plain numbers
    text = json.dumps(jsonable(report), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(paths["json"], (text + "\n").encode("utf-8"))
    markdown = render_markdown(report, folds_image="folds.png" if folds_png else None,
                               reliability_image="reliability.png" if reliability_png else None,
                               risk_image="risk_coverage.png" if risk_png else None)
    atomic_write_bytes(paths["markdown"], markdown.encode("utf-8"))
    atomic_write_bytes(paths["html"], render_html(report, png=png, folds_png=folds_png,
                                                  reliability_png=reliability_png,
                                                  risk_png=risk_png)
                       .encode("utf-8"))  # fmt: skip
    return paths
