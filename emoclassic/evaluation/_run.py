"""The cross-validation run: precompute once, evaluate the folds (and each modality alone),
assemble the :class:`CVReport`.

Features are extracted once for the whole manifest before any fold (the extractors are
stateless) by the shared precompute step, then read from memory, so no fold or candidate
re-extracts anything; items that fail to extract are dropped and listed in the report. Every
seed is fixed.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._config import config_context
from .._json import jsonable as _json_safe
from .._versions import versions
from ..features import BaseExtractor, block_extractors, precompute
from ._ambiguity import high_agreement_metrics, labels_protocol, stratify_labels
from ._cvreport import CVReport
from ._metrics import calibration_summary, chance_metrics, compute_metrics, risk_coverage
from ._search import _attention_report, _evaluate, _majority, _most_frequent
from ._splits import (
    CORPUS,
    LABEL,
    _check_corpus_scheme,
    _combined,
    _groups,
    _outer_splits,
    _prepare,
    _resolve_auto,
    _resolve_protocol,
    _runtime,
    _spec_of,
)

logger = logging.getLogger(__name__)

__all__ = ["run_cv"]


def _feature_identities(spec) -> dict[str, Any]:
    """Each block's type, options, extractor configuration and model or weights identity."""
    from ..fusion import build_pipeline

    out: dict[str, Any] = {}
    pipe = build_pipeline(spec)
    exts = dict(block_extractors(pipe))
    for name, block in spec.features.items():
        info: dict[str, Any] = {"type": block.type, "options": _json_safe(block.options)}
        ext = exts.get(name)
        if ext is None:
            ext = next((e for _, e in _block_steps(pipe, name)), None)
        if ext is not None:
            info["class"] = type(ext).__name__
            if isinstance(ext, BaseExtractor):
                info["config"] = _json_safe(ext._config())
            for attr in ("model_identity", "weights_info"):
                fn = getattr(ext, attr, None)
                if callable(fn):
                    try:
                        info[attr] = _json_safe(fn())
                    except Exception as exc:  # noqa: BLE001 - identity is informative only
                        info[attr] = f"unavailable: {exc}"
        out[name] = info
    return out


def _block_extractors_all(pipe, block: str):
    """Extractors of ``block`` that are not BaseExtractors (e.g. TF-IDF)."""
    for key, value in pipe.get_params(deep=True).items():
        parts = key.split("__")
        if len(parts) >= 2 and parts[-1] == "extract" and parts[-2] == block:
            yield key, value


def _block_steps(pipe, block: str):
    """The ``extract`` steps of ``block`` that are not BaseExtractors (e.g. TF-IDF)."""
    for key, value in pipe.get_params(deep=True).items():
        parts = key.split("__")
        if len(parts) >= 2 and parts[-1] == "extract" and parts[-2] == block:
            yield key, value


def run_cv(
    spec,
    manifest: pd.DataFrame,
    *,
    scheme: str | None = None,
    groups: str | None = None,
    n_jobs: int | None = None,
    ablation: bool = False,
    cache: Any = None,
    progress: bool | None = None,
    random_state: int = 0,
    backend: str | None = None,
    scheduler: str | None = None,
    test_sets: Mapping[str, pd.DataFrame] | Sequence[pd.DataFrame] | None = None,
) -> CVReport:
    """Nested, speaker-independent CV of ``spec`` on ``manifest``: the cv_report content.

    ``scheme`` and ``groups`` override the spec's ``cv.scheme`` and ``cv.groups``
    (``scheme="corpus"``: leave one corpus out, by the ``corpus`` column; with several corpora
    every speaker group is a (corpus, speaker) pair). ``test_sets`` (name -> manifest, or
    frames named by their corpus) turns on train-on/test-on: after the CV, one model is
    tuned and fitted on all of ``manifest`` and scored once on each test set, into the
    report's ``cross_corpus`` (the top-level metrics stay the in-corpus CV's). ``n_jobs``
    runs grid candidates and inner folds in parallel; ``ablation=True`` on a spec with several
    modalities also evaluates each modality alone on the same outer folds. ``backend="dask"``
    runs the extraction chunks and the grid's fits on the Dask cluster at ``scheduler`` (or a
    local cluster of ``n_jobs`` workers); the report is the same as with ``"local"``.
    ``cache``, ``n_jobs``, ``progress``, ``backend`` and ``scheduler`` left at None take the
    values of :func:`emoclassic.config_context`.
    """
    from ..parallel import parallel_backend

    runtime = _runtime(cache=cache, n_jobs=n_jobs, progress=progress, backend=backend,
                       scheduler=scheduler)
    with config_context(**runtime) as cfg, parallel_backend(
        cfg["backend"], scheduler=cfg["scheduler"], n_workers=cfg["n_jobs"]
    ):
        return _run_cv(spec, manifest, scheme=scheme, groups=groups, n_jobs=cfg["n_jobs"],
                       ablation=ablation, progress=cfg["progress"],
                       random_state=random_state, test_sets=test_sets)  # fmt: skip


