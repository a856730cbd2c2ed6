"""Pipeline specs (TOML): parsed and validated into :class:`PipelineSpec` objects."""

from ._spec import CV_SCHEMES, INNER_SCHEMES, SCORING_ALIASES, PipelineSpec, load_spec

__all__ = ["CV_SCHEMES", "INNER_SCHEMES", "SCORING_ALIASES", "PipelineSpec", "load_spec"]
