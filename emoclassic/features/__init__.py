"""Shared feature machinery: the on-disk feature store and the base extractor."""

from ._base import BaseExtractor, ExtractionResult, Item, extract
from ._store import FeatureStore, file_identity, make_key, resolve_store

__all__ = [
    "BaseExtractor",
    "ExtractionResult",
    "FeatureStore",
    "Item",
    "extract",
    "file_identity",
    "make_key",
    "resolve_store",
]
