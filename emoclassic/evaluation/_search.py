"""Fitting inside the folds: the (nested) grid search on one training part, the outer loop.

Every fit reads the precomputed feature tables (:func:`emoclassic.features.with_lookups`), so
no fold or grid candidate extracts anything; a model to save is fitted with its real
extractors while the same tables are active (:func:`emoclassic.features.use_tables`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from .._json import jsonable as _json_safe
from ..features import use_tables, with_lookups
from ._ambiguity import training_rows
from ._metrics import compute_metrics
from ._splits import _inner_cv

__all__: list[str] = []


def _cv_results(gs: GridSearchCV | None) -> dict[str, Any] | None:
    if gs is None:
        return None
    res = {k: v for k, v in gs.cv_results_.items() if k != "params" and not k.startswith("param_")}
    return _json_safe(res)


def _canonical(params: dict) -> str:
    return json.dumps(_json_safe(params), sort_keys=True)



def _label_scored(scoring: str) -> bool:
    """Whether the scorer reads only predicted labels (not probabilities)."""
    from sklearn.metrics import get_scorer

    return getattr(get_scorer(scoring), "_response_method", None) == "predict"


def _deferred_calibration(pipe, scoring: str) -> str | None:
    """The fused calibration a grid search may leave out, or None.

    Voting and adaptive fusion refit their branches once per calibration fold to fit one
    temperature, which never changes a prediction: a search scored on labels would rank the
    candidates identically without it, so it is fitted only for the model that is kept (the
    search costs ``cv + 1`` times less).
    """
    fusion = dict(pipe.steps).get("fusion")
    params = fusion.get_params(deep=False) if fusion is not None else {}
    method = params.get("calibration")
    if method in (None, "none") or "cv" not in params or not _label_scored(scoring):
        return None
    return method


def _fit_one(
    spec, tables, X, y, groups, dev_mask, inner, inner_splits, n_jobs, random_state, *,
    lookups: bool = True, classes=None,
):  # fmt: skip
    """Tune (if the grid has several candidates) and fit on one training part.

    ``lookups=False`` returns a model with the real extractors (to be saved), fitted while
    ``tables`` are active; the search itself always reads the tables through lookups. A fused
    calibration that cannot change the search's ranking is left out of the search and fitted
    with the kept model (:func:`_deferred_calibration`). The spec's ``[labels]`` decide the
    rows, labels and weights fitted on (:func:`._ambiguity.training_rows`; ``classes``: the
    run's label space); the search's folds are then cut over utterances and score hard labels.
    """
    from ..fusion import build_pipeline, friendly_candidates, param_grid, translate_params

    rows = training_rows(X, y, spec.labels, classes)
    if rows is not None:
        X, y = rows.X, rows.y

    def fit(pipe):
        return pipe.fit(X, y, **(rows.fit_params(pipe) if rows is not None else {}))

    candidates = friendly_candidates(spec)
    if len(candidates) == 1:
        pipe = build_pipeline(spec)
        if lookups:
            with_lookups(pipe, tables)
        pipe.set_params(**translate_params(spec, candidates[0]))
        with use_tables(tables):
            return fit(pipe), candidates[0], None
    scoring = spec.scoring
    if rows is None:
        cv, wants_groups = _inner_cv(inner, inner_splits, y, groups, dev_mask, random_state)
    else:
        cv = rows.inner_splits(inner, inner_splits, groups, dev_mask, random_state)
        wants_groups, scoring = False, rows.scorer(spec.scoring)
    template = with_lookups(build_pipeline(spec), tables)
    deferred = _deferred_calibration(template, spec.scoring)
    if deferred is not None:
        template.set_params(fusion__calibration="none")
    gs = GridSearchCV(
        template,
        param_grid(spec),
        scoring=scoring,
        cv=cv,
        n_jobs=n_jobs,
        refit=lookups and deferred is None,
        error_score="raise",
    )
    gs.fit(X, y, groups=groups if wants_groups else None,
           **(rows.fit_params(template) if rows is not None else {}))  # fmt: skip
    best = candidates[gs.best_index_]
    if lookups and deferred is None:
        return gs.best_estimator_, best, gs
    if lookups:  # GridSearchCV's refit, with the calibration the search left out
        final = clone(template).set_params(**gs.best_params_, fusion__calibration=deferred)
        with use_tables(tables):
            return fit(final), best, gs
    final = build_pipeline(spec).set_params(**translate_params(spec, best))
    with use_tables(tables):
        return fit(final), best, gs


def _one_blas_thread():
    """Fits on cached features run with one BLAS thread.

    The models are small; a multi-threaded OpenBLAS spends more time waking its threads than
    computing (30x slower L-BFGS fits were measured on a busy 2-core machine). Parallelism
    comes from ``n_jobs`` (joblib limits BLAS threads in its workers the same way).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _evaluate(spec, df, y, groups, splits, dev_mask, **kwargs):
    with _one_blas_thread():
        return _evaluate_folds(spec, df, y, groups, splits, dev_mask, **kwargs)


def _oof_proba(est, X, labels) -> np.ndarray | None:
    """The fitted model's probabilities on ``X``, one column per label of the whole run (a
    class missing from this training part gets 0); None when it has no ``predict_proba``."""
    from ..fusion import aligned_proba

    try:
        if not callable(getattr(est, "predict_proba", None)):
            return None
    except AttributeError:  # available_if: the final step lacks it
        return None
    return aligned_proba(est, X, np.asarray(labels, dtype=object))


def _evaluate_folds(spec, df, y, groups, splits, dev_mask, *, tables, inner, inner_splits,
                    n_jobs, random_state, progress, labels, inner_groups=None):  # fmt: skip
    """Fit and predict every outer fold: out-of-fold predictions, the folds' records, the
    grids' results and the out-of-fold probabilities (n × labels; None when the model has no
    ``predict_proba``: the calibration error needs them, the other scores do not).

    ``groups`` are the outer folds' groups (what each fold's record lists);
    ``inner_groups`` those of the grid search inside a training part when they differ
    (leave one corpus out: corpora outside, (corpus, speaker) pairs inside)."""
    from .._config import progress_bar
    from ..fusion import attention_weights

    y_pred = np.empty(len(y), dtype=object)
    proba: np.ndarray | None = np.full((len(y), len(labels)), np.nan)
    fold_of = np.full(len(y), -1)
    folds = []
    grids = []
    for k, (train, test) in enumerate(
        progress_bar(splits, desc=f"cv {spec.name}", enabled=bool(progress), leave=False)
    ):
        t0 = time.perf_counter()
        g_train = groups[train] if groups is not None else None
        g_inner = inner_groups[train] if inner_groups is not None else g_train
        est, best, gs = _fit_one(
            spec,
            tables,
            df.iloc[train],
            y[train],
            g_inner,
            dev_mask,
            inner,
            inner_splits,
            n_jobs,
            random_state,
            classes=labels,
        )
        pred = np.asarray(est.predict(df.iloc[test]), dtype=object)
        y_pred[test] = pred
        if proba is not None:
            p = _oof_proba(est, df.iloc[test], labels)
            if p is None:
                proba = None
            else:
                proba[test] = p
        fold_of[test] = k
        m = compute_metrics(y[test], pred, labels=labels)["metrics"]
        folds.append({
            "fold": k,
            "metrics": m,
            "best_params": _json_safe(best),
            "best_score": _json_safe(gs.best_score_) if gs is not None else None,
            "n_train": int(len(train)),
            "n_test": int(len(test)),
            "train_groups": sorted(set(map(str, g_train))) if g_train is not None else [],
            "test_groups": sorted(set(map(str, groups[test]))) if groups is not None else [],
            "seconds": round(time.perf_counter() - t0, 3),
        })  # fmt: skip
        grids.append(_cv_results(gs))
        att = attention_weights(est, df.iloc[test])
        if att is not None:  # attention fusion: which modality each prediction leaned on
            folds[-1]["attention"] = {c: round(float(att[c].mean()), 4) for c in att.columns}
            folds[-1]["_attention_rows"] = (test, att.to_numpy(), list(att.columns))
    return y_pred, fold_of, folds, grids, proba


def _attention_report(folds: list[dict], y, n: int) -> tuple[dict | None, np.ndarray | None]:
    """Out-of-fold attention weights (popped from ``folds``): summary and the (n, blocks) rows."""
    parts = [f.pop("_attention_rows") for f in folds if "_attention_rows" in f]
    if not parts:
        return None, None
    blocks = parts[0][2]
    rows = np.full((n, len(blocks)), np.nan)
    for test, a, _ in parts:
        rows[test] = a
    seen = ~np.isnan(rows).any(axis=1)
    per_class = {
        str(c): {b: round(float(rows[seen & (y == c), j].mean()), 4) for j, b in enumerate(blocks)}
        for c in sorted(set(y[seen]))
    }
    summary = {
        "blocks": blocks,
        "mean": {b: round(float(rows[seen, j].mean()), 4) for j, b in enumerate(blocks)},
        "per_class": per_class,
        "n": int(seen.sum()),
    }
    return summary, rows


def _majority(y, splits, labels) -> dict[str, Any]:
    pred = np.empty(len(y), dtype=object)
    covered = np.zeros(len(y), dtype=bool)
    for train, test in splits:
        counts = Counter(v for v in y[train] if v != "")  # "": votes, no label
        top = max(sorted(counts), key=lambda c: counts[c])
        pred[test] = top
        covered[test] = True
    return compute_metrics(y[covered], pred[covered], labels=labels)["metrics"]


def _most_frequent(params: list[dict]) -> dict:
    if not params:
        return {}
    keys = [_canonical(p) for p in params]
    counts = Counter(keys)
    best = max(keys, key=lambda k: (counts[k], -keys.index(k)))
    return json.loads(best)
