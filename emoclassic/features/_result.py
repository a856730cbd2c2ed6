"""What an extraction returns: the good rows, their ids, the failures and the feature names.

Its own module (numpy only) so that the fully cached command-line path
(:mod:`emoclassic.features._cached`) returns the same record as :func:`extract` without
importing scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._failure import Failure

__all__ = ["ExtractionResult"]


@dataclass
class ExtractionResult:
    """Features of the items that worked, their ids, and what failed and why."""

    features: np.ndarray
    ids: list[str]
    failures: list[Failure]
    feature_names: list[str]
    ok: np.ndarray  # boolean mask over the input rows
    #: rows served by the feature store, and rows computed by this call
    n_cached: int = 0
    n_computed: int = 0
