"""Evaluation: speaker-independent nested CV, final models, scoring, metrics and reports.

One module per job: ``_splits`` (usable rows, groups, outer and inner folds), ``_search`` (the
grid search inside a training part, the outer loop), ``_run`` (:func:`run_cv` and its
:class:`CVReport`), ``_final`` (:func:`fit_final`), ``_scoring`` (:func:`score_model`),
``_metrics``, ``_plots`` and ``_report`` (the files a person reads).
"""

from ._cvreport import CVReport
from ._final import fit_final
from ._metrics import METRIC_KEYS, chance_metrics, compute_metrics, metrics_from_confusion
from ._plots import fold_summary, plot_confusion, plot_folds
from ._report import REPORT_KEYS, render_html, render_markdown, write_reports
from ._run import run_cv
from ._scoring import score_model
from ._splits import NoGroupsWarning

__all__ = [
    "CVReport",
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
    "write_reports",
]
