"""Evaluation: speaker-independent nested CV, final models, scoring, metrics and reports.

One module per job: ``_splits`` (usable rows, groups, outer and inner folds), ``_search`` (the
grid search inside a training part, the outer loop), ``_run`` (:func:`run_cv` and its
:class:`CVReport`), ``_final`` (:func:`fit_final`), ``_scoring`` (:func:`score_model`),
``_cross`` (train on some corpora, score others: the report's ``cross_corpus``),
``_metrics`` (scores, baselines and the calibration error), ``_plots`` and ``_report`` (the
files a person reads).
"""

from ._cvreport import CVReport
from ._final import fit_final
from ._metrics import (
    METRIC_KEYS,
    calibration_summary,
    chance_metrics,
    compute_metrics,
    expected_calibration_error,
    metrics_from_confusion,
    risk_coverage,
)
from ._plots import (
    fold_summary,
    plot_confusion,
    plot_folds,
    plot_reliability,
    plot_risk_coverage,
)
from ._report import REPORT_KEYS, render_html, render_markdown, write_reports
from ._run import run_cv
from ._scoring import score_model
from ._splits import NoGroupsWarning

__all__ = [
    "CVReport",
    "METRIC_KEYS",
    "REPORT_KEYS",
    "NoGroupsWarning",
    "calibration_summary",
    "chance_metrics",
    "compute_metrics",
    "expected_calibration_error",
    "fit_final",
    "fold_summary",
    "metrics_from_confusion",
    "plot_confusion",
    "plot_folds",
    "plot_reliability",
    "plot_risk_coverage",
    "render_html",
    "render_markdown",
    "risk_coverage",
    "run_cv",
    "score_model",
    "write_reports",
]
