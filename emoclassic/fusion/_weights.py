"""Sample weights through our pipelines: which keyword reaches the classifier, and which
classifiers can take one at all.

Soft-label and agreement-weighted training (a spec's ``[labels]``) hand every training row a
weight. We pass it as a plain fit parameter, not through scikit-learn's metadata routing (a
global switch that every estimator, ours included, would have to opt in to): a spec pipeline's
last step is its classifier (``clf``) or its fusion (``fusion``), so
``pipe.fit(X, y, <last step>__sample_weight=w)`` reaches it, and ``GridSearchCV.fit`` cuts the
array with the rows of each fold. The fusions pass it on to their branches the same way, the
meta-learner of stacking and the calibration wrapper (scikit-learn's
``CalibratedClassifierCV``) to their estimators. The feature steps before the classifier do not
read weights: scaling, PCA and speaker statistics see a row per copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import has_fit_parameter

from ..exceptions import ConfigError

__all__ = ["accepts_sample_weight", "check_sample_weight", "fit_params", "fit_weighted",
           "unweighted_sites"]  # fmt: skip


def fit_params(estimator: Any, sample_weight: np.ndarray | None) -> dict[str, Any]:
    """The fit keyword that gives ``sample_weight`` to ``estimator``'s classifier:
    ``<last step>__sample_weight`` for a Pipeline, ``sample_weight`` otherwise ({} for None)."""
    if sample_weight is None:
        return {}
    steps = getattr(estimator, "steps", None)
    if steps:
        return {f"{steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


def fit_weighted(estimator: Any, X: Any, y: Any, sample_weight: np.ndarray | None = None):
    """``estimator.fit(X, y)`` with ``sample_weight`` routed to its classifier (when given)."""
    return estimator.fit(X, y, **fit_params(estimator, sample_weight))


def accepts_sample_weight(estimator: Any) -> bool:
    """Whether ``estimator.fit`` uses a ``sample_weight``: its own ``fit`` takes one and so
    does the estimator it wraps (bagging, boosting and calibration pass it on; a calibration
    wrapper around one that cannot would weigh only the calibration)."""
    if not has_fit_parameter(estimator, "sample_weight"):
        return False
    inner = getattr(estimator, "estimator", None)
    return not isinstance(inner, BaseEstimator) or accepts_sample_weight(inner)


def _raw(name: str, params: dict[str, Any]) -> Any:
    from ..models import CLASSIFIERS
    from ..models._zoo import _none

    return CLASSIFIERS[name].factory(**{k: _none(v) for k, v in params.items()})


def unweighted_sites(spec) -> list[tuple[str, str]]:
    """``(the spec's name for the place, classifier)`` of every classifier of ``spec`` whose
    ``fit`` cannot take a ``sample_weight`` (e.g. the torch heads: lstm, attention, alexnet)."""
    from ._build import pipeline_layout

    lay = pipeline_layout(spec)
    places = [(lay.where[site], name, spec.classifier) for site, name, _ in lay.clf_sites]
    places += [(lay.where[site], name, spec.fusion.classifiers[branch])
               for branch, (site, name, _) in lay.override_sites.items()]  # fmt: skip
    if lay.meta is not None:
        places.append(("fusion.meta", lay.meta, spec.fusion.meta))
    out = []
    for where, name, clf in places:
        if not accepts_sample_weight(_raw(name, clf.estimator_params)):
            out.append((where, name))
    return list(dict.fromkeys(out))


def check_sample_weight(spec) -> None:
    """A :class:`ConfigError` when ``spec`` weighs its training rows (``[labels] mode`` soft
    or weighted) but one of its classifiers cannot take the weights."""
    bad = unweighted_sites(spec)
    if bad:
        where, name = bad[0]
        raise ConfigError(
            f"[labels] mode = {spec.labels.mode!r} trains with a sample_weight per row, which "
            f"classifier {name!r} ({where}) cannot take; use mode = 'hard' or a classifier that "
            "takes sample_weight (svc, linearsvc, logreg, random_forest, extra_trees, "
            "bagging_svm, bagging_trees, adaboost, hist_gb, xgboost)"
        )
