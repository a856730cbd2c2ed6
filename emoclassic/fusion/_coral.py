"""CORAL, correlation alignment (Sun, Feng & Saenko 2016), as a pipeline step.

CORAL matches second-order statistics across domains: whiten one domain's features with its
own covariance, re-colour them with the other's. The paper aligns the *source* (training) data
to the *target*, then trains on the aligned source; that needs the target's features before
training, which a saved model does not have. This step goes the other way, which is usable at
prediction time and reads no labels of the target:

- ``fit`` learns the training rows' means, standard deviations and correlations (the source
  statistics) and which groups (corpora, by default) they came from; training rows are left
  as they are;
- ``transform`` aligns each batch of a group *unseen* in ``fit`` (a new corpus) to the source:
  ``x ↦ ((x − μ_t) / σ_t) R_t^{-1/2} R_s^{1/2} σ_s + μ_s``, with ``μ_t, σ_t, R_t`` the batch's
  own means, standard deviations and correlation matrix (``σ_s R_s σ_s = C_s``: the result has
  the training mean and covariance); rows of a group seen in ``fit`` pass unchanged (they are
  source data);
- a new group with fewer than ``min_rows`` rows, and rows without a group id, pass unchanged
  (the training statistics) with one :class:`~emoclassic.fusion.AdaptationWarning`.

Aligned this way the classifier sees test features with the training data's correlations, as
the paper's classifier sees source features with the target's; both map one covariance onto
the other. In-corpus (every test group seen in training) the step is the identity, so it
cannot cost in-corpus accuracy.

**High dimensions, and the shrinkage.** Pooled feature vectors have hundreds to thousands of
dimensions and a corpus a few hundred rows, so sample covariances are singular. Each domain's
correlation matrix is shrunk towards the identity, ``(1 − α) R + α I``: α = 1 keeps the
variances and drops the correlations, which is exactly per-corpus standardisation
(``normalization = "corpus"``) mapped onto the training scale; α = 0 is full CORAL; the
paper's ``C + I`` on standardised features is α = 0.5. The default, α = 0.9, was the best of
0.3, 0.5, 0.7 and 0.9 in both directions between EmoDB and EMOVO (pooled default features,
linear SVM, six shared classes: UA 0.472 and 0.587, against 0.399 and 0.553 with per-corpus
standardisation and 0.363 and 0.527 with neither): whitening amplifies the many directions a
few hundred rows barely see, and with a small α their noise. ``shrinkage="ledoit-wolf"``
takes Ledoit–Wolf's estimate (the same as :func:`sklearn.covariance.ledoit_wolf_shrinkage`),
optimal for the covariance itself; it was 0.03–0.04 there, and the alignment fell to UA 0.399
and 0.415. The leading ``n_components`` eigen-directions of each correlation matrix are kept
exactly and the rest share their mean eigenvalue (the trace is kept): time and memory grow
with rows × dimensions, never dimensions squared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import ConfigError
from ._grouped import _GroupStep

__all__ = ["CORAL"]

#: covariances are estimated from at most this many rows (a seeded sample beyond)
MAX_COV_ROWS = 4000
#: the smallest eigenvalue kept, relative to the mean eigenvalue (the inverse root stays finite)
_RIDGE = 1e-3
_EPS = 1e-12


def ledoit_wolf_shrinkage(Z: np.ndarray, gram: np.ndarray | None = None) -> float:
    """Ledoit–Wolf shrinkage of centred ``Z`` (n × d), computed in O(n·d·min(n, d)).

    The formula of :func:`sklearn.covariance.ledoit_wolf_shrinkage` (assume_centered), with
    ``‖ZᵀZ‖²_F`` read from the smaller Gram matrix (``gram``: ``Z Zᵀ`` or ``Zᵀ Z``).
    """
    n, d = Z.shape
    if d == 1 or n == 0:
        return 0.0
    if gram is None:
        gram = Z @ Z.T if n <= d else Z.T @ Z
    row_sq = np.einsum("ij,ij->i", Z, Z)
    trace = row_sq.sum() / n  # tr S
    mu = trace / d
    beta_ = float(np.sum(row_sq**2))  # Σ of the entries of (Z²)ᵀ Z²
    delta_ = float(np.sum(gram**2)) / n**2  # ‖S‖²_F
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * trace + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta <= 0 else float(beta / delta)


class _Spectrum:
    """A shrunk covariance ``V diag(e) Vᵀ + c (I − V Vᵀ)`` and its matrix powers."""

    __slots__ = ("components", "values", "rest", "shrinkage")

    def __init__(self, components: np.ndarray, values: np.ndarray, rest: float,
                 shrinkage: float):  # fmt: skip
        self.components = components  # (d, k), orthonormal columns
        self.values = values  # (k,)
        self.rest = rest
        self.shrinkage = shrinkage

    def power(self, Z: np.ndarray, p: float) -> np.ndarray:
        """``Z C^p`` (C symmetric): the complement scales by ``c^p``, each kept direction by
        its ``e^p``."""
        V = self.components
        out = (self.rest**p) * Z
        if V.shape[1]:
            out += ((Z @ V) * (self.values**p - self.rest**p)) @ V.T
        return out


def _spectrum(Z: np.ndarray, shrinkage: Any, n_components: int | None) -> _Spectrum:
    """The shrunk covariance of the rows of ``Z`` (centred here; standardised by the callers,
    so it is a correlation matrix), in spectral form."""
    n, d = Z.shape
    if min(n, d) > MAX_COV_ROWS:  # both large: a seeded sample of rows estimates it
        pick = np.random.default_rng(0).choice(n, MAX_COV_ROWS, replace=False)
        Z = Z[np.sort(pick)]
        n = MAX_COV_ROWS
    Zc = Z - Z.mean(axis=0)
    small = n <= d
    gram = Zc @ Zc.T if small else Zc.T @ Zc
    w, U = np.linalg.eigh(gram)
    order = np.argsort(w)[::-1]
    w, U = np.clip(w[order], 0.0, None) / max(n, 1), U[:, order]
    mu = float(w.sum()) / d  # tr S / d
    alpha = ledoit_wolf_shrinkage(Zc, gram) if shrinkage == "ledoit-wolf" else float(shrinkage)
    floor = max(_RIDGE * mu, _EPS)
    tol = max(float(w[0]) if len(w) else 0.0, _EPS) * 1e-10
    k = int(np.sum(w > tol))
    if n_components is not None:
        k = min(k, int(n_components))
    # eigenvectors of S: from the n x n Gram's (Zᵀu / ‖Zᵀu‖) or the d x d one's directly
    V = (Zc.T @ U[:, :k]) / np.sqrt(w[:k] * n) if small else U[:, :k]
    values = np.maximum((1 - alpha) * w[:k] + alpha * mu, floor)
    rest = (1 - alpha) * float(w[k:].sum()) / (d - k) + alpha * mu if d > k else mu
    return _Spectrum(V, values, max(rest, floor), alpha)


class CORAL(_GroupStep):
    """Correlation alignment of a new domain's batch to the training statistics (no labels).

    Parameters
    ----------
    transformer : transformer or None
        Turns the frame into features (a block's extractor). None: the frame's numeric
        columns, the group column excluded, are the features (a bare matrix is one batch of
        an unnamed domain, aligned to the training rows).
    by : str
        The column naming each row's domain (default ``"corpus"``).
    shrinkage : float or "ledoit-wolf"
        How far each correlation matrix is pulled towards the identity, in [0, 1] (1: per-corpus
        standardisation only; 0.5: the paper's ``C + I``; the default 0.9: see the module
        docs), or ``"ledoit-wolf"`` for Ledoit–Wolf's estimate.
    n_components : int or None
        Eigen-directions of each covariance kept exactly (None: all); the others share their
        mean eigenvalue.
    min_rows : int or None
        Fewest rows a new domain needs in a batch to be aligned; None: 10 for corpora, 2 for
        speakers (:data:`~emoclassic.fusion.DEFAULT_MIN_ROWS`).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        The training rows' mean and standard deviation.
    components_ : ndarray of shape (n_features, k)
        The leading eigen-directions of the shrunk training correlation matrix.
    eigenvalues_ : ndarray of shape (k,)
    rest_ : float
        The eigenvalue of every other direction.
    shrinkage_ : float
        The shrinkage used for the training correlation matrix.
    groups_ : dict
        Training group id → its number of rows (these rows pass unchanged).
    transformer_ : the fitted clone of ``transformer`` (when given)
    n_features_out_ : int
    """

    _allow_nan = False

    def __init__(self, transformer: Any = None, *, by: str = "corpus",
                 shrinkage: float | str = 0.9, n_components: int | None = 100,
                 min_rows: int | None = None):  # fmt: skip
        self.transformer = transformer
        self.by = by
        self.shrinkage = shrinkage
        self.n_components = n_components
        self.min_rows = min_rows

    def _check_params(self) -> None:
        super()._check_params()
        s = self.shrinkage
        if not (s == "ledoit-wolf" or (isinstance(s, (int, float)) and not isinstance(s, bool)
                                       and 0.0 <= s <= 1.0)):  # fmt: skip
            raise ConfigError(f"CORAL: shrinkage={s!r} must be 'ledoit-wolf' or a number in [0, 1]")
        k = self.n_components
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer))
                              or k < 1):  # fmt: skip
            raise ConfigError(f"CORAL: n_components={k!r} must be an integer >= 1 or None")

    def _fit_groups(self, F: np.ndarray, keys: np.ndarray) -> None:
        self.mean_ = F.mean(axis=0) if len(F) else np.zeros(F.shape[1])
        std = F.std(axis=0) if len(F) > 1 else np.ones(F.shape[1])
        self.scale_ = np.where(std > 1e-8, std, 1.0)
        spec = _spectrum((F - self.mean_) / self.scale_, self.shrinkage, self.n_components)
        self.components_, self.eigenvalues_ = spec.components, spec.values
        self.rest_, self.shrinkage_ = spec.rest, spec.shrinkage
        named = [k for k in keys.tolist() if isinstance(k, str)]
        self.groups_ = {k: named.count(k) for k in sorted(set(named))}

    def _source(self) -> _Spectrum:
        return _Spectrum(self.components_, self.eigenvalues_, self.rest_, self.shrinkage_)

    def _seen_groups(self) -> dict:
        return self.groups_

    def _adapt_seen(self, F: np.ndarray, key: str) -> np.ndarray:
        return F.copy()

    def _fallback(self, F: np.ndarray) -> np.ndarray:
        return F.copy()

    def _adapt_new(self, F: np.ndarray) -> np.ndarray:
        # the batch standardised by its own statistics, its correlations whitened, the
        # training correlations put back, then the training scale and mean
        std = F.std(axis=0)
        Z = (F - F.mean(axis=0)) / np.where(std > 1e-8, std, 1.0)
        white = _spectrum(Z, self.shrinkage, self.n_components).power(Z, -0.5)
        return self._source().power(white, 0.5) * self.scale_ + self.mean_
