"""The model to save: tuned on all the data with the spec's inner scheme, then refitted."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .._config import config_context
from .._json import jsonable as _json_safe
from ..features import precompute, use_tables
from ._ambiguity import training_rows
from ._search import _fit_one, _one_blas_thread
from ._splits import (
    LABEL,
    _groups,
    _loud,
    _prepare,
    _resolve_auto,
    _resolve_protocol,
    _runtime,
    _spec_of,
)

logger = logging.getLogger(__name__)

__all__ = ["fit_final"]


def fit_final(
    spec,
    manifest: pd.DataFrame,
    *,
    params: dict | None = None,
    groups: str | None = None,
    cache: Any = None,
    n_jobs: int | None = None,
    random_state: int = 0,
    backend: str | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
):
    """The model to save: tuned on all the data with the spec's inner scheme, then refitted.

    ``params`` (friendly keys or scikit-learn paths, e.g. a cv_report's ``best_params``)
    skip the search. ``groups`` names the column whose values the inner folds must not split
    (default: the spec's ``cv.groups``, the speaker). With ``cv.scheme = "split"`` only train
    and dev rows are used (dev is the validation fold), so the test split stays unseen. The
    returned estimator carries ``emoclassic_fit_`` (best params, rows used, failures).
    ``backend``/``scheduler``: as in :func:`run_cv` (the final refit runs here); ``progress``
    draws the extraction's bars. It also carries ``emoclassic_ood_``, the out-of-distribution
    judge (:func:`emoclassic.ood.fit_model_ood`: one detector per modality on the training
    rows' features, calibrated out of fold by the same groups; None when no block can be
    judged), which prediction reads to flag items unlike the training data.
    Runtime settings left at None take the values of :func:`emoclassic.config_context`;
    none of them is stored in the returned model.
    """
    from ..parallel import parallel_backend

    runtime = _runtime(cache=cache, n_jobs=n_jobs, progress=progress, backend=backend,
                       scheduler=scheduler)
    with config_context(**runtime) as cfg, parallel_backend(
        cfg["backend"], scheduler=cfg["scheduler"], n_workers=cfg["n_jobs"]
    ):
        return _fit_final(spec, manifest, params=params, groups=groups, n_jobs=cfg["n_jobs"],
                          random_state=random_state)  # fmt: skip


def _fit_final(spec, manifest, *, params, groups, n_jobs, random_state):
    spec = _spec_of(spec)
    spec, scheme, column, inner, _, inner_splits = _resolve_protocol(spec, None, groups)
    df, _ = _prepare(manifest, keep_votes=spec.labels.mode == "soft")
    scheme = _resolve_auto(scheme, df)
    pre = precompute(spec, df, variants=params is None)
    failed = [f.to_dict() for f in pre.failures]
    if pre.failures:
        logger.warning("%d item(s) failed to extract and are left out", len(pre.failed_ids))
        df = pre.good(df)
    return fit_rows(spec, df, pre.tables, scheme=scheme, column=column, inner=inner,
                    inner_splits=inner_splits, params=params, n_jobs=n_jobs,
                    random_state=random_state, failed=failed)  # fmt: skip


def fit_rows(spec, df: pd.DataFrame, tables, *, scheme: str, column: str, inner: str,
             inner_splits: int, params: dict | None, n_jobs: int | None, random_state: int,
             failed: list[dict] | None = None, ood: bool = True):  # fmt: skip
    """Tune (unless ``params``) and fit ``spec`` on prepared, extracted rows ``df``.

    The one fitting step of :func:`fit_final` and of the cross-corpus protocol (which fits on
    the rows and ``tables`` its cross-validation already has, so nothing is extracted twice).
    With ``scheme == "split"`` only train and dev rows are used, dev as the validation fold.
    ``ood=False`` skips the out-of-distribution judge (a model that is scored, not saved).
    """
    from ..fusion import build_pipeline, translate_params

    dev_mask = None
    if scheme == "split" and "split" in df.columns:
        split = df["split"].astype(str).str.lower()
        keep = split.isin(["train", "dev"]).to_numpy()
        if keep.any():
            df = df.loc[keep].reset_index(drop=True)
            dev_mask = (df["split"].astype(str).str.lower() == "dev").to_numpy()
    y = df[LABEL].to_numpy(dtype=object)
    classes = sorted(set(y) - {""})  # "": votes without a majority label (soft mode)
    g = _groups(df, column)
    if params is not None:
        est = build_pipeline(spec)
        est.set_params(**translate_params(spec, dict(params)))
        rows = training_rows(df, y, spec.labels, classes)
        X, y_fit = (df, y) if rows is None else (rows.X, rows.y)
        with _one_blas_thread(), use_tables(tables):
            est.fit(X, y_fit, **(rows.fit_params(est) if rows is not None else {}))
        best = dict(params)
    else:
        if g is None and inner != "stratified" and dev_mask is None:
            _loud(f"fit_final: no group column {column!r}; tuning folds are not by speaker")
        with _one_blas_thread():
            est, best, _ = _fit_one(
                spec, tables, df, y, g, dev_mask, inner, inner_splits, n_jobs, random_state,
                lookups=False, classes=classes,
            )  # fmt: skip
    est.emoclassic_ood_ = _fit_ood(est, tables, df, g, column) if ood else None
    est.emoclassic_fit_ = {
        "best_params": _json_safe(best),
        "n_items": int(len(df)),
        "classes": classes,
        "failed": list(failed or []),
        "spec": _json_safe(spec.to_dict()),
    }
    return est


def _fit_ood(est, tables, df, groups, column):
    """The model's out-of-distribution judge; a failure here never costs the fitted model."""
    from ..ood import fit_model_ood

    try:
        with _one_blas_thread():
            return fit_model_ood(est, tables, df, groups, groups_name=column if groups is not
                                 None else None)  # fmt: skip
    except (ValueError, np.linalg.LinAlgError) as exc:
        logger.warning("out-of-distribution detector not fitted (%s); the model predicts "
                       "without the flag", exc)
        return None
