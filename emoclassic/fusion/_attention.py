"""Attention fusion in a pipeline: the fused feature blocks and a classifier that knows where
each block starts and ends.

``fusion = "attention"`` builds ``Pipeline[fusion: AttentionFusion(features=ColumnTransformer,
classifier=AttentionFusionClassifier)]``. The classifier must know the block boundaries of the
fused matrix, which exist only once the ColumnTransformer is fitted (PCA, extractor widths), so
:class:`AttentionFusion` fits the blocks, reads their column slices (``output_indices_``) and
hands them to the classifier as ``blocks=[(name, width), ...]``. Grid paths keep the early
layout's shape (``fusion__features__<block>__...``, ``fusion__classifier__...``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["AttentionFusion", "attention_summary", "attention_weights"]


class AttentionFusion(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit ``features`` (a ColumnTransformer of named blocks), then ``classifier`` (with a
    ``blocks`` parameter, e.g. :class:`~emoclassic.models.AttentionFusionClassifier`) on its
    output with ``blocks`` set to the fitted blocks' names and widths.

    ``predict_attention(X)`` gives the classifier's per-row attention over the blocks.
    """

    def __init__(self, features, classifier):
        self.features = features
        self.classifier = classifier

    def fit(self, X, y, sample_weight=None):
        """Fit the blocks, read their column ranges, fit the classifier (with
        ``sample_weight`` when given: the classifier must take it); returns self."""
        if "blocks" not in self.classifier.get_params(deep=False):
            raise ConfigError(
                f"attention fusion needs a classifier with a 'blocks' parameter (such as "
                f"'attention'); {type(self.classifier).__name__} has none"
            )
        self.features_ = clone(self.features)
        Xt = self.features_.fit_transform(X, y)
        slices = sorted(
            ((n, s) for n, s in self.features_.output_indices_.items() if s.stop > s.start),
            key=lambda item: item[1].start,
        )
        self.block_names_ = [n for n, _ in slices]
        self.classifier_ = clone(self.classifier).set_params(
            blocks=[(n, int(s.stop - s.start)) for n, s in slices]
        )
        self.classifier_.fit(Xt, y, **({} if sample_weight is None else
                                       {"sample_weight": sample_weight}))  # fmt: skip
        self.classes_ = self.classifier_.classes_
        return self

    def _transform(self, X):
        check_is_fitted(self, "classifier_")
        return self.features_.transform(X)

    def predict(self, X) -> np.ndarray:
        return self.classifier_.predict(self._transform(X))

    def predict_proba(self, X) -> np.ndarray:
        return self.classifier_.predict_proba(self._transform(X))

    def predict_attention(self, X) -> np.ndarray:
        """Attention weights ``(n_rows, n_blocks)``, columns in the order of ``block_names_``."""
        return self.classifier_.predict_attention(self._transform(X))


def _attention_step(estimator):
    """The step of ``estimator`` (a Pipeline or an estimator) that has ``predict_attention``."""
    if hasattr(estimator, "predict_attention"):
        return estimator
    steps = getattr(estimator, "steps", None)
    if steps and hasattr(steps[-1][1], "predict_attention"):
        return steps[-1][1]
    return None


def attention_weights(estimator, X) -> pd.DataFrame | None:
    """Per-row attention of a fitted attention-fusion model as a DataFrame (one column per
    block, indexed by the manifest's ``id`` when it has one); None for other models.

    Works on a fitted spec pipeline (``Pipeline[fusion: AttentionFusion]``) or on the
    fusion step itself, fed the manifest as for ``predict``.
    """
    step = _attention_step(estimator)
    if step is None:
        return None
    a = step.predict_attention(X)
    names = list(getattr(step, "block_names_", None) or [f"block{i}" for i in range(a.shape[1])])
    index = None
    if isinstance(X, pd.DataFrame) and "id" in X.columns:
        index = pd.Index(X["id"].astype(str), name="id")
    return pd.DataFrame(a, columns=names, index=index)


def attention_summary(estimator, X) -> dict[str, Any] | None:
    """``{"blocks": [...], "mean": {block: mean weight}, "argmax": {block: share of rows}}``
    for reports (None for models without attention)."""
    df = attention_weights(estimator, X)
    if df is None:
        return None
    top = df.to_numpy().argmax(axis=1)
    return {
        "blocks": list(df.columns),
        "mean": {c: round(float(df[c].mean()), 4) for c in df.columns},
        "argmax": {c: round(float(np.mean(top == j)), 4) for j, c in enumerate(df.columns)},
        "n": int(len(df)),
    }
