"""Shared feature machinery: the feature store, the base extractor and the precompute step.

:func:`precompute` is the one path by which cross-validation, fitting, scoring and prediction
get their features: every block once per row, :class:`Failure` records for the rows that
could not be computed, and :class:`FeatureTables` that the estimators read afterwards.
"""

from ._base import BaseExtractor, ExtractionResult, Item, extract
from ._failure import Failure
from ._precompute import Precomputed, block_extractors, precompute
from ._save import FEATURE_FILE_SUFFIXES, save_features
from ._store import FeatureStore, file_identity, make_key, resolve_store
from ._tables import FeatureTables, TableLookup, config_key, use_tables, with_lookups

__all__ = [
    "BaseExtractor",
    "ExtractionResult",
    "Failure",
    "FeatureTables",
    "Precomputed",
    "TableLookup",
    "block_extractors",
    "config_key",
    "precompute",
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
