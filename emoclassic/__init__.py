"""emoclassic: speech emotion recognition fusing audio and transcripts with classical ML.

Subpackages, one concept each: ``data`` (manifests, corpus readers, the demo corpus),
``features`` (feature store, base extractor), ``audio``, ``text``, ``fusion``, ``models``,
``spec``, ``evaluation``; plus ``artifacts``, ``prediction``, ``cli`` and :class:`Recognizer`
(a saved model kept warm for applications). Public names of the subpackages are
re-exported here lazily, so ``import emoclassic`` stays fast and pulls in no torch.
"""

from __future__ import annotations

import logging

from ._lazy import lazy_attributes

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> submodule that defines it (imported on first access)
_LAZY = {
    "EmoclassicError": "exceptions",
    "DataError": "exceptions",
    "AudioError": "exceptions",
    "ConfigError": "exceptions",
    "ModelError": "exceptions",
    "BatchError": "exceptions",
    "FeatureStore": "features",
    "config_context": "_config",
    "get_config": "_config",
    "set_config": "_config",
    "extract": "features",
    "Recognizer": "recognizer",
    "Prediction": "recognizer",
    "PredictionBatch": "recognizer",
    "WindowPrediction": "recognizer",
}

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
