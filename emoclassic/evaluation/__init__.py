"""Evaluation: speaker-independent nested CV, final models, scoring, metrics and reports."""

from ._cv import NoGroupsWarning, fit_final, run_cv, score_model, warm_cache
from ._metrics import METRIC_KEYS, chance_metrics, compute_metrics, metrics_from_confusion
from ._plots import fold_summary, plot_confusion, plot_folds
from ._report import REPORT_KEYS, render_html, render_markdown, write_reports

__all__ = [
    "METRIC_KEYS",
    "REPORT_KEYS",
    "NoGroupsWarning",
    "chance_metrics",
    "compute_metrics",
    "fit_final",
    "fold_summary",
    "metrics_from_confusion",
    "plot_confusion",
    "plot_folds",
    "render_html",
    "render_markdown",
    "run_cv",
    "score_model",
    "warm_cache",
    "write_reports",
]
