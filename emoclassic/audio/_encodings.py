"""Encodings of frame sequences: bag-of-audio-words histograms and Fisher vectors.

Functionals summarise each descriptor over time on its own; these encodings describe the
*distribution of whole frames* instead: which kinds of frame occur, and how often (a
codebook's histogram, as openXBOW computes it), or how the frames deviate from a background
Gaussian mixture (Fisher vectors, Perronnin et al. 2010). Both learn a model of the frames
(the codebook, the mixture) without labels, so they are pipeline steps fitted on the training
rows only, after a stateless frame extractor (``frames`` or ``frame_llds`` block): a
cross-validation fold never sees its test clips' frames, and a saved model carries the
codebook.

Input: rows in the frames layout (:func:`~emoclassic.audio.split_frames`: a three-column header,
then the frames, zero-padded; only the valid frames are read) or, with ``frame_dim`` set,
plain rows of ``T x frame_dim`` values, every frame valid (what scikit-learn's estimator
checks feed).
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..exceptions import ConfigError
from ._frames import split_frames

logger = logging.getLogger(__name__)

__all__ = ["BagOfAudioWords", "FisherVectors"]

#: frames per batch when computing distances or posteriors (bounds memory: 16k x 256 x 8 B)
_BATCH = 16384
_CONTROLLER = None


def _one_thread():
    """Context running BLAS and OpenMP (k-means, EM) on one thread. The encoders are fitted
    many times inside a CV, whose jobs are the parallelism; idle threads spinning beside the
    main one made ``MiniBatchKMeans`` 3-8x slower on a loaded 2-core machine (50 000 frames
    x 256 words: 9.5 against 2.7 s)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


