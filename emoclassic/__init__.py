"""emoclassic: speech emotion recognition fusing audio and transcripts with classical ML.

Subpackages, one concept each: ``data`` (manifests, corpus readers, the demo corpus),
``features`` (feature store, base extractor), ``audio``, ``text``, ``fusion``, ``models``,
``spec``, ``evaluation``; plus ``artifacts`` and ``cli``. Public names of the subpackages are
re-exported here lazily, so ``import emoclassic`` stays fast and pulls in no torch.
"""

from __future__ import annotations

import importlib
import logging

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
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emoclassic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
