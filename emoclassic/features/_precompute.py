"""The one precompute step every entry point shares: features once, failures once.

Cross-validation, fitting, scoring and prediction all need the same thing first: every feature
block of a spec or model computed for every row of a manifest, the rows that could not be
computed set apart with the reason, and the rest ready for the estimators to read many times.
:func:`precompute` does that once, the same way for all four, so a bad file is reported the
same way whichever command met it (one :class:`Failure` record, end to end) and the model
then runs on the good rows only: no retries, no guessing which row an error belonged to.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ._base import BaseExtractor, extract
from ._failure import Failure
from ._tables import FeatureTables, config_key

logger = logging.getLogger(__name__)

__all__ = ["Failure", "Precomputed", "precompute"]


@dataclass
class Precomputed:
    """What :func:`precompute` found: the feature tables, the failures, the time it took."""

    tables: FeatureTables
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_ids(self) -> set[str]:
        return {f.id for f in self.failures}

    def good(self, manifest: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``manifest`` that every block could compute."""
        bad = self.failed_ids
        if not bad:
            return manifest
        keep = ~manifest["id"].astype(str).isin(bad).to_numpy()
        return manifest.loc[keep].reset_index(drop=True)

    def merge(self, other: Precomputed) -> Precomputed:
        """Add another precompute's tables and (new) failures to this one."""
        self.tables.blocks.update(other.tables.blocks)
        seen = {(f.id, f.block) for f in self.failures}
        self.failures += [f for f in other.failures if (f.id, f.block) not in seen]
        self.seconds += other.seconds
        return self


def _row_paths(manifest: pd.DataFrame) -> dict[str, str | None]:
    if "path" not in manifest.columns:
        return {}
    return {
        str(i): (p if isinstance(p, str) and p else None)
        for i, p in zip(manifest["id"], manifest["path"], strict=True)
    }


def _block_of(key: str) -> str:
    """The block name in a pipeline parameter path (``...__audio__extract`` → ``audio``)."""
    parts = key.split("__")
    if parts[-1] != "extract" and parts[-1] != "transformer":
        return key
    while len(parts) > 1 and parts[-1] in ("extract", "transformer"):
        parts = parts[:-1]  # ...__B__extract(__transformer...)(__extract): adapted, encoded
    return parts[-1]


def block_extractors(estimator: Any) -> list[tuple[str, BaseExtractor]]:
    """``(block name, extractor)`` for every stateless extractor a pipeline runs.

    Parameter paths name the blocks of an unfitted pipeline; a fitted model's clones (which
    ``get_params`` does not reach) are found by the one estimator walk and named after the
    template of the same configuration, else after their class.
    """
    from .._walk import iter_estimators

    named: dict[str, tuple[str, BaseExtractor]] = {}
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    for key, value in params.items():
        if isinstance(value, BaseExtractor):
            named.setdefault(config_key(value), (_block_of(key), value))
    for obj in iter_estimators(estimator):
        if isinstance(obj, BaseExtractor):
            named.setdefault(config_key(obj), (type(obj).__name__, obj))
    return list(named.values())


def _spec_extractors(spec: Any, *, variants: bool) -> list[tuple[str, BaseExtractor]]:
    """The spec's block extractors, plus every extractor setting its grid tries."""
    from sklearn.base import clone

    from ..fusion import build_pipeline, friendly_candidates, translate_params

    base = build_pipeline(spec)
    pipes = [base]
    if variants:
        subs: dict[str, dict] = {}
        for cand in friendly_candidates(spec):
            sub = {k: v for k, v in cand.items() if _is_extractor_key(k)}
            if sub:
                subs[repr(sorted(sub.items(), key=lambda kv: kv[0]))] = sub
        pipes += [clone(base).set_params(**translate_params(spec, s)) for s in subs.values()]
    out: dict[str, tuple[str, BaseExtractor]] = {}
    for pipe in pipes:
        for block, ext in block_extractors(pipe):
            out.setdefault(config_key(ext), (block, ext))
    return list(out.values())


def _is_extractor_key(key: str) -> bool:
    """A grid key that changes an extractor's settings (so its features must be precomputed)."""
    from ..exceptions import ConfigError
    from ..spec import GridKey

    try:
        return GridKey.parse(key).changes_extractor
    except ConfigError:
        return False


def precompute(
    model_or_spec: Any,
    manifest: pd.DataFrame,
    *,
    variants: bool = True,
    tables: FeatureTables | None = None,
    extractors: list[tuple[str, BaseExtractor]] | None = None,
) -> Precomputed:
    """Extract every feature block of a spec or a (fitted) model for every row of ``manifest``.

    ``model_or_spec``: a :class:`~emoclassic.spec.PipelineSpec` (or a spec name, path or dict;
    with ``variants`` the extractor settings its grid tries are computed too) or an estimator
    (its extractors, fitted clones included). Runtime settings (cache folder, workers,
    progress, backend) come from :func:`emoclassic.config_context`. Returns the feature tables
    (read by the estimators inside :func:`emoclassic.features.use_tables`, or through
    :func:`emoclassic.features.with_lookups` in a CV) and one :class:`Failure` per row and
    block that could not be computed. Blocks already in ``tables`` are not computed again.
    ``extractors``: the model's ``(block, extractor)`` pairs when the caller already found them
    with :func:`block_extractors` (a model kept warm for many predictions), so the estimator is
    not walked again on every call.
    """
    t0 = time.perf_counter()
    # the spec reader (TOML, every block type) only for a spec: a fitted model's cold
    # prediction does without it (a PipelineSpec exists only once emoclassic.spec is loaded)
    spec_mod = sys.modules.get("emoclassic.spec")
    is_spec = isinstance(model_or_spec, (str, dict)) or hasattr(model_or_spec, "__fspath__") \
        or (spec_mod is not None and isinstance(model_or_spec, spec_mod.PipelineSpec))
    if extractors is None and is_spec:
        from ..spec import PipelineSpec, load_spec

        spec = model_or_spec if isinstance(model_or_spec, PipelineSpec) else load_spec(
            model_or_spec)
        extractors = _spec_extractors(spec, variants=variants)
    elif extractors is None:
        extractors = block_extractors(model_or_spec)
    out = Precomputed(tables=tables if tables is not None else FeatureTables())
    paths = _row_paths(manifest)
    for block, ext in extractors:
        key = config_key(ext)
        if key in out.tables:
            continue
        res = extract(ext, manifest)
        out.failures += [
            Failure(id=str(f.id), path=paths.get(str(f.id)), block=block, message=f.message)
            for f in res.failures
        ]
        out.tables.add(key, res.ids, res.features)
    out.seconds = time.perf_counter() - t0
    if out.failures:
        logger.info("precompute: %d item(s) failed in %d block(s)", len(out.failed_ids),
                    len({f.block for f in out.failures}))
    return out
