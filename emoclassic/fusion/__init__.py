"""Fusion: feature blocks, early (ColumnTransformer) and late (voting, stacking, hybrid,
adaptive) fusion, learned attention over blocks, speaker normalisation, and building a spec's
pipeline and grid."""

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
from ._early import make_block, make_block_union
from ._extra import extra_inputs, read_feature_file
from ._late import AdaptiveFusion, StackingFusion, VotingFusion, aligned_proba
from ._speaker_norm import SpeakerNormalizationWarning, SpeakerNormalizer

__all__ = [
    "BLOCK_TYPES",
    "FUSIONS",
    "AdaptiveFusion",
    "AttentionFusion",
    "BlockType",
    "ExtraFeatures",
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
    "translate_params",
]
