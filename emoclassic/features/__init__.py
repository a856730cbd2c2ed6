"""Shared feature machinery: the feature store, the base extractor and the precompute step.

:func:`precompute` is the one path by which cross-validation, fitting, scoring and prediction
get their features: every block once per row, :class:`Failure` records for the rows that
could not be computed, and :class:`FeatureTables` that the estimators read afterwards.

Names are imported on first use (as in :mod:`emoclassic`): the base extractor pulls in
scikit-learn (about 1 s), which a fully cached command-line run
(:func:`cached_extraction`) never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:  # the names below, for type checkers and editors
    from ._base import BaseExtractor, Item, extract
    from ._cached import cached_extraction, remember_extraction
    from ._failure import Failure
    from ._precompute import Precomputed, block_extractors, precompute
    from ._result import ExtractionResult
    from ._save import FEATURE_FILE_SUFFIXES, save_features
    from ._store import FeatureStore, file_identity, make_key, resolve_store
    from ._tables import FeatureTables, TableLookup, config_key, use_tables, with_lookups

# public name -> submodule that defines it (imported on first access)
_LAZY = {
    "BaseExtractor": "_base",
    "Item": "_base",
    "extract": "_base",
    "cached_extraction": "_cached",
    "remember_extraction": "_cached",
    "ExtractionResult": "_result",
    "Failure": "_failure",
    "Precomputed": "_precompute",
    "block_extractors": "_precompute",
    "precompute": "_precompute",
    "FEATURE_FILE_SUFFIXES": "_save",
    "save_features": "_save",
    "FeatureStore": "_store",
    "file_identity": "_store",
    "make_key": "_store",
    "resolve_store": "_store",
    "FeatureTables": "_tables",
    "TableLookup": "_tables",
    "config_key": "_tables",
    "use_tables": "_tables",
    "with_lookups": "_tables",
}

__all__ = [
    "BaseExtractor",
    "ExtractionResult",
    "Failure",
    "FeatureTables",
    "Precomputed",
    "TableLookup",
    "block_extractors",
    "cached_extraction",
    "config_key",
    "precompute",
    "remember_extraction",
    "use_tables",
    "with_lookups",
    "FeatureStore",
    "Item",
    "extract",
    "file_identity",
    "make_key",
    "resolve_store",
    "FEATURE_FILE_SUFFIXES",
    "save_features",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
