"""Pipeline specs (TOML): parsed and validated into :class:`PipelineSpec` objects.

Specs are addressed by path or, for the specs that ship with the package, by name
(``load_spec("recommended-audio")``; :func:`shipped_specs` lists them). A spec's parts are
typed (:class:`BlockSpec`, :class:`FusionSpec`, :class:`ClassifierSpec`, :class:`CVSpec`,
:class:`LabelsSpec`) and :class:`GridKey` parses its grid keys.
"""

from ._labels import LABEL_MODES, LabelsSpec
from ._shipped import ShippedSpec, resolve_spec, shipped_spec_path, shipped_specs
from ._spec import CV_SCHEMES, INNER_SCHEMES, SCORING_ALIASES, PipelineSpec, load_spec
from ._types import BlockSpec, ClassifierSpec, CVSpec, FusionSpec, GridKey

__all__ = [
    "CV_SCHEMES",
    "INNER_SCHEMES",
    "LABEL_MODES",
    "SCORING_ALIASES",
    "BlockSpec",
    "CVSpec",
    "ClassifierSpec",
    "FusionSpec",
    "GridKey",
    "LabelsSpec",
    "PipelineSpec",
    "ShippedSpec",
    "load_spec",
    "resolve_spec",
    "shipped_spec_path",
    "shipped_specs",
]
