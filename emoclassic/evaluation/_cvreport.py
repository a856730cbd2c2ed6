"""The result of a cross-validation, typed: what ``run_cv`` returns and ``cv_report.json`` holds.

A plain dict with fifteen keys left every reader (the CLI, the report writers, benchmarks)
guessing with ``.get(...) or {}``; :class:`CVReport` names them as typed attributes. It stays a
``dict`` with exactly the keys of ``cv_report.json``, so ``report["metrics"]["ua"]``,
``json.dumps(report)`` and comparisons with a loaded report keep working.
"""

from __future__ import annotations

from typing import Any

from ..features import Failure

__all__ = ["CVReport"]

#: the keys of cv_report.json, in order (docs/cli.md); ``calibration`` and ``risk_coverage``
#: when the model gives probabilities, ``metrics_high_agreement`` when items have votes, the
#: last three only when present
FIELDS = (
    "name", "metrics", "metrics_high_agreement", "per_class", "confusion", "baselines",
    "calibration", "risk_coverage", "folds", "best_params", "grid", "protocol", "data",
    "predictions", "spec", "features", "timing", "versions", "ablation", "attention",
    "cross_corpus",
)  # fmt: skip


def _field(name: str, doc: str) -> property:
    def get(self: CVReport) -> Any:
        return self.get(name)

    def set_(self: CVReport, value: Any) -> None:
        if value is None:
            self.pop(name, None)
        else:
            self[name] = value

    return property(get, set_, doc=doc)


class CVReport(dict):
    """One cross-validation of a spec: scores, folds, protocol, data, predictions.

    Built with keyword arguments named after :data:`FIELDS`; ``calibration`` (a model with
    ``predict_proba``), ``ablation``, ``attention`` and ``cross_corpus`` are present only when
    the run had them (setting one to None removes it).
    """

    def __init__(self, **parts: Any) -> None:
        unknown = set(parts) - set(FIELDS)
        if unknown:
            raise TypeError(f"CVReport: unknown field(s) {sorted(unknown)}")
        super().__init__((k, parts[k]) for k in FIELDS if parts.get(k) is not None)

    name: str = _field("name", "The spec's name.")  # type: ignore[assignment]
    metrics: dict = _field("metrics", "ua, wa, macro_f1, weighted_f1, n over all folds.")  # type: ignore[assignment]
    metrics_high_agreement: dict | None = _field(
        "metrics_high_agreement", "The metrics of the items whose annotators agreed at least "
        "[labels] high_agreement (with votes only).")  # type: ignore[assignment]
    per_class: dict = _field("per_class", "Recall, precision, F1, support per label.")  # type: ignore[assignment]
    confusion: dict = _field("confusion", "labels and matrix (rows: truth).")  # type: ignore[assignment]
    baselines: dict = _field("baselines", "majority and chance metrics.")  # type: ignore[assignment]
    calibration: dict | None = _field("calibration", "ECE and reliability bins (out of fold).")  # type: ignore[assignment]
    risk_coverage: list | None = _field("risk_coverage", "Accuracy and coverage when abstaining "
                                        "below each confidence (out of fold).")  # type: ignore[assignment]
    folds: list = _field("folds", "One entry per outer fold.")  # type: ignore[assignment]
    best_params: dict = _field("best_params", "The most frequent best parameters.")  # type: ignore[assignment]
    grid: dict = _field("grid", "candidates, scoring, and each fold's cv_results.")  # type: ignore[assignment]
    protocol: dict = _field("protocol", "scheme, groups, folds, inner scheme, scoring, seed.")  # type: ignore[assignment]
    data: dict = _field("data", "Rows used, classes, groups and failed items.")  # type: ignore[assignment]
    predictions: list = _field("predictions", "Out-of-fold predictions, one per row.")  # type: ignore[assignment]
    spec: dict = _field("spec", "The spec as a dict.")  # type: ignore[assignment]
    features: dict = _field("features", "Each block's configuration and identity.")  # type: ignore[assignment]
    timing: dict = _field("timing", "Seconds: extraction, cv, total.")  # type: ignore[assignment]
    versions: dict = _field("versions", "Library versions.")  # type: ignore[assignment]
    ablation: dict | None = _field("ablation", "Each modality alone (with --ablation).")  # type: ignore[assignment]
    attention: dict | None = _field("attention", "Attention-fusion weights, when used.")  # type: ignore[assignment]
    cross_corpus: dict | None = _field("cross_corpus", "Each test set scored once by a model "
                                       "fitted on the training corpora.")  # type: ignore[assignment]

    @property
    def ua(self) -> float:
        """Unweighted average recall over all out-of-fold predictions."""
        return float(self["metrics"]["ua"])

    @property
    def ece(self) -> float | None:
        """Expected calibration error of the out-of-fold probabilities (None without them)."""
        cal = self.get("calibration")
        return None if not cal else float(cal["ece"])

    @property
    def failures(self) -> list[Failure]:
        """The items left out because a feature block could not be computed."""
        return [Failure(id=str(f.get("id")), path=f.get("path"), block=f.get("block"),
                        message=str(f.get("message") or ""))
                for f in (self.get("data") or {}).get("failed") or []]
