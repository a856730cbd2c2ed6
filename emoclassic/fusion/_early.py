"""Feature-level (early) fusion: a ColumnTransformer of named, separately scaled blocks.

Each block is a small Pipeline over the manifest columns it reads::

    extract (the extractor; wrapped in GroupNormalizer(extractor, by=speaker|corpus) when
             normalised, and that in CORAL(..., by=corpus) when adapted)
    → encode (a frame encoding fitted in-fold, with ``encode``; when normalised or adapted the
      wrappers hold Pipeline[extract, encode], so the encodings are what they standardise)
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
from ..spec._types import block_adaptation, block_normalization, pca_components, valid_value
from ._blocks import block_columns, block_scales, make_extractor
from ._coral import CORAL
from ._encode import make_encoder
from ._group_norm import GroupNormalizer

__all__ = ["make_block", "make_block_union", "wrap_extractor"]

#: the manifest column a CORAL step groups by: each corpus is a domain
CORAL_COLUMN = "corpus"


class BlockColumns(list):
    """The manifest columns a block reads, as its ColumnTransformer selection.

    A list of names, and a callable (scikit-learn resolves it on the frame ``fit`` sees) that
    leaves out the ``optional`` names the frame lacks: a speaker-normalised block reads the
    ``corpus`` column when there is one (a speaker is a (corpus, speaker) pair) and still
    runs on a bare frame without it.
    """

    def __init__(self, columns: Iterable[str], optional: Iterable[str] = ()):
        super().__init__(columns)
        self.optional = tuple(optional)

    def __call__(self, X) -> list[str]:
        have = set(getattr(X, "columns", ()))
        return [c for c in self if c not in self.optional or c in have]


def block_wrappers(options: dict[str, Any], normalization: str = "none",
                   adaptation: str = "none") -> int:  # fmt: skip
    """How many adaptation steps wrap the extractor of a block (0, 1 or 2)."""
    return int(block_normalization(options, normalization) != "none") + int(
        block_adaptation(options, adaptation) != "none"
    )


def wrap_extractor(extractor: Any, columns: list[str], normalization: str,
                   adaptation: str) -> tuple[Any, list[str]]:  # fmt: skip
    """The block's ``extract`` step and columns with its adaptation steps around it.

    Normalisation comes first (each speaker or corpus standardised), CORAL around it (a new
    corpus's correlations aligned to the training data's); each step adds the manifest
    column it groups by to the columns the block reads, and a speaker-normalised block the
    ``corpus`` column when the frame has one (:class:`BlockColumns`).
    """
    columns = list(columns)
    if normalization != "none":
        extractor = GroupNormalizer(extractor, by=normalization)
        columns += [normalization] if normalization not in columns else []
    if normalization not in ("none", CORAL_COLUMN) and CORAL_COLUMN not in columns:
        # a speaker is a (corpus, speaker) pair: read the corpus column when the frame has one
        columns = BlockColumns([*columns, CORAL_COLUMN], optional=[CORAL_COLUMN])
    if adaptation == "coral":
        extractor = CORAL(extractor, by=CORAL_COLUMN)
        columns = list(columns)  # CORAL needs the corpus column: no longer optional
        columns += [CORAL_COLUMN] if CORAL_COLUMN not in columns else []
    return extractor, columns


def make_block(
    name: str,
    type_name: str,
    options: dict[str, Any],
    *,
    cache: Any = None,
    n_jobs: int = 1,
    base_dir: Any = None,
    normalization: str = "none",
    adaptation: str = "none",
    steps_needed: Iterable[str] = (),
) -> tuple[Pipeline, list[str]]:
    """One block's Pipeline and the manifest columns it reads.

    ``normalization`` and ``adaptation`` are the spec's (a block's own options win);
    ``steps_needed`` names optional steps (``"pca"``, ``"select"``) the grid will tune even if
    the block's options leave them off.
    """
    needed = set(steps_needed)
    extractor = make_extractor(type_name, options, cache=cache, n_jobs=n_jobs, base_dir=base_dir,
                               block=name)
    encoder = make_encoder(name, options["encode"]) if "encode" in options else None
    normalization = block_normalization(options, normalization)
    adaptation = block_adaptation(options, adaptation)
    if encoder is not None and (normalization != "none" or adaptation != "none"):
        extractor = Pipeline([("extract", extractor), ("encode", encoder)])  # encodings adapted
        encoder = None
    extractor, columns = wrap_extractor(
        extractor, block_columns(type_name, options), normalization, adaptation
    )
    steps: list[tuple[str, Any]] = [("extract", extractor)]
    if encoder is not None:
        steps.append(("encode", encoder))
    scale = options.get("scale", True if "encode" in options else block_scales(type_name))
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
