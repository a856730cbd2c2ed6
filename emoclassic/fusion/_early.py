"""Feature-level (early) fusion: a ColumnTransformer of named, separately scaled blocks.

Each block is a small Pipeline over the manifest columns it reads::

    extract (the extractor, or SpeakerNormalizer(extractor) when speaker-normalised)
    → scale (StandardScaler; with_mean=False on sparse TF-IDF)
    → select (SelectKBest, optional) → pca (PCA, optional)

and the ColumnTransformer concatenates the blocks, each multiplied by its weight
(``transformer_weights``: gridable, so the grid decides how much each modality counts).
Scaling per block keeps a 6 000-dimensional audio block from drowning a 384-dimensional text
block merely by its size; the weights then set the balance explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..exceptions import ConfigError
from ..spec._types import pca_components, valid_value
from ._blocks import block_columns, block_scales, make_extractor
from ._speaker_norm import SpeakerNormalizer

__all__ = ["make_block", "make_block_union"]

SPEAKER_COLUMN = "speaker"


def block_uses_normalizer(options: dict[str, Any], default: bool) -> bool:
    flag = options.get("speaker_normalization", default)
    return bool(flag)


def make_block(
    name: str,
    type_name: str,
    options: dict[str, Any],
    *,
    cache: Any = None,
    n_jobs: int = 1,
    base_dir: Any = None,
    speaker_normalization: bool = False,
    steps_needed: Iterable[str] = (),
) -> tuple[Pipeline, list[str]]:
    """One block's Pipeline and the manifest columns it reads.

    ``steps_needed`` names optional steps (``"pca"``, ``"select"``) the grid will tune even if
    the block's options leave them off.
    """
    needed = set(steps_needed)
    extractor = make_extractor(type_name, options, cache=cache, n_jobs=n_jobs, base_dir=base_dir,
                               block=name)
    columns = block_columns(type_name, options)
    normalise = block_uses_normalizer(options, speaker_normalization)
    if normalise:
        extractor = SpeakerNormalizer(extractor, speaker_column=SPEAKER_COLUMN)
        if SPEAKER_COLUMN not in columns:
            columns = [*columns, SPEAKER_COLUMN]
    steps: list[tuple[str, Any]] = [("extract", extractor)]
    scale = options.get("scale", block_scales(type_name))
    if not valid_value("scale", scale):
        raise ConfigError(f"block {name!r}: scale={scale!r} must be true or false")
    if scale:
        steps.append(("scale", StandardScaler(with_mean=type_name != "tfidf")))
    if "select_k" in options or "select" in needed:
        k = options.get("select_k", "all")
        if not valid_value("select_k", k):
            raise ConfigError(f"block {name!r}: select_k={k!r} must be an integer >= 1 or 'all'")
        steps.append(("select", SelectKBest(f_classif, k=k)))
    if "pca" in options or "pca" in needed:
        n = pca_components(name, options.get("pca"))
        steps.append(("pca", PCA(n_components=n, random_state=0)))
    return Pipeline(steps), columns


def make_block_union(
    blocks: dict[str, tuple[Pipeline, list[str]]], weights: dict[str, float] | None = None
) -> ColumnTransformer:
    """The early-fusion ColumnTransformer over named block pipelines."""
    return ColumnTransformer(
        [(name, pipe, cols) for name, (pipe, cols) in blocks.items()],
        remainder="drop",
        sparse_threshold=0.3,
        transformer_weights=dict(weights) if weights else None,
        verbose_feature_names_out=True,
    )
