"""The classifier zoo: classical classifiers by name, with default grids."""

from ._zoo import (
    CLASSIFIERS,
    DEFAULT_GRIDS,
    ClassifierInfo,
    XGBoostClassifier,
    check_classifier_params,
    classifier_param_path,
    make_classifier,
    register_classifier,
)

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_GRIDS",
    "ClassifierInfo",
    "XGBoostClassifier",
    "check_classifier_params",
    "classifier_param_path",
    "make_classifier",
    "register_classifier",
]
