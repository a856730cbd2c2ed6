"""Which utterances to annotate next, from a model's probabilities (and, for ``diverse``, where
the utterances lie in feature space): pure numpy on matrices, shared by :func:`suggest` and
the simulation in ``benchmarks/quality/active_learning.py``.

Strategies (each returns pool positions in the order to annotate):

- ``margin``: smallest ``p(top1) - p(top2)`` first: the items the model can least tell between
  its two best answers, where one label moves the decision boundary most;
- ``entropy``: largest ``-sum p log p`` first (natural log): uncertain over all classes, not
  just the top two;
- ``random``: a seeded shuffle, the baseline every strategy must beat;
- ``diverse``: uncertainty with a spread. A batch of the 50 smallest margins tends to be 50
  near-copies (one speaker, one confusion); ``diverse`` takes the ``candidates x n`` smallest
  margins, groups them into ``n`` clusters by k-means weighted by uncertainty (k-means++
  seeding, Arthur and Vassilvitskii 2007) and takes from each cluster the item nearest its
  centre (Zhdanov 2019, "Diverse mini-batch active learning"): every pick is uncertain, no
  two come from one corner, and each stands for a group of similar items rather than being
  the oddest one. Picks are listed most uncertain first.

Ties keep the pool's order (stable sorts), so a ranking is reproducible; ``random`` and
``diverse`` are reproducible for one ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError, DataError

__all__ = ["STRATEGIES", "check_request", "entropy", "margin", "rank", "top_two"]

#: the strategies :func:`rank` knows, in the order the docs list them
STRATEGIES = ("margin", "entropy", "random", "diverse")
#: ``diverse`` draws its picks from the ``candidates x n`` most uncertain items by default
#: (Zhdanov's beta: 10 in the paper; 5 keeps the picks closer to the boundary)
DIVERSE_CANDIDATES = 5


def check_request(n: object, strategy: object) -> tuple[int, str]:
    """``(n, strategy)`` checked, so a bad request fails before a model is loaded."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n={n!r}: give how many utterances to suggest, a whole number of at "
                          "least 1 (e.g. --n 50)")
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy {strategy!r} is unknown; choose one of "
                          f"{', '.join(STRATEGIES)} (e.g. --strategy margin)")
    return int(n), str(strategy)


def _proba(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or p.shape[1] < 1:
        raise DataError(f"probabilities of shape {p.shape}: expected one row per item and one "
                        "column per class")
    return p


def top_two(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of each row's best and second-best class (the second is the best again for a
    one-class model). Ties go to the lower column, as ``argmax`` does."""
    p = _proba(proba)
    order = np.argsort(-p, axis=1, kind="stable")
    second = order[:, 1] if p.shape[1] > 1 else order[:, 0]
    return order[:, 0], second


def margin(proba: np.ndarray) -> np.ndarray:
    """``p(top1) - p(top2)`` per row: 0 = a tie between the two best classes, 1 = certain."""
    p = _proba(proba)
    if p.shape[1] < 2:
        return np.ones(len(p))
    part = -np.partition(-p, 1, axis=1)
    return part[:, 0] - part[:, 1]


def entropy(proba: np.ndarray) -> np.ndarray:
    """``-sum p log p`` per row (natural log; 0 log 0 = 0): 0 = certain, log(k) = uniform."""
    p = np.clip(_proba(proba), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1)


def _spread(Z: np.ndarray, weight: np.ndarray, n: int, seed: int | None) -> list[int]:
    """``n`` rows of ``Z``, one per cluster of an uncertainty-weighted k-means: each cluster's
    row nearest its centre (distinct rows; fewer clusters when ``Z`` has fewer distinct rows)."""
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    distinct = len(np.unique(Z, axis=0))
    k = min(n, distinct)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate points: fewer clusters
        km = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed)
        labels = km.fit_predict(Z, sample_weight=weight)
    d2 = np.sum((Z - km.cluster_centers_[labels]) ** 2, axis=1)
    picks: list[int] = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members):
            picks.append(int(members[np.argmin(d2[members])]))
    taken = set(picks)  # an empty cluster or duplicates: fill with the most uncertain left
    picks += [j for j in range(len(Z)) if j not in taken][: n - len(picks)]
    return sorted(picks)  # rows are in uncertainty order: most uncertain first


def rank(
    proba: np.ndarray,
    n: int,
    strategy: str = "margin",
    *,
    features: np.ndarray | None = None,
    seed: int | None = 0,
    candidates: int = DIVERSE_CANDIDATES,
) -> np.ndarray:
    """Positions of the ``n`` rows of ``proba`` to annotate first, in order (fewer when the
    pool is smaller).

    ``proba``: one row of class probabilities per pool item. ``features``: the items' rows in
    a feature space (``diverse`` only; distances there say which items are alike: see
    :func:`emoclassic.active.pool_space`). ``seed`` makes ``random`` and ``diverse``
    reproducible; ``candidates``: ``diverse`` picks among the ``candidates * n`` smallest
    margins.
    """
    n, strategy = check_request(n, strategy)
    p = _proba(proba)
    size = len(p)
    n = min(n, size)
    if n == 0:
        return np.zeros(0, dtype=int)
    rng = np.random.default_rng(seed)
    if strategy == "random":
        return rng.permutation(size)[:n]
    if strategy == "entropy":
        return np.argsort(-entropy(p), kind="stable")[:n]
    order = np.argsort(margin(p), kind="stable")
    if strategy == "margin":
        return order[:n]
    if features is None:
        raise ConfigError("strategy 'diverse' needs the items' features (features=) to spread "
                          "its picks over")
    Z = np.asarray(features, dtype=float)
    if Z.ndim != 2 or len(Z) != size:
        raise DataError(f"features of shape {Z.shape} for {size} items: give one row per item")
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) \
            or candidates < 1:  # fmt: skip
        raise ConfigError(f"candidates={candidates!r}: give a whole number of at least 1")
    pool = order[: min(size, int(candidates) * n)]
    Z = np.nan_to_num(Z[pool], nan=0.0, posinf=0.0, neginf=0.0)
    weight = 1.0 - margin(p[pool]) + 1e-6  # more uncertain, more pull on the centres
    seed = int(rng.integers(2**31 - 1))
    return pool[_spread(Z, weight, n, seed)]
