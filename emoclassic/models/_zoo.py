"""The classifier zoo: one name per classical classifier, sensible defaults and default grids.

Every entry is built by :func:`make_classifier` with *friendly* parameter names: ``C`` and
``class_weight`` mean the same thing for ``svc`` and for ``bagging_svm`` (where they live on
the bagged base SVM). :func:`classifier_param_path` gives the scikit-learn path of a friendly
name, so grids written against the friendly names work whatever the wrapping.

Probabilities. A spec's probabilities must mean what they say (of the items given 0.8, about
80 % right), so the zoo says for each entry what its ``predict_proba`` is (``proba``):
``"native"`` (fitted by minimising the log-loss: logistic regression, gradient boosting,
XGBoost, the neural heads), ``"votes"`` (vote or leaf fractions, not fitted to the labels'
likelihood: random forests, extra trees, bagging, AdaBoost) or ``"calibrate"`` (none at all:
the SVMs). :func:`calibration_method` turns a spec's ``calibration`` (``"auto"``, ``"sigmoid"``,
``"isotonic"``, ``"temperature"``, ``"none"``) into what :func:`make_classifier` builds:
``"auto"`` calibrates the ``"votes"`` and ``"calibrate"`` entries with Platt's sigmoid and
leaves the native ones alone. A calibrated entry is wrapped in
:class:`SmallSampleCalibratedClassifierCV` (scikit-learn's
:class:`~sklearn.calibration.CalibratedClassifierCV`, ``ensemble=False``): the calibration map
is fitted on out-of-fold scores of :data:`CALIBRATION_CV` stratified folds of the training part
it is given (inside the grid search: of the inner training part), then the classifier is refitted
on all of it. The SVMs' own ``probability=True`` (libsvm's internal Platt scaling) is deprecated
in scikit-learn 1.9, hence the wrapper.

Why stratified and not speaker-grouped calibration folds: the classifier is the pipeline's last
step and sees only the feature matrix, not the manifest's speaker column, and grouping would
mean wrapping the whole pipeline (every grid path and saved model would change). The folds are
taken without shuffling, so on a manifest ordered by speaker (corpus readers sort by file name)
they are close to speaker-grouped anyway; and what a reader should trust is the calibration
error measured on the outer, speaker-independent folds (``calibration.ece`` in cv_report), not
the calibrator's own folds. Stacking is the exception that does group: its meta-learner is
fitted on speaker-grouped out-of-fold scores, so it is the calibrator of a stacked model.

Why sigmoid by default: on EmoDB (docs/benchmarks.md, "Calibration (issue 15)") it kept the
recommended specs' UA and gave a low calibration error; isotonic needs more calibration items
than a fold of an acted corpus holds (it overfits below ~1000), and temperature scaling
(scikit-learn >= 1.8) keeps the SVM's own decision but fits a single parameter over a
one-vs-one vote score that is far from a logit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_GRIDS",
    "ClassifierInfo",
    "XGBoostClassifier",
    "check_classifier_params",
    "CALIBRATIONS",
    "SmallSampleCalibratedClassifierCV",
    "apply_temperature",
    "calibration_method",
    "classifier_param_path",
    "fit_temperature",
    "make_classifier",
    "register_classifier",
]

#: folds of the calibration wrapper (its out-of-fold scores fit the calibration map)
CALIBRATION_CV = 3
#: what a spec's ``calibration`` may say (``auto``: sigmoid where the zoo entry needs it)
CALIBRATIONS = ("auto", "sigmoid", "isotonic", "temperature", "none")
#: how each zoo entry's ``predict_proba`` comes about (see the module docstring)
PROBA_KINDS = ("native", "votes", "calibrate")


@dataclass(frozen=True)
class ClassifierInfo:
    """How to build one zoo entry.

    ``factory(**params)`` builds the estimator from friendly params; ``aliases`` maps friendly
    names onto nested scikit-learn paths (``C`` → ``estimator__C``); ``proba`` says what its
    probabilities are: ``"native"`` (``predict_proba`` fitted by the log-loss), ``"votes"``
    (``predict_proba`` from vote or leaf fractions: calibrated by default) or ``"calibrate"``
    (no ``predict_proba``: calibrated by default, and whenever probabilities are needed);
    ``raw_input`` marks classifiers that read the manifest themselves (no feature blocks before
    them).
    """

    name: str
    factory: Callable[..., Any]
    description: str
    aliases: dict[str, str] = field(default_factory=dict)
    proba: str = "native"
    raw_input: bool = False


# --------------------------------------------------------------------------- XGBoost wrapper
class XGBoostClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost with string labels and ``class_weight``; imports xgboost only when fitting.

    ``XGBClassifier`` wants integer labels 0..K-1, so labels are encoded inside and decoded on
    the way out; ``class_weight="balanced"`` becomes per-sample weights.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        max_depth: int = 4,
        learning_rate: float = 0.1,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        class_weight: str | dict | None = None,
        tree_method: str = "hist",
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.class_weight = class_weight
        self.tree_method = tree_method
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check(self) -> None:
        ints = ("n_estimators", "max_depth", "n_jobs", "random_state")
        for name in ints:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError(f"xgboost: {name}={v!r} must be an integer")
        for name in ("n_estimators", "max_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"xgboost: {name}={getattr(self, name)!r} must be >= 1")
        nums = ("learning_rate", "subsample", "colsample_bytree", "min_child_weight",
                "reg_lambda", "reg_alpha")  # fmt: skip
        for name in nums:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or v < 0:
                raise ConfigError(f"xgboost: {name}={v!r} must be a non-negative number")
        for name in ("subsample", "colsample_bytree"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"xgboost: {name}={getattr(self, name)!r} must be in (0, 1]")
        if self.class_weight not in (None, "balanced") and not isinstance(self.class_weight, dict):
            raise ConfigError(
                f"xgboost: class_weight={self.class_weight!r} must be 'balanced', a "
                "{label: weight} table or none"
            )

    def _validate_params(self) -> None:  # same hook name as scikit-learn's estimators
        self._check()

    def fit(self, X, y, sample_weight=None):
        """Encode labels, weight classes, fit the booster."""
        self._check()
        from xgboost import XGBClassifier

        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        y_enc = self.label_encoder_.transform(y)
        weights = sample_weight
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y)
            weights = cw if weights is None else np.asarray(weights) * cw
        n_classes = len(self.classes_)
        self.booster_ = XGBClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            min_child_weight=self.min_child_weight,
            reg_lambda=self.reg_lambda,
            reg_alpha=self.reg_alpha,
            tree_method=self.tree_method,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            objective="multi:softprob" if n_classes > 2 else "binary:logistic",
            eval_metric="mlogloss" if n_classes > 2 else "logloss",
        )
        self.booster_.fit(X, y_enc, sample_weight=weights)
        self.n_features_in_ = int(np.shape(X)[1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return self.booster_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# --------------------------------------------------------------------------- factories
def _svc(**p):
    from sklearn.svm import SVC

    return SVC(**{"kernel": "rbf", "C": 10.0, "gamma": "scale", **p})


def _svc_linear(**p):
    from sklearn.svm import SVC

    return SVC(**{"kernel": "linear", "C": 1.0, **p})


def _linearsvc(**p):
    from sklearn.svm import LinearSVC

    return LinearSVC(**{"C": 0.1, "max_iter": 10000, "random_state": 0, **p})


def _logreg(**p):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"C": 1.0, "max_iter": 2000, **p})


def _random_forest(**p):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**{"n_estimators": 500, "random_state": 0, "n_jobs": 1, **p})


def _extra_trees(**p):
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(**{"n_estimators": 500, "random_state": 0, "n_jobs": 1, **p})


def _split_base(p: dict, base_keys: tuple[str, ...]) -> tuple[dict, dict]:
    base = {k[len("estimator__") :]: v for k, v in p.items() if k.startswith("estimator__")}
    outer = {k: v for k, v in p.items() if not k.startswith("estimator__")}
    for k in base_keys:
        if k in outer:
            base[k] = outer.pop(k)
    return outer, base


def _bagging_svm(**p):
    from sklearn.ensemble import BaggingClassifier
    from sklearn.svm import SVC

    outer, base = _split_base(p, ("C", "gamma", "kernel", "class_weight"))
    svc = SVC(**{"kernel": "rbf", "C": 10.0, "gamma": "scale", **base})
    return BaggingClassifier(
        svc, **{"n_estimators": 10, "max_samples": 0.8, "random_state": 0, "n_jobs": 1, **outer}
    )


def _bagging_trees(**p):
    from sklearn.ensemble import BaggingClassifier
    from sklearn.tree import DecisionTreeClassifier

    outer, base = _split_base(p, ("max_depth", "min_samples_leaf", "class_weight"))
    tree = DecisionTreeClassifier(**{"random_state": 0, **base})
    return BaggingClassifier(
        tree, **{"n_estimators": 100, "max_samples": 0.8, "random_state": 0, "n_jobs": 1, **outer}
    )


def _adaboost(**p):
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.tree import DecisionTreeClassifier

    outer, base = _split_base(p, ("max_depth", "min_samples_leaf", "class_weight"))
    tree = DecisionTreeClassifier(**{"max_depth": 2, "random_state": 0, **base})
    return AdaBoostClassifier(
        tree, **{"n_estimators": 200, "learning_rate": 0.5, "random_state": 0, **outer}
    )


def _hist_gb(**p):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        **{"learning_rate": 0.1, "max_iter": 200, "early_stopping": False, "random_state": 0, **p}
    )


def _xgboost(**p):
    return XGBoostClassifier(**p)


def _alexnet(**p):
    try:
        from ..audio import AlexNetSpectrogramClassifier
    except ImportError as exc:  # pragma: no cover - depends on the audio branch
        raise ConfigError(
            f"classifier 'alexnet' needs emoclassic.audio.AlexNetSpectrogramClassifier ({exc})"
        ) from None
    return AlexNetSpectrogramClassifier(**p)


def _lstm(**p):
    from ._lstm import LSTMSpectrogramClassifier

    return LSTMSpectrogramClassifier(**p)


def _attention(**p):
    from ._attention import AttentionFusionClassifier

    return AttentionFusionClassifier(**p)


_BASE_ALIASES = {
    "bagging_svm": {k: f"estimator__{k}" for k in ("C", "gamma", "kernel", "class_weight")},
    "bagging_trees": {
        k: f"estimator__{k}" for k in ("max_depth", "min_samples_leaf", "class_weight")
    },
    "adaboost": {k: f"estimator__{k}" for k in ("max_depth", "min_samples_leaf", "class_weight")},
}

CLASSIFIERS: dict[str, ClassifierInfo] = {}


def register_classifier(
    name: str,
    factory: Callable[..., Any],
    *,
    description: str = "",
    grid: dict[str, list] | None = None,
    aliases: dict[str, str] | None = None,
    proba: str = "native",
    raw_input: bool = False,
) -> None:
    """Add (or replace) a zoo entry, so specs can name it; ``grid`` becomes its default grid.

    ``proba``: ``"native"``, ``"votes"`` or ``"calibrate"`` (see :class:`ClassifierInfo`).
    """
    if proba not in PROBA_KINDS:
        raise ConfigError(
            f"register_classifier: proba={proba!r} must be one of {', '.join(PROBA_KINDS)}"
        )
    CLASSIFIERS[name] = ClassifierInfo(
        name, factory, description, dict(aliases or {}), proba, raw_input
    )
    DEFAULT_GRIDS[name] = dict(grid or {})


#: default grids in friendly parameter names (small: they multiply with every other key)
DEFAULT_GRIDS: dict[str, dict[str, list]] = {}

for _name, _factory, _desc, _grid, _proba in [
    ("svc", _svc, "SVC with an RBF kernel",
     {"C": [1.0, 10.0, 100.0], "gamma": ["scale", 0.001]}, "calibrate"),
    ("linear_svc_kernel", _svc_linear, "SVC with a linear kernel (libsvm)",
     {"C": [0.01, 0.1, 1.0]}, "calibrate"),
    ("linearsvc", _linearsvc, "LinearSVC (liblinear), fast on many features",
     {"C": [0.001, 0.01, 0.1, 1.0]}, "calibrate"),
    ("logreg", _logreg, "multinomial logistic regression (L2)",
     {"C": [0.01, 0.1, 1.0, 10.0]}, "native"),
    ("random_forest", _random_forest, "random forest",
     {"max_features": ["sqrt", 0.1], "min_samples_leaf": [1, 3]}, "votes"),
    ("extra_trees", _extra_trees, "extremely randomised trees",
     {"max_features": ["sqrt", 0.1], "min_samples_leaf": [1, 3]}, "votes"),
    ("bagging_svm", _bagging_svm, "bagging of RBF SVMs",
     {"C": [1.0, 10.0], "max_samples": [0.6, 0.9]}, "votes"),
    ("bagging_trees", _bagging_trees, "bagging of decision trees",
     {"max_samples": [0.6, 0.9], "max_features": [0.5, 1.0]}, "votes"),
    ("adaboost", _adaboost, "AdaBoost over shallow trees",
     {"n_estimators": [100, 300], "learning_rate": [0.1, 0.5]}, "votes"),
    ("hist_gb", _hist_gb, "histogram gradient boosting",
     {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]}, "native"),
    ("xgboost", _xgboost, "XGBoost (xgboost-cpu), label-encoded inside",
     {"max_depth": [3, 6], "learning_rate": [0.05, 0.1]}, "native"),
]:  # fmt: skip
    register_classifier(
        _name,
        _factory,
        description=_desc,
        grid=_grid,
        aliases=_BASE_ALIASES.get(_name),
        proba=_proba,
    )
register_classifier(
    "alexnet",
    _alexnet,
    description="AlexNet fine-tuned on spectrograms (reads the manifest)",
    grid={},
    raw_input=True,
)
register_classifier(
    "lstm",
    _lstm,
    description="bi-LSTM over log-mel frame sequences (a 'frames' feature block)",
    grid={"hidden_size": [32, 64], "dropout": [0.2, 0.4]},
)
register_classifier(
    "attention",
    _attention,
    description="per-utterance attention over feature blocks (fusion = 'attention')",
    grid={"projection_dim": [32, 64], "weight_decay": [0.001, 0.01]},
)


# --------------------------------------------------------------------------- public helpers
def _info(name: str) -> ClassifierInfo:
    try:
        return CLASSIFIERS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown classifier {name!r}; valid: {', '.join(sorted(CLASSIFIERS))}"
        ) from None


def calibration_method(name: str, calibration: str | None = None, *,
                       probability: bool = False) -> str | None:  # fmt: skip
    """How :func:`make_classifier` calibrates zoo entry ``name``: a method or None (not at all).

    ``calibration`` is a spec's value: ``"sigmoid"``, ``"isotonic"`` and ``"temperature"`` are
    taken as they are; ``"auto"`` is ``"sigmoid"`` for entries whose scores are not fitted
    probabilities (``proba`` ``"votes"`` or ``"calibrate"``) and None for the others; ``"none"``
    is None. None (the call of older code) calibrates only when ``probability`` asks for
    probabilities that the entry lacks. ``probability=True`` (voting, adaptive fusion) with
    ``"none"`` on an entry without ``predict_proba`` is a :class:`ConfigError`.
    """
    info = _info(name)
    if calibration is None:
        return "sigmoid" if probability and info.proba == "calibrate" else None
    if calibration not in CALIBRATIONS:
        raise ConfigError(
            f"calibration={calibration!r} for classifier {name!r}; valid: {', '.join(CALIBRATIONS)}"
        )
    if calibration == "auto":
        return "sigmoid" if info.proba in ("votes", "calibrate") else None
    if calibration == "none":
        if probability and info.proba == "calibrate":
            raise ConfigError(
                f"classifier {name!r} has no predict_proba without calibration, and this place "
                "needs probabilities (voting or adaptive fusion, or probability = true): use "
                "calibration = 'sigmoid' (or 'isotonic', 'temperature', 'auto')"
            )
        return None
    if calibration == "temperature":
        _check_temperature()
    return calibration


def _check_temperature() -> None:
    from sklearn.calibration import CalibratedClassifierCV as _C

    options = getattr(_C._parameter_constraints["method"][0], "options", ())
    if "temperature" not in options:
        import sklearn

        raise ConfigError(
            f"calibration = 'temperature' needs scikit-learn >= 1.8 (installed: "
            f"{sklearn.__version__}); use 'sigmoid' or 'isotonic'"
        )


def classifier_param_path(name: str, param: str, *, probability: bool = False,
                          calibration: str | None = None) -> str:  # fmt: skip
    """The scikit-learn parameter path of friendly ``param`` in ``make_classifier(name)``.

    ``probability`` and ``calibration`` as for :func:`make_classifier`: a calibrated classifier
    is wrapped, so its parameters sit under ``estimator__``.
    """
    info = _info(name)
    path = info.aliases.get(param, param)
    if calibration_method(name, calibration, probability=probability) is not None:
        path = f"estimator__{path}"
    return path


def _none(value: Any) -> Any:
    """TOML has no null: the string "none" stands for None."""
    return None if isinstance(value, str) and value.lower() == "none" else value


def make_classifier(name: str, *, probability: bool = False, calibration: str | None = None,
                    **params: Any):  # fmt: skip
    """Build zoo classifier ``name`` with friendly ``params``.

    ``calibration`` (a spec's ``"auto"``, ``"sigmoid"``, ``"isotonic"``, ``"temperature"`` or
    ``"none"``; see :func:`calibration_method`) wraps the classifier in
    :class:`SmallSampleCalibratedClassifierCV`; ``probability=True`` guarantees
    ``predict_proba`` (without ``calibration``: SVMs get a sigmoid-calibrated wrapper, nothing
    else changes). The string ``"none"`` stands for None (TOML has no null).
    """
    info = _info(name)
    method = calibration_method(name, calibration, probability=probability)
    params = {k: _none(v) for k, v in params.items()}
    try:
        est = info.factory(**params)
    except TypeError as exc:
        valid = _valid_params(name)
        raise ConfigError(
            f"classifier {name!r}: {exc}; valid parameters: {', '.join(valid)}"
        ) from None
    if method is not None:
        est = SmallSampleCalibratedClassifierCV(
            est, method=method, cv=CALIBRATION_CV, ensemble=False
        )
    return est


def _copy_splits(X, y, cv) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Calibration folds that keep identical feature rows together, or None (no such rows).

    Soft-label training copies an utterance once per voted class, with different labels and
    weights but the same features; stratified folds would fit the classifier on one copy and
    calibrate on another (scores of a row the classifier has seen). Rows with the same
    features are one group here, in ``StratifiedGroupKFold`` folds (deterministic, no shuffle,
    as the stratified ones). Sparse matrices are left to the default folds.
    """
    from scipy import sparse
    from sklearn.model_selection import StratifiedGroupKFold

    if not isinstance(cv, int) or sparse.issparse(X):
        return None
    _, groups = np.unique(np.asarray(X, dtype=float), axis=0, return_inverse=True)
    groups = groups.reshape(-1)
    n_groups = len(np.unique(groups))
    if n_groups == len(groups):
        return None
    labels = np.asarray(y, dtype=object).astype(str)
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
    pairs = np.unique(np.column_stack([groups, codes]), axis=0)
    per_class = np.bincount(pairs[:, 1])  # the groups holding each class
    n = int(min(cv, n_groups, per_class.min()))
    if n < 2:
        return None
    return list(StratifiedGroupKFold(n).split(np.zeros(len(labels)), labels, groups))


