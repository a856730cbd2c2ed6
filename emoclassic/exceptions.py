"""One exception family, so callers (and the CLI) can catch everything emoclassic raises.

Messages are a single line that names the file, row or field at fault and says how to fix it.
"""

from __future__ import annotations

__all__ = [
    "EmoclassicError",
    "DataError",
    "AudioError",
    "ConfigError",
    "ModelError",
    "BatchError",
]


class EmoclassicError(Exception):
    """Base class of every error emoclassic raises on purpose."""


class DataError(EmoclassicError, ValueError):
    """A manifest, corpus folder or input value is malformed."""


class AudioError(DataError):
    """An audio file cannot be decoded or holds unusable samples."""


class ConfigError(EmoclassicError, ValueError):
    """A pipeline spec, option or parameter is invalid."""


class ModelError(EmoclassicError):
    """A saved model is missing, corrupt, altered or incompatible."""


class BatchError(DataError):
    """Some items of a batch failed; the others were computed (and cached).

    ``failures`` is a list of :class:`emoclassic.features.Failure` records.
    """

    def __init__(self, message: str, failures: list | None = None):
        super().__init__(message)
        self.failures = list(failures or [])
