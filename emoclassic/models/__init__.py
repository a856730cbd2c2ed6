"""The classifier zoo: classical classifiers by name, with default grids, and the small torch
heads (an LSTM over frame sequences, attention fusion over feature blocks)."""

from ._attention import AttentionFusionClassifier, block_widths
from ._lstm import LSTMSpectrogramClassifier
from ._neural import NeuralClassifier
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
    "AttentionFusionClassifier",
    "LSTMSpectrogramClassifier",
    "NeuralClassifier",
    "block_widths",
    "CLASSIFIERS",
    "DEFAULT_GRIDS",
    "ClassifierInfo",
    "XGBoostClassifier",
    "check_classifier_params",
    "classifier_param_path",
    "make_classifier",
    "register_classifier",
]
