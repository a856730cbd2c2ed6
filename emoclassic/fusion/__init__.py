"""Fusion: feature blocks, early (ColumnTransformer) and late (voting, stacking, hybrid,
adaptive) fusion, learned attention over blocks, domain adaptation steps (per-speaker or
per-corpus normalisation, CORAL), and building a spec's pipeline and grid.

Names are imported on first use (:mod:`emoclassic._lazy`): unpickling a saved model imports
only the modules its classes live in (``fusion._late`` for a late-fusion model), not the
pipeline builder, the spec reader and every classifier beside them (40-100 ms of a cold
``emoclassic predict``, issue 16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:  # the names below, for type checkers and editors
    from ._attention import AttentionFusion, attention_summary, attention_weights
    from ._blocks import (
        BLOCK_TYPES,
        BlockType,
        ExtraFeatures,
        block_columns,
        extractor_class,
        make_extractor,
        register_block_type,
    )
    from ._build import (
        FUSIONS,
        build_pipeline,
        friendly_candidates,
        param_grid,
        pipeline_layout,
        translate_params,
    )
    from ._coral import CORAL
    from ._early import make_block, make_block_union
    from ._extra import extra_inputs, read_feature_file
    from ._group_norm import GroupNormalizer
    from ._grouped import DEFAULT_MIN_ROWS, AdaptationWarning, said_once
    from ._late import AdaptiveFusion, StackingFusion, VotingFusion, aligned_proba
    from ._speaker_norm import SpeakerNormalizationWarning, SpeakerNormalizer

# public name -> submodule that defines it (imported on first access)
_LAZY = {
    "AttentionFusion": "_attention",
    "attention_summary": "_attention",
    "attention_weights": "_attention",
    "BLOCK_TYPES": "_blocks",
    "BlockType": "_blocks",
    "ExtraFeatures": "_blocks",
    "block_columns": "_blocks",
    "extractor_class": "_blocks",
    "make_extractor": "_blocks",
    "register_block_type": "_blocks",
    "FUSIONS": "_build",
    "build_pipeline": "_build",
    "friendly_candidates": "_build",
    "param_grid": "_build",
    "pipeline_layout": "_build",
    "translate_params": "_build",
    "make_block": "_early",
    "make_block_union": "_early",
    "extra_inputs": "_extra",
    "read_feature_file": "_extra",
    "AdaptiveFusion": "_late",
    "StackingFusion": "_late",
    "VotingFusion": "_late",
    "aligned_proba": "_late",
    "SpeakerNormalizationWarning": "_speaker_norm",
    "SpeakerNormalizer": "_speaker_norm",
    "CORAL": "_coral",
    "GroupNormalizer": "_group_norm",
    "DEFAULT_MIN_ROWS": "_grouped",
    "AdaptationWarning": "_grouped",
    "said_once": "_grouped",
}

__all__ = [
    "BLOCK_TYPES",
    "CORAL",
    "DEFAULT_MIN_ROWS",
    "FUSIONS",
    "AdaptationWarning",
    "AdaptiveFusion",
    "AttentionFusion",
    "BlockType",
    "ExtraFeatures",
    "GroupNormalizer",
    "SpeakerNormalizationWarning",
    "SpeakerNormalizer",
    "StackingFusion",
    "VotingFusion",
    "aligned_proba",
    "attention_summary",
    "attention_weights",
    "extra_inputs",
    "read_feature_file",
    "block_columns",
    "build_pipeline",
    "extractor_class",
    "friendly_candidates",
    "make_block",
    "make_block_union",
    "make_extractor",
    "param_grid",
    "pipeline_layout",
    "register_block_type",
    "said_once",
    "translate_params",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