def _calibration(spec, y, proba, covered, labels) -> dict[str, Any] | None:
    """``calibration`` of the report: the pooled out-of-fold probabilities' ECE, bins and
    where the probabilities come from; None (no key) when the model has no predict_proba."""
    from ..fusion._build import calibration_methods

    if proba is None:
        logger.warning("%s: the model has no predict_proba; cv_report has no calibration",
                       spec.name)  # fmt: skip
        return None
    out = calibration_summary(y[covered], proba[covered], labels)
    return {**out, "methods": calibration_methods(spec)}


def _predictions(ids, y, y_pred, fold_of, proba, labels) -> list[dict[str, Any]]:
    """One entry per scored item; ``probabilities`` (label → p, 6 decimals) when the model
    gives them, so a reliability diagram or another calibration measure can be drawn later."""
    out = []
    for k, (i, t, p, f) in enumerate(zip(ids, y, y_pred, fold_of, strict=True)):
        if f < 0:
            continue
        row: dict[str, Any] = {"id": str(i), "label": str(t), "predicted": str(p), "fold": int(f)}
        if proba is not None:
            row["probabilities"] = {str(lab): round(float(v), 6)
                                    for lab, v in zip(labels, proba[k], strict=True)}  # fmt: skip
        out.append(row)
    return out