class SmallSampleCalibratedClassifierCV(CalibratedClassifierCV):
    """``CalibratedClassifierCV`` whose folds shrink to what the smallest class allows.

    A spec must run unchanged on small corpora, where an inner training fold may hold fewer
    than ``CALIBRATION_CV`` clips of some class: calibration then uses as many folds as that
    class has clips (at least 2), and with a single clip it calibrates in-sample on a model
    fitted to everything (a logged fallback, not an error). With ``sample_weight`` (soft
    labels), identical feature rows (an utterance's copies) share a calibration fold.
    """

    def fit(self, X, y, sample_weight=None, **fit_params):
        copies = _copy_splits(X, y, self.cv) if sample_weight is not None else None
        if copies is not None:
            cv = self.cv
            try:
                self.cv = copies
                return super().fit(X, y, sample_weight=sample_weight, **fit_params)
            finally:
                self.cv = cv
        _, counts = np.unique(np.asarray(y, dtype=object).astype(str), return_counts=True)
        n_min = int(counts.min()) if len(counts) else 0
        if not isinstance(self.cv, int) or n_min >= self.cv:
            return super().fit(X, y, sample_weight=sample_weight, **fit_params)
        cv, estimator = self.cv, self.estimator
        try:
            if n_min >= 2:
                self.cv = n_min
            else:
                from sklearn.frozen import FrozenEstimator

                logger.warning("calibration: a class has one training clip; calibrating the "
                               "SVM's scores in-sample")  # fmt: skip
                self.cv = None
                self.estimator = FrozenEstimator(clone(estimator).fit(X, y, **fit_params))
            return super().fit(X, y, sample_weight=sample_weight, **fit_params)
        finally:  # parameters stay as given (scikit-learn's clone contract)
            self.cv, self.estimator = cv, estimator


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / temperature)``: sharper below 1, flatter above; the argmax (so
    every prediction) is unchanged."""
    p = np.asarray(proba, dtype=np.float64)
    if temperature == 1.0 or p.size == 0:
        return p
    z = np.log(np.clip(p, 1e-12, 1.0)) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(proba: np.ndarray, y, classes, sample_weight=None) -> float:
    """The temperature that minimises the log-loss of ``apply_temperature(proba, T)`` on
    labels ``y`` (columns of ``proba`` in ``classes`` order), searched over [0.05, 20];
    ``sample_weight`` weighs the rows' losses (soft labels: a copy per voted class).

    One parameter fitted by the log-loss (Guo et al., 2017): it cannot reorder the classes, so
    it cannot cost accuracy, and it needs few items. Used on out-of-fold fused probabilities,
    whose averaging of branches makes them under-confident.
    """
    from scipy.optimize import minimize_scalar

    p = np.asarray(proba, dtype=np.float64)
    index = {c: i for i, c in enumerate(classes)}
    rows = [r for r, t in enumerate(y) if t in index]
    if not rows:
        return 1.0
    truth = np.array([index[y[r]] for r in rows])
    logp = np.log(np.clip(p[rows], 1e-12, 1.0))
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)[rows]

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float(np.average(lse - z[np.arange(len(truth)), truth], weights=w))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                          options={"xatol": 1e-4})  # fmt: skip
    return float(np.exp(res.x)) if res.success else 1.0


def _valid_params(name: str) -> list[str]:
    info = _info(name)
    if info.raw_input:
        try:
            est = info.factory()
        except ConfigError:
            return []
        return sorted(est.get_params(deep=False))
    est = info.factory()
    names = set(est.get_params(deep=False)) | set(info.aliases)
    names.discard("estimator")
    return sorted(names)


def check_classifier_params(name: str, params: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the parameter and what it expects, if any is bad."""
    info = _info(name)
    if info.raw_input:
        return  # validated by the classifier itself, which may not be importable yet
    valid = _valid_params(name)
    for key in params:
        if key not in valid and "__" not in key:
            raise ConfigError(
                f"classifier {name!r} has no parameter {key!r}; valid: {', '.join(valid)}"
            )
    try:
        est = make_classifier(name)
        est.set_params(**{info.aliases.get(k, k): _none(v) for k, v in params.items()})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"classifier {name!r}: {exc}") from None
    _validate_nested(name, est)


def _validate_nested(name: str, est) -> None:
    from sklearn.utils._param_validation import InvalidParameterError

    from ._neural import NeuralClassifier

    todo = [est] + [v for v in est.get_params(deep=True).values() if isinstance(v, BaseEstimator)]
    for e in todo:
        check = getattr(e, "_validate_params", None)
        if check is None or not (
            hasattr(e, "_parameter_constraints")
            or isinstance(e, (XGBoostClassifier, NeuralClassifier))
        ):
            continue  # user estimators without declared constraints validate themselves
        try:
            check()
        except InvalidParameterError as exc:
            raise ConfigError(f"classifier {name!r}: {exc}") from None
