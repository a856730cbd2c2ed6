"""Out-of-distribution flags: does a new item lie inside the model's training data?

``_detector``: :class:`OODDetector`, one feature matrix's distance to its training rows
(standardised, principal subspace, nearest neighbours or Mahalanobis), its threshold
calibrated on out-of-fold distances; ``_model``: :class:`ModelOOD`, one detector per modality
of a fitted model, fitted by :func:`fit_model_ood` in :func:`emoclassic.evaluation.fit_final`,
stored on the estimator as ``emoclassic_ood_`` and read by prediction.
"""

from ._detector import METHODS, OODDetector
from ._model import MAX_SCORE, ModelOOD, OODScores, block_keys, fit_model_ood, modality_of

__all__ = ["MAX_SCORE", "METHODS", "ModelOOD", "OODDetector", "OODScores", "block_keys",
           "fit_model_ood", "modality_of"]