def _run_cv(spec, manifest, *, scheme, groups, n_jobs, ablation, progress,
            random_state, test_sets=None) -> CVReport:  # fmt: skip
    from ._cross import check_test_sets, score_test_sets


    t_start = time.perf_counter()
    spec = _spec_of(spec)
    spec, scheme, column, inner, n_splits, inner_splits = _resolve_protocol(spec, scheme,
                                                                            groups)
    df, n_unlabelled = _prepare(manifest, keep_votes=spec.labels.mode == "soft")
    n_input = len(manifest)
    scheme = _resolve_auto(scheme, df)
    if scheme == "corpus":
        _check_corpus_scheme(df)
    tests = check_test_sets(df, test_sets) if test_sets is not None else {}

    pre = precompute(spec, df)
    ablation_specs: dict[str, Any] = {}
    if ablation and len(spec.modalities()) > 1:
        for mod in spec.modalities():
            ablation_specs[mod] = spec.restrict(mod)
            with config_context(progress=False):
                pre.merge(precompute(ablation_specs[mod], df, tables=pre.tables))
    elif ablation:
        logger.warning("ablation: %s uses one modality only; nothing to compare", spec.name)
    failed = [f.to_dict() for f in pre.failures]
    bad = pre.failed_ids
    t_extract = pre.seconds
    if bad:
        logger.warning("%d item(s) failed to extract and are left out", len(bad))
        df = pre.good(df)

    y = df[LABEL].to_numpy(dtype=object)
    labelled = y != ""  # "": votes without a majority label (soft mode): trained, not scored
    labels = sorted(set(y[labelled]))
    g = _groups(df, column)
    inner_column, inner_g = column, g  # the grid search's groups inside a training part
    if scheme == "corpus":  # outside: corpora; inside: (corpus, speaker) pairs
        column, g = CORPUS, _groups(df, CORPUS)
    splits, dev_mask = _outer_splits(scheme, stratify_labels(df, y), g, df, n_splits, column,
                                     random_state)  # fmt: skip
    splits = [(train, test[labelled[test]]) for train, test in splits]
    for train, test in splits:
        if (
            g is not None
            and scheme in ("group", "groupkfold", "logo", "corpus")
            and (set(g[train]) & set(g[test]))
        ):
            raise AssertionError("internal error: a group is in both train and test")

    t_cv = time.perf_counter()
    common = dict(
        tables=pre.tables,
        inner=inner,
        inner_splits=inner_splits,
        n_jobs=n_jobs,
        random_state=random_state,
        progress=progress,
        labels=labels,
        inner_groups=inner_g,
    )
    y_pred, fold_of, folds, grids, proba = _evaluate(spec, df, y, g, splits, dev_mask, **common)
    attention, attention_rows = _attention_report(folds, y, len(y))
    covered = fold_of >= 0
    scored = compute_metrics(y[covered], y_pred[covered], labels=labels)
    calibration = _calibration(spec, y, proba, covered, labels)
    risk = risk_coverage(y[covered], proba[covered], labels) if calibration else None
    high = high_agreement_metrics(spec.labels, df, y, y_pred, covered, labels)
    ablation_out: dict[str, Any] | None = None
    if ablation_specs:
        ablation_out = {}
        for mod, rspec in ablation_specs.items():
            p, fo, f, _, pr = _evaluate(rspec, df, y, g, splits, dev_mask, **common)
            _attention_report(f, y, len(y))  # per-modality runs: one block, nothing to show
            c = fo >= 0
            cal = _calibration(rspec, y, pr, c, labels)
            ablation_out[mod] = {
                "metrics": compute_metrics(y[c], p[c], labels=labels)["metrics"],
                "ece": cal["ece"] if cal else None,
                "best_params": _most_frequent([x["best_params"] for x in f]),
                "spec": rspec.to_dict(),
            }
        ablation_out["fused"] = {
            "metrics": scored["metrics"],
            "best_params": _most_frequent([f["best_params"] for f in folds]),
        }
    t_end = time.perf_counter()
    cross = None
    if tests:
        cross = score_test_sets(spec, df, pre.tables, tests, scheme=scheme,
                                column=inner_column, inner=inner, inner_splits=inner_splits,
                                n_jobs=n_jobs, random_state=random_state)  # fmt: skip
    t_cross = time.perf_counter()

    from ..fusion import friendly_candidates

    report = CVReport(
        name=spec.name,
        metrics=scored["metrics"],
        metrics_high_agreement=high,
        per_class=scored["per_class"],
        confusion=scored["confusion"],
        baselines={
            "majority": _majority(y, splits, labels),
            "chance": chance_metrics(y[covered], labels=labels),
        },
        folds=folds,
        best_params=_most_frequent([f["best_params"] for f in folds]),
        grid={
            "candidates": _json_safe(friendly_candidates(spec)),
            "scoring": spec.scoring,
            "folds": grids,
        },
        protocol={
            "scheme": scheme,
            "groups": column,
            "n_outer_folds": len(splits),
            "inner": "split (dev)"
            if scheme == "split" and dev_mask is not None and dev_mask.any()
            else inner,  # fmt: skip
            "inner_splits": inner_splits,
            **spec.adaptation_protocol(),  # normalization, adaptation, speaker_normalization
            "scoring": spec.scoring,
            "random_state": random_state,
            "labels": labels_protocol(spec.labels, manifest, df),
        },
        data={
            "n_items": int(len(df)),
            "n_input": int(n_input),
            "n_unlabelled": n_unlabelled,
            "classes": {str(k): int(v) for k, v in sorted(Counter(y[labelled]).items())},
            "groups": (
                {str(k): int(v) for k, v in sorted(Counter(g).items())} if g is not None else {}
            ),  # fmt: skip
            "group_column": column,
            "failed": failed,
            "n_failed": len(bad),
            **_combined(manifest),
        },
        predictions=_predictions(df["id"], y, y_pred, fold_of, proba, labels),
        calibration=calibration,
        risk_coverage=risk,
        spec=_json_safe(spec.to_dict()),
        features=_feature_identities(spec),
        timing={
            "extraction": round(t_extract, 3),
            "cv": round(t_end - t_cv, 3),
            **({"cross_corpus": round(t_cross - t_end, 3)} if cross else {}),
            "total": round(t_cross - t_start, 3),
        },
        versions=versions(),
    )
    report.ablation = ablation_out
    report.cross_corpus = cross
    if attention is not None:
        report.attention = attention
        for row, i in zip(report.predictions, np.flatnonzero(fold_of >= 0), strict=True):
            row["attention"] = {
                b: round(float(attention_rows[i, j]), 4) for j, b in enumerate(attention["blocks"])
            }
    return report
