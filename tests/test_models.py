"""The classifier zoo: every entry builds, fits, predicts, validates its parameters."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from emoclassic.exceptions import ConfigError
from emoclassic.models import (
    CLASSIFIERS,
    DEFAULT_GRIDS,
    XGBoostClassifier,
    check_classifier_params,
    classifier_param_path,
    make_classifier,
)

FEATURE_CLASSIFIERS = [
    "adaboost", "bagging_svm", "bagging_trees", "extra_trees", "hist_gb", "linear_svc_kernel",
    "linearsvc", "logreg", "random_forest", "svc", "xgboost",
]  # fmt: skip
#: smaller ensembles keep the test fast; the defaults are exercised by the grid test
FAST = {
    "adaboost": {"n_estimators": 20},
    "bagging_trees": {"n_estimators": 10},
    "extra_trees": {"n_estimators": 30},
    "random_forest": {"n_estimators": 30},
    "hist_gb": {"max_iter": 20},
    "xgboost": {"n_estimators": 20},
}
LABELS = np.array(["anger", "happiness", "neutral", "sadness"])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.repeat(LABELS, 20)
    centres = rng.normal(0, 2.0, (4, 6))
    X = centres[np.searchsorted(LABELS, y)] + rng.normal(0, 1.0, (len(y), 6))
    return X, y


def test_the_zoo_has_every_promised_classifier():
    expected = {
        "svc", "linear_svc_kernel", "linearsvc", "logreg", "random_forest", "extra_trees",
        "bagging_svm", "bagging_trees", "adaboost", "hist_gb", "xgboost", "alexnet",
    }  # fmt: skip
    assert expected <= set(CLASSIFIERS)
    assert set(DEFAULT_GRIDS) == set(CLASSIFIERS)
    assert set(FEATURE_CLASSIFIERS) == expected - {"alexnet"}
    assert CLASSIFIERS["alexnet"].raw_input


@pytest.mark.parametrize("name", FEATURE_CLASSIFIERS)
def test_each_classifier_learns_and_gives_probabilities(name, data):
    X, y = data
    est = make_classifier(name, probability=True, **FAST.get(name, {}))
    with threadpool_limits(1):  # OpenMP/BLAS threads only add waiting on a busy test box
        est.fit(X, y)
    assert list(est.classes_) == list(LABELS)
    assert (est.predict(X) == y).mean() > 0.6
    proba = est.predict_proba(X[:5])
    assert proba.shape == (5, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    clone(est)  # scikit-learn conventions: params stored verbatim


@pytest.mark.parametrize("name", FEATURE_CLASSIFIERS)
def test_default_grids_are_valid_parameters(name):
    for param, values in DEFAULT_GRIDS[name].items():
        assert values, f"{name}.{param} has an empty grid"
        for v in values:
            check_classifier_params(name, {param: v})
            path = classifier_param_path(name, param)
            make_classifier(name).set_params(**{path: v})


def test_friendly_names_reach_the_bagged_svm():
    est = make_classifier("bagging_svm", C=3.0, class_weight="balanced", n_estimators=4)
    assert est.estimator.C == 3.0 and est.estimator.class_weight == "balanced"
    assert est.n_estimators == 4
    assert classifier_param_path("bagging_svm", "C") == "estimator__C"
    assert classifier_param_path("svc", "C", probability=True) == "estimator__C"
    assert classifier_param_path("logreg", "C", probability=True) == "C"


def test_class_weight_is_accepted_everywhere_it_makes_sense(data):
    X, y = data
    for name in ("svc", "linearsvc", "logreg", "random_forest", "extra_trees", "bagging_svm",
                 "bagging_trees", "adaboost", "hist_gb", "xgboost"):  # fmt: skip
        make_classifier(name, class_weight="balanced", **FAST.get(name, {})).fit(X[:40], y[:40])


def test_none_string_means_none():
    assert make_classifier("random_forest", max_depth="none").max_depth is None


def test_xgboost_wrapper_takes_string_labels_and_weights(data):
    X, y = data
    est = XGBoostClassifier(n_estimators=20, max_depth=2, class_weight="balanced", n_jobs=1)
    est.fit(X, y)
    assert set(est.predict(X)) <= set(LABELS)
    assert est.predict_proba(X).shape == (len(y), 4)
    assert est.booster_.get_params()["n_jobs"] == 1
    with pytest.raises(ConfigError, match="max_depth"):
        XGBoostClassifier(max_depth=0).fit(X, y)


def test_unknown_classifier_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown classifier 'svm'.*valid:.*svc"):
        make_classifier("svm")


def test_bad_parameters_name_the_parameter_and_the_expectation():
    with pytest.raises(ConfigError, match="'C' parameter of SVC must be a float"):
        check_classifier_params("svc", {"C": "ten"})
    with pytest.raises(ConfigError, match="no parameter 'Cee'.*valid: C"):
        check_classifier_params("svc", {"Cee": 1.0})
    with pytest.raises(ConfigError, match="'C' parameter of SVC"):
        check_classifier_params("bagging_svm", {"C": -1.0})
    with pytest.raises(ConfigError, match="learning_rate"):
        check_classifier_params("xgboost", {"learning_rate": "fast"})


@pytest.mark.parametrize("per_class", [1, 2, 5])
def test_calibrated_svm_fits_when_a_class_has_fewer_clips_than_calibration_folds(per_class):
    import pickle

    from emoclassic.models._zoo import SmallSampleCalibratedClassifierCV

    rng = np.random.default_rng(0)
    y = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * per_class)
    X = rng.normal(size=(len(y), 4)) + (y == "b")[:, None] * 3 - (y == "c")[:, None] * 3
    clf = make_classifier("linear_svc_kernel", probability=True, C=1.0)
    assert isinstance(clf, SmallSampleCalibratedClassifierCV)
    before = clf.get_params(deep=False)
    p = clf.fit(X, y).predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert list(clf.classes_) == ["a", "b", "c"]
    assert clf.get_params(deep=False).keys() == before.keys() and clf.cv == before["cv"]
    assert type(clf.estimator) is type(before["estimator"])  # not left frozen
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), p)