def _positive_int(owner: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{owner}: {name}={value!r} must be an integer >= {minimum}")
    return int(value)


class _FrameEncoder(TransformerMixin, BaseEstimator):
    """What both encoders share: reading frames, sampling and standardising training frames."""

    _owner = "encoder"

    def _check_common(self) -> None:
        if self.frame_dim is not None:
            _positive_int(self._owner, "frame_dim", self.frame_dim)
        _positive_int(self._owner, "max_fit_frames", self.max_fit_frames, 2)
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"{self._owner}: standardize={self.standardize!r} must be true "
                              "or false")  # fmt: skip

    def _sequences(self, X, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """All valid frames stacked ``(sum T, F)`` float64 and each row's frame count."""
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64])
        if self.frame_dim is None:
            frames, lengths = split_frames(X)
        else:
            d = int(self.frame_dim)
            if X.shape[1] % d:
                raise ConfigError(f"{self._owner}: {X.shape[1]} values per row are not whole "
                                  f"frames of frame_dim={d}")  # fmt: skip
            frames = X.reshape(X.shape[0], -1, d)
            lengths = np.full(X.shape[0], frames.shape[1], dtype=np.int64)
        valid = np.arange(frames.shape[1])[None, :] < lengths[:, None]
        return np.asarray(frames[valid], dtype=np.float64), lengths

    def _fit_frames(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The (sampled, standardised) training frames; learns ``mean_``/``scale_``."""
        self._check_params()
        F, lengths = self._sequences(X, reset=True)
        if F.shape[0] > int(self.max_fit_frames):
            rng = np.random.default_rng(self.random_state)
            F = F[np.sort(rng.choice(F.shape[0], int(self.max_fit_frames), replace=False))]
        self.frame_dim_ = F.shape[1]
        if self.standardize:
            self.mean_ = F.mean(axis=0)
            sd = F.std(axis=0)
            self.scale_ = np.where(sd > 1e-8, sd, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(F.shape[1]), np.ones(F.shape[1])
        return (F - self.mean_) / self.scale_, lengths

    def fit(self, X, y=None):
        """Learn the frame standardisation and the encoder's model (``_fit``), on one thread."""
        with _one_thread():
            return self._fit(X)

    def _frames_of(self, X) -> tuple[np.ndarray, np.ndarray]:
        F, lengths = self._sequences(X, reset=False)
        if F.shape[1] != self.frame_dim_:
            raise ConfigError(f"{self._owner}: frames of {F.shape[1]} values; fitted on "
                              f"{self.frame_dim_}")  # fmt: skip
        return (F - self.mean_) / self.scale_, lengths

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class BagOfAudioWords(_FrameEncoder):
    """Bag-of-audio-words: a histogram of each clip's frames over a codebook of frames.

    Parameters
    ----------
    n_words : int
        Codebook size.
    codebook : {"kmeans", "random"}
        How the codebook is learned from the (standardised) training frames: mini-batch
        k-means (scikit-learn's ``MiniBatchKMeans``), or ``n_words`` frames drawn at random,
        which openXBOW uses by default and which costs nothing to fit.
    assignment : {"hard", "soft"}
        ``hard``: each frame counts ``1 / n_assign`` for each of its ``n_assign`` nearest words
        (openXBOW's multi-assignment). ``soft``: the frame's unit weight is split over its
        ``n_assign`` nearest words in proportion to ``exp(-d^2 / 2 s^2)``, with ``s^2`` the
        training frames' mean squared distance to their nearest word (needs ``n_assign >= 2``).
    n_assign : int
        Words each frame is assigned to.
    weighting : {"tf", "count", "log", "tfidf"}
        Term weighting: ``tf`` the relative frequency (counts / frames: clips of any length
        compare), ``count`` the counts, ``log`` ``log(1 + count)`` (openXBOW's ``-log``),
        ``tfidf`` the relative frequency times each word's inverse document frequency
        ``log(n / (1 + df))`` over the training rows.
    max_fit_frames : int
        Training frames the codebook is learned from (a seeded random sample beyond it).
    standardize : bool
        Standardise the frames (training frames' mean and deviation) before the codebook.
    frame_dim : int or None
        None: rows in the frames layout; an int: plain rows of ``T x frame_dim`` values.
    random_state : int or None
        Seed of the sampling and the codebook.
    """

    _owner = "boaw"

    def __init__(self, n_words: int = 256, *, codebook: str = "kmeans", assignment: str = "hard",
                 n_assign: int = 1, weighting: str = "tf", max_fit_frames: int = 20000,
                 standardize: bool = True, frame_dim: int | None = None,
                 random_state: int | None = 0):  # fmt: skip
        self.n_words = n_words
        self.codebook = codebook
        self.assignment = assignment
        self.n_assign = n_assign
        self.weighting = weighting
        self.max_fit_frames = max_fit_frames
        self.standardize = standardize
        self.frame_dim = frame_dim
        self.random_state = random_state

    def _check_params(self) -> None:
        self._check_common()
        _positive_int("boaw", "n_words", self.n_words, 2)
        n_assign = _positive_int("boaw", "n_assign", self.n_assign)
        if n_assign > self.n_words:
            raise ConfigError(f"boaw: n_assign={n_assign} must be <= n_words={self.n_words}")
        if self.codebook not in ("kmeans", "random"):
            raise ConfigError(f"boaw: codebook={self.codebook!r}; valid: kmeans, random")
        if self.assignment not in ("hard", "soft"):
            raise ConfigError(f"boaw: assignment={self.assignment!r}; valid: hard, soft")
        if self.assignment == "soft" and n_assign < 2:
            raise ConfigError("boaw: assignment='soft' spreads a frame over its n_assign nearest "
                              "words: set n_assign >= 2 (with 1 it is hard assignment)")
        if self.weighting not in ("tf", "count", "log", "tfidf"):
            raise ConfigError(f"boaw: weighting={self.weighting!r}; valid: tf, count, log, tfidf")

    def _fit(self, X):
        """Learn the frame standardisation, the codebook and (``tfidf``) the word weights."""
        F, _ = self._fit_frames(X)
        k = int(self.n_words)
        if F.shape[0] < k:
            raise ConfigError(f"boaw: {F.shape[0]} training frames cannot make n_words={k} "
                              "words; use fewer words")  # fmt: skip
        if self.codebook == "random":
            rng = np.random.default_rng(self.random_state)
            self.codebook_ = F[np.sort(rng.choice(F.shape[0], k, replace=False))].copy()
        else:
            from sklearn.cluster import MiniBatchKMeans

            km = MiniBatchKMeans(n_clusters=k, random_state=self.random_state, n_init=1,
                                 batch_size=max(1024, 4 * k), max_iter=50)  # fmt: skip
            self.codebook_ = km.fit(F).cluster_centers_.astype(np.float64)
        d2, _ = self._nearest(F, 1)
        self.sigma2_ = float(max(np.mean(d2[:, 0]), 1e-12))
        if self.weighting == "tfidf":
            H = self._counts(*self._sequences_std(X, fit=True))
            df = (H > 0).sum(axis=0)
            self.idf_ = np.log(H.shape[0] / (1.0 + df))
        return self

    def _sequences_std(self, X, *, fit: bool):
        if fit:
            F, lengths = self._sequences(X, reset=False)
            return (F - self.mean_) / self.scale_, lengths
        return self._frames_of(X)

    def _nearest(self, F: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances and indices of each frame's ``n`` nearest words, nearest first."""
        C = self.codebook_
        cc = (C * C).sum(axis=1)
        d_out = np.empty((F.shape[0], n))
        i_out = np.empty((F.shape[0], n), dtype=np.int64)
        for s in range(0, F.shape[0], _BATCH):
            B = F[s : s + _BATCH]
            D = np.maximum((B * B).sum(axis=1)[:, None] - 2.0 * (B @ C.T) + cc[None, :], 0.0)
            if n == 1:
                idx = D.argmin(axis=1)[:, None]
            else:
                idx = np.argpartition(D, n - 1, axis=1)[:, :n]
                order = np.argsort(np.take_along_axis(D, idx, axis=1), axis=1)
                idx = np.take_along_axis(idx, order, axis=1)
            d_out[s : s + _BATCH] = np.take_along_axis(D, idx, axis=1)
            i_out[s : s + _BATCH] = idx
        return d_out, i_out

    def _counts(self, F: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Each row's (fractional) word counts ``(n_rows, n_words)``; a frame adds 1 in all."""
        n = int(self.n_assign)
        d2, idx = self._nearest(F, n)
        if self.assignment == "soft":
            w = np.exp(-(d2 - d2[:, :1]) / (2.0 * self.sigma2_))  # the nearest word gets 1
            w /= w.sum(axis=1, keepdims=True)
        else:
            w = np.full(idx.shape, 1.0 / n)
        row = np.repeat(np.arange(len(lengths)), lengths)
        H = np.zeros((len(lengths), int(self.n_words)))
        np.add.at(H, (np.repeat(row, n), idx.ravel()), w.ravel())
        return H

    def transform(self, X) -> np.ndarray:
        """One weighted histogram per row (see ``weighting``)."""
        check_is_fitted(self, "codebook_")
        F, lengths = self._frames_of(X)
        with _one_thread():
            H = self._counts(F, lengths)
        if self.weighting == "count":
            return H
        if self.weighting == "log":
            return np.log1p(H)
        tf = H / np.maximum(lengths, 1)[:, None]
        return tf * self.idf_[None, :] if self.weighting == "tfidf" else tf

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``boaw_w0`` ... one column per word."""
        check_is_fitted(self, "codebook_")
        return np.asarray([f"boaw_w{k}" for k in range(int(self.n_words))], dtype=object)


class FisherVectors(_FrameEncoder):
    """Improved Fisher vectors of each clip's frames over a diagonal Gaussian mixture.

    For every component ``k`` (weight ``w``, mean ``m``, deviation ``s``) and the clip's ``T``
    standardised frames ``x_t`` with posteriors ``g_tk``::

        mean part      sum_t g_tk (x_t - m) / s / (T sqrt(w))
        variance part  sum_t g_tk ((x_t - m)^2 / s^2 - 1) / (T sqrt(2 w))

    then the power normalisation ``sign(z) |z| ** power`` and the L2 normalisation of the whole
    vector (Perronnin, Sanchez & Mensink 2010). ``2 x n_components x frame dims`` values.

    Parameters
    ----------
    n_components : int
        Gaussians of the mixture (scikit-learn's ``GaussianMixture``, ``covariance_type="diag"``,
        k-means++ initialisation).
    power : float
        Power-normalisation exponent in (0, 1]; 1 switches it off.
    l2 : bool
        L2-normalise each vector.
    variances : bool
        Include the variance part (else means only: half the width).
    max_iter, reg_covar
        ``GaussianMixture``'s EM iterations and variance floor (on standardised frames).
    max_fit_frames, standardize, frame_dim, random_state
        As :class:`BagOfAudioWords`.
    """

    _owner = "fisher"

    def __init__(self, n_components: int = 32, *, power: float = 0.5, l2: bool = True,
                 variances: bool = True, max_iter: int = 100, reg_covar: float = 1e-3,
                 max_fit_frames: int = 20000, standardize: bool = True,
                 frame_dim: int | None = None, random_state: int | None = 0):  # fmt: skip
        self.n_components = n_components
        self.power = power
        self.l2 = l2
        self.variances = variances
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.max_fit_frames = max_fit_frames
        self.standardize = standardize
        self.frame_dim = frame_dim
        self.random_state = random_state

    def _check_params(self) -> None:
        self._check_common()
        _positive_int("fisher", "n_components", self.n_components)
        _positive_int("fisher", "max_iter", self.max_iter)
        p = self.power
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise ConfigError(f"fisher: power={p!r} must be a number in (0, 1] (1: none)")
        for name in ("l2", "variances"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"fisher: {name}={getattr(self, name)!r} must be true or false")
        r = self.reg_covar
        if isinstance(r, bool) or not isinstance(r, (int, float)) or r < 0:
            raise ConfigError(f"fisher: reg_covar={r!r} must be a number >= 0")

    def _fit(self, X):
        """Learn the frame standardisation and the diagonal mixture."""
        from sklearn.mixture import GaussianMixture

        F, _ = self._fit_frames(X)
        k = int(self.n_components)
        if F.shape[0] < k:
            raise ConfigError(f"fisher: {F.shape[0]} training frames cannot fit "
                              f"n_components={k}; use fewer components")  # fmt: skip
        gmm = GaussianMixture(k, covariance_type="diag", max_iter=int(self.max_iter),
                              reg_covar=float(self.reg_covar), init_params="k-means++",
                              random_state=self.random_state)  # fmt: skip
        self.gmm_ = gmm.fit(F)
        self.n_iter_ = int(self.gmm_.n_iter_)
        return self

    def _posteriors(self, F: np.ndarray) -> np.ndarray:
        out = np.empty((F.shape[0], int(self.n_components)))
        for s in range(0, F.shape[0], _BATCH):
            out[s : s + _BATCH] = self.gmm_.predict_proba(F[s : s + _BATCH])
        return out

    def transform(self, X) -> np.ndarray:
        """One Fisher vector per row (see the class docs)."""
        check_is_fitted(self, "gmm_")
        F, lengths = self._frames_of(X)
        with _one_thread():
            return self._encode(F, lengths)

    def _encode(self, F: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        G = self._posteriors(F)
        w, m = self.gmm_.weights_, self.gmm_.means_
        s = np.sqrt(self.gmm_.covariances_)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        K, D = m.shape
        parts = 2 if self.variances else 1
        out = np.zeros((len(lengths), parts * K * D))
        for i, (a, n) in enumerate(zip(starts, lengths, strict=True)):
            if n == 0:
                continue
            g, x = G[a : a + n], F[a : a + n]
            s0 = g.sum(axis=0)  # (K,)
            s1 = g.T @ x  # (K, D)
            gm = (s1 - s0[:, None] * m) / s / (n * np.sqrt(w)[:, None])
            out[i, : K * D] = gm.ravel()
            if self.variances:
                s2 = g.T @ (x * x)
                var = (s2 - 2 * m * s1 + s0[:, None] * m * m) / (s * s) - s0[:, None]
                out[i, K * D :] = (var / (n * np.sqrt(2 * w)[:, None])).ravel()
        if float(self.power) != 1.0:
            out = np.sign(out) * np.abs(out) ** float(self.power)
        if self.l2:
            norm = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.where(norm > 0, norm, 1.0)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``fv_mean_k{k}_d{j}`` then ``fv_var_k{k}_d{j}``."""
        check_is_fitted(self, "gmm_")
        K, D = int(self.n_components), int(self.frame_dim_)
        parts = ("mean", "var") if self.variances else ("mean",)
        return np.asarray([f"fv_{p}_k{k}_d{j}" for p in parts for k in range(K)
                           for j in range(D)], dtype=object)  # fmt: skip
