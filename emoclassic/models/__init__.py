"""The classifier zoo: classical classifiers by name, with default grids, and the small torch
heads (an LSTM over frame sequences, attention fusion over feature blocks).

The public names are those of the submodules' ``__all__`` lists, re-exported here and
imported on first use (:mod:`emoclassic._lazy`), so that unpickling a saved model loads the zoo
without the torch heads' modules (issue 16, fast start); ``tests/test_models.py`` checks that
this map and the submodules' lists agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:  # the names below, for type checkers and editors
    from ._attention import AttentionFusionClassifier, block_widths
    from ._lstm import LSTMSpectrogramClassifier
    from ._neural import NeuralClassifier
    from ._zoo import (
        CALIBRATIONS,
        CLASSIFIERS,
        DEFAULT_GRIDS,
        ClassifierInfo,
        SmallSampleCalibratedClassifierCV,
        XGBoostClassifier,
        apply_temperature,
        calibration_method,
        check_classifier_params,
        classifier_param_path,
        fit_temperature,
        make_classifier,
        register_classifier,
    )

# public name -> submodule that defines it (imported on first access)
_LAZY = {
    "AttentionFusionClassifier": "_attention",
    "block_widths": "_attention",
    "LSTMSpectrogramClassifier": "_lstm",
    "NeuralClassifier": "_neural",
    "CLASSIFIERS": "_zoo",
    "DEFAULT_GRIDS": "_zoo",
    "ClassifierInfo": "_zoo",
    "XGBoostClassifier": "_zoo",
    "check_classifier_params": "_zoo",
    "CALIBRATIONS": "_zoo",
    "SmallSampleCalibratedClassifierCV": "_zoo",
    "apply_temperature": "_zoo",
    "calibration_method": "_zoo",
    "classifier_param_path": "_zoo",
    "fit_temperature": "_zoo",
    "make_classifier": "_zoo",
    "register_classifier": "_zoo",
}

__all__ = [
    "AttentionFusionClassifier",
    "block_widths",
    "LSTMSpectrogramClassifier",
    "NeuralClassifier",
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

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
