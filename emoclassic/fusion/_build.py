"""Turn a :class:`~emoclassic.spec.PipelineSpec` into a scikit-learn Pipeline and its grid.

Layouts (the step names are stable: grids, saved models and reports refer to them)::

    early     Pipeline[features: ColumnTransformer(blocks), clf]
    voting    Pipeline[fusion: VotingFusion([(branch, Pipeline[features, clf]), ...])]
    adaptive  Pipeline[fusion: AdaptiveFusion([...])]
    stacking  Pipeline[fusion: StackingFusion([...], final_estimator=meta)]
    hybrid    Pipeline[fusion: StackingFusion([("fused", <early pipeline>), (branch, ...), ...])]
    attention Pipeline[fusion: AttentionFusion(features=ColumnTransformer(blocks), classifier)]

Branches are the spec's modalities (``audio``, ``text``, ``extra``), or its blocks with
``fusion.branches = "block"``. A classifier that reads the manifest itself (``alexnet``) makes
the pipeline ``Pipeline[clf]``.

Grids are written with *friendly* dotted keys (see docs/pipelines.md) and translated here into
scikit-learn parameter paths; tied keys (``classifier.C`` in every branch, a block's PCA in both
the fused and its modality branch) become one candidate each, so a grid of 12 friendly
candidates is 12 GridSearchCV candidates whatever the fusion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline

from ..exceptions import ConfigError
from ..models import CLASSIFIERS, check_classifier_params, classifier_param_path, make_classifier
from ._attention import AttentionFusion
from ._blocks import STEP_OPTIONS, block_modality, extractor_options
from ._early import _pca_value, block_uses_normalizer, make_block, make_block_union
from ._late import AdaptiveFusion, StackingFusion, VotingFusion

__all__ = [
    "FUSIONS",
    "build_pipeline",
    "friendly_candidates",
    "param_grid",
    "pipeline_layout",
    "translate_params",
]

FUSIONS = ("early", "voting", "stacking", "hybrid", "adaptive", "attention")
LATE = ("voting", "stacking", "hybrid", "adaptive")


def _as_spec(spec):
    from ..spec import PipelineSpec, load_spec

    return spec if isinstance(spec, PipelineSpec) else load_spec(spec)


@dataclass
class _Layout:
    """Where every friendly key lands in the pipeline of one spec."""

    fusion: str
    blocks: dict[str, dict]
    normalized: dict[str, bool]
    branches: dict[str, list[str]] = field(default_factory=dict)  # late: branch -> blocks
    ct_blocks: dict[str, list[str]] = field(default_factory=dict)  # CT path -> its blocks
    block_sites: dict[str, list[str]] = field(default_factory=dict)  # block -> CT paths
    clf_sites: list[tuple[str, str, bool]] = field(default_factory=list)  # main classifier
    override_sites: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    meta: str | None = None
    raw: bool = False
    probability: bool = False  # branches must give probabilities (voting, adaptive)


def pipeline_layout(spec) -> _Layout:
    """Where the blocks, classifiers and fusion parameters of ``spec`` live."""
    spec = _as_spec(spec)
    fusion = spec.fusion
    if fusion not in FUSIONS:
        raise ConfigError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
    blocks = {n: dict(b) for n, b in spec.features.items()}
    norm = {
        n: block_uses_normalizer(b.get("options", {}), spec.speaker_normalization)
        for n, b in blocks.items()
    }
    lay = _Layout(fusion, blocks, norm)
    clf_name = spec.classifier["name"]
    own_prob = bool(spec.classifier.get("params", {}).get("probability", False))
    if CLASSIFIERS.get(clf_name) is not None and CLASSIFIERS[clf_name].raw_input:
        if fusion != "early" or blocks:
            raise ConfigError(
                f"classifier {clf_name!r} reads the manifest itself: use it with fusion='early' "
                "and no [features] blocks"
            )
        lay.raw = True
        lay.clf_sites.append(("clf", clf_name, False))
        return lay
    if not blocks:
        raise ConfigError("the spec has no [features] blocks; add at least one")
    _check_block_attention(fusion, clf_name)
    if fusion == "early":
        lay.ct_blocks["features"] = list(blocks)
        lay.clf_sites.append(("clf", clf_name, own_prob))
    elif fusion == "attention":
        lay.ct_blocks["fusion__features"] = list(blocks)
        lay.clf_sites.append(("fusion__classifier", clf_name, own_prob))
    else:
        by = spec.fusion_options.get("branches", "modality")
        for n, b in blocks.items():
            key = n if by == "block" else block_modality(b["type"], b.get("options"))
            lay.branches.setdefault(key, []).append(n)
        if len(lay.branches) < 2 and fusion != "hybrid":
            raise ConfigError(
                f"{fusion} fusion needs at least two branches but every block is "
                f"{next(iter(lay.branches))!r}; use fusion='early' or fusion.branches='block'"
            )
        overrides = spec.fusion_options.get("classifiers", {})
        prob = fusion in ("voting", "adaptive")  # stacking reads decision values if need be
        lay.probability = prob
        if fusion == "hybrid":
            lay.ct_blocks["fusion__fused__features"] = list(blocks)
            lay.clf_sites.append(("fusion__fused__clf", clf_name, prob or own_prob))
        for br, names in lay.branches.items():
            lay.ct_blocks[f"fusion__{br}__features"] = list(names)
            if br in overrides:
                o = overrides[br]
                o_prob = prob or bool(o.get("params", {}).get("probability", False))
                lay.override_sites[br] = (f"fusion__{br}__clf", o["name"], o_prob)
            else:
                lay.clf_sites.append((f"fusion__{br}__clf", clf_name, prob or own_prob))
        if fusion in ("stacking", "hybrid"):
            lay.meta = spec.fusion_options.get("meta", {}).get("name", "logreg")
    for ct, names in lay.ct_blocks.items():
        for n in names:
            lay.block_sites.setdefault(n, []).append(ct)
    return lay


def _check_block_attention(fusion: str, clf_name: str) -> None:
    """Attention fusion needs a classifier told the block layout (a ``blocks`` parameter),
    and such a classifier is pointless without it (one block: attention is always 1)."""
    info = CLASSIFIERS.get(clf_name)
    if info is None:
        return  # unknown names are reported by the classifier check
    try:
        takes_blocks = "blocks" in info.factory().get_params(deep=False)
    except Exception:  # noqa: BLE001 - a factory that needs arguments cannot be attention
        takes_blocks = False
    if fusion == "attention" and not takes_blocks:
        raise ConfigError(
            f"fusion 'attention' needs a classifier that weighs blocks (e.g. name = "
            f"'attention'); {clf_name!r} has no 'blocks' parameter"
        )
    if fusion != "attention" and takes_blocks:
        raise ConfigError(
            f"classifier {clf_name!r} weighs feature blocks: use it with fusion = 'attention'"
        )


# --------------------------------------------------------------------------- grid keys
def _grid_steps(spec) -> dict[str, set[str]]:
    """Optional block steps the grid tunes (they must exist even if the options omit them)."""
    out: dict[str, set[str]] = {}
    for key in spec.grid:
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "features":
            if parts[2] == "pca":
                out.setdefault(parts[1], set()).add("pca")
            elif parts[2] == "select_k":
                out.setdefault(parts[1], set()).add("select")
    return out


def _weights_dict(names: list[str], value: Any, where: str) -> dict[str, float]:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ConfigError(
                f"{where}: weight for unknown block or branch {unknown[0]!r}; valid: "
                f"{', '.join(names)}"
            )
        out = {str(k): v for k, v in value.items()}
    elif isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ConfigError(
                f"{where}: {list(value)} needs one weight per entry of {', '.join(names)}"
            )
        out = dict(zip(names, value, strict=True))
    else:
        raise ConfigError(f"{where}: {value!r} must be a list or a table of weights")
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"{where}: weight {k}={v!r} must be a number >= 0")
    return {k: float(v) for k, v in out.items()}


def _check_positive(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"grid key {key!r}: {value!r} must be a number > 0")


def translate_params(spec, params: dict[str, Any]) -> dict[str, Any]:
    """Friendly dotted params (or scikit-learn paths, kept verbatim) → ``set_params`` kwargs.

    Raises :class:`ConfigError` naming the key for unknown keys and invalid values.
    """
    spec = _as_spec(spec)
    lay = pipeline_layout(spec)
    out: dict[str, Any] = {}
    ct_weights: dict[str, dict[str, float]] = {}

    def set_ct_weights(ct: str, new: dict[str, float]) -> None:
        cur = ct_weights.setdefault(ct, _static_weights(spec, lay.ct_blocks[ct]))
        cur.update({k: v for k, v in new.items() if k in lay.ct_blocks[ct]})

    for key, value in params.items():
        if "__" in key:  # already a scikit-learn path
            out[key] = value
            continue
        parts = key.split(".")
        head = parts[0]
        if head == "classifier" and len(parts) == 2:
            p = parts[1]
            for site, name, prob in lay.clf_sites:
                _check_clf_value(key, name, p, value)
                out[f"{site}__{classifier_param_path(name, p, probability=prob)}"] = value
            if not lay.clf_sites:
                raise ConfigError(f"grid key {key!r}: every branch overrides the classifier")
        elif head == "features" and len(parts) == 3:
            block, opt = parts[1], parts[2]
            if block not in lay.blocks:
                raise ConfigError(
                    f"grid key {key!r}: no feature block {block!r}; blocks: "
                    f"{', '.join(lay.blocks) or '(none)'}"
                )
            if opt == "weight":
                _weights_dict([block], {block: value}, f"grid key {key!r}")
                for ct in lay.block_sites[block]:
                    set_ct_weights(ct, {block: float(value)})
                continue
            for ct in lay.block_sites[block]:
                prefix = f"{ct}__{block}"
                if opt == "pca":
                    out[f"{prefix}__pca__n_components"] = _pca_value(block, value)
                elif opt == "select_k":
                    if not (value == "all" or (isinstance(value, int) and value >= 1)):
                        raise ConfigError(f"grid key {key!r}: {value!r} must be an int >= 1")
                    out[f"{prefix}__select__k"] = value
                elif opt in STEP_OPTIONS:
                    raise ConfigError(
                        f"grid key {key!r}: {opt!r} cannot be tuned; tunable block keys: "
                        "pca, select_k, weight and the extractor's options"
                    )
                else:
                    _check_extractor_option(key, lay.blocks[block]["type"], opt)
                    ext = "extract__transformer" if lay.normalized[block] else "extract"
                    out[f"{prefix}__{ext}__{opt}"] = value
        elif head == "fusion" and len(parts) >= 2:
            _translate_fusion(spec, lay, key, parts[1:], value, out, set_ct_weights)
        else:
            raise ConfigError(
                f"unknown grid key {key!r}; use classifier.<param>, features.<block>.<option>, "
                "fusion.weights, fusion.temperature, fusion.meta.<param>, "
                "fusion.classifiers.<branch>.<param> or a scikit-learn path with '__'"
            )
    for ct, w in ct_weights.items():
        out[f"{ct}__transformer_weights"] = w
    return out


def _translate_fusion(spec, lay: _Layout, key, rest, value, out, set_ct_weights) -> None:
    what = rest[0]
    if what == "weights" and len(rest) == 1:
        if lay.fusion == "early":
            names = lay.ct_blocks["features"]
            set_ct_weights("features", _weights_dict(names, value, f"grid key {key!r}"))
        elif lay.fusion == "attention":
            raise ConfigError(f"grid key {key!r}: attention fusion learns its block weights "
                              "per utterance; drop fusion.weights")  # fmt: skip
        elif lay.fusion in ("voting", "adaptive"):
            names = list(lay.branches)
            w = _weights_dict(names, value, f"grid key {key!r}")
            out["fusion__weights"] = [w.get(n, 1.0) for n in names]
        else:
            raise ConfigError(f"grid key {key!r}: {lay.fusion} fusion has no weights (its meta-"
                              "learner weighs the branches)")  # fmt: skip
    elif what in ("temperature", "confidence") and len(rest) == 1:
        if lay.fusion != "adaptive":
            raise ConfigError(f"grid key {key!r}: only adaptive fusion has a {what}")
        if what == "temperature":
            _check_positive(key, value)
        elif value not in ("max_prob", "entropy"):
            raise ConfigError(f"grid key {key!r}: {value!r} must be 'max_prob' or 'entropy'")
        out[f"fusion__{what}"] = value
    elif what == "cv" and len(rest) == 1:
        if lay.meta is None:
            raise ConfigError(f"grid key {key!r}: only stacking and hybrid fusion have inner cv")
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ConfigError(f"grid key {key!r}: {value!r} must be an integer >= 2")
        out["fusion__cv"] = value
    elif what == "meta" and len(rest) == 2:
        if lay.meta is None:
            raise ConfigError(f"grid key {key!r}: only stacking and hybrid fusion have a meta")
        _check_clf_value(key, lay.meta, rest[1], value)
        path = classifier_param_path(lay.meta, rest[1], probability=True)
        out[f"fusion__final_estimator__{path}"] = value
    elif what == "classifiers" and len(rest) == 3:
        br, p = rest[1], rest[2]
        if br not in lay.override_sites:
            raise ConfigError(
                f"grid key {key!r}: branch {br!r} has no [fusion.classifiers.{br}] override; "
                f"overridden branches: {', '.join(lay.override_sites) or '(none)'}"
            )
        site, name, prob = lay.override_sites[br]
        _check_clf_value(key, name, p, value)
        out[f"{site}__{classifier_param_path(name, p, probability=prob)}"] = value
    else:
        raise ConfigError(
            f"unknown grid key {key!r}; fusion keys: fusion.weights, fusion.temperature, "
            "fusion.confidence, fusion.cv, fusion.meta.<param>, fusion.classifiers.<branch>.<param>"
        )


def _check_clf_value(key: str, name: str, param: str, value: Any) -> None:
    try:
        check_classifier_params(name, {param: value})
    except ConfigError as exc:
        raise ConfigError(f"grid key {key!r} = {value!r}: {exc}") from None


def _check_extractor_option(key: str, type_name: str, opt: str) -> None:
    try:
        valid = extractor_options(type_name)
    except ConfigError:
        return  # the extractor is not importable yet; building will say so
    if valid is not None and opt not in valid:
        raise ConfigError(
            f"grid key {key!r}: feature type {type_name!r} has no option {opt!r}; valid: "
            f"{', '.join(sorted(set(valid) | {'pca', 'select_k', 'weight'}))}"
        )


def _static_weights(spec, names: list[str]) -> dict[str, float]:
    w = {n: float(spec.features[n].get("options", {}).get("weight", 1.0)) for n in names}
    fw = spec.fusion_options.get("weights")
    if spec.fusion == "early" and fw is not None:
        w.update({k: v for k, v in _weights_dict(names, fw, "fusion.weights").items()})
    return w


def friendly_candidates(spec) -> list[dict[str, Any]]:
    """The grid's candidates in friendly keys, in GridSearchCV order."""
    spec = _as_spec(spec)
    if not spec.grid:
        return [{}]
    return list(ParameterGrid({k: list(v) for k, v in spec.grid.items()}))


def param_grid(spec) -> list[dict[str, list]]:
    """The grid as GridSearchCV ``param_grid``: one single-point dict per friendly candidate."""
    spec = _as_spec(spec)
    return [{k: [v] for k, v in translate_params(spec, c).items()} for c in
            friendly_candidates(spec)]  # fmt: skip


# --------------------------------------------------------------------------- building
def _blocks_for(spec, lay: _Layout, names: Iterable[str], *, cache, n_jobs) -> dict:
    steps = _grid_steps(spec)
    out = {}
    for n in names:
        b = spec.features[n]
        out[n] = make_block(
            n,
            b["type"],
            b.get("options", {}),
            cache=cache,
            n_jobs=n_jobs,
            base_dir=spec.base_dir,
            speaker_normalization=spec.speaker_normalization,
            steps_needed=steps.get(n, ()),
        )
    return out


def _classifier(name: str, params: dict, *, probability: bool):
    params = dict(params)
    probability = bool(params.pop("probability", False)) or probability
    return make_classifier(name, probability=probability, **params)


def build_pipeline(spec, *, cache: Any = None, n_jobs: int | None = None) -> Pipeline:
    """The unfitted Pipeline of ``spec`` (a PipelineSpec, a spec file or a dict).

    Runtime settings normally come from :func:`emoclassic.config_context` when the pipeline
    runs, so the model carries none; ``cache``/``n_jobs`` given here are set on every
    extractor explicitly (they then win over the context and are dropped when saved).
    """
    spec = _as_spec(spec)
    lay = pipeline_layout(spec)
    clf = spec.classifier
    if lay.raw:
        return Pipeline([("clf", _classifier(clf["name"], clf.get("params", {}),
                                             probability=False))])  # fmt: skip
    if lay.fusion == "early":
        names = lay.ct_blocks["features"]
        ct = make_block_union(
            _blocks_for(spec, lay, names, cache=cache, n_jobs=n_jobs),
            _static_weights(spec, names),
        )
        return Pipeline(
            [("features", ct),
             ("clf", _classifier(clf["name"], clf.get("params", {}), probability=False))]
        )  # fmt: skip
    if lay.fusion == "attention":
        names = lay.ct_blocks["fusion__features"]
        ct = make_block_union(
            _blocks_for(spec, lay, names, cache=cache, n_jobs=n_jobs),
            _static_weights(spec, names),
        )
        clf_est = _classifier(clf["name"], clf.get("params", {}), probability=False)
        return Pipeline([("fusion", AttentionFusion(features=ct, classifier=clf_est))])
    overrides = spec.fusion_options.get("classifiers", {})
    branches: list[tuple[str, Any]] = []
    if lay.fusion == "hybrid":
        names = lay.ct_blocks["fusion__fused__features"]
        ct = make_block_union(
            _blocks_for(spec, lay, names, cache=cache, n_jobs=n_jobs),
            _static_weights(spec, names),
        )
        branches.append(
            ("fused", Pipeline([("features", ct), ("clf", _classifier(
                clf["name"], clf.get("params", {}), probability=lay.probability))]))
        )  # fmt: skip
    for br, names in lay.branches.items():
        ct = make_block_union(
            _blocks_for(spec, lay, names, cache=cache, n_jobs=n_jobs),
            _static_weights(spec, names),
        )
        c = overrides.get(br, clf)
        branches.append(
            (br, Pipeline([("features", ct), ("clf", _classifier(
                c["name"], c.get("params", {}), probability=lay.probability))]))
        )  # fmt: skip
    opts = spec.fusion_options
    group_col = spec.cv.get("groups", "speaker")
    weights = opts.get("weights")
    if weights is not None and lay.fusion in ("voting", "adaptive"):
        w = _weights_dict(list(lay.branches), weights, "fusion.weights")
        weights = [w.get(n, 1.0) for n in lay.branches]
    if lay.fusion == "voting":
        fused = VotingFusion(branches, weights=weights)
    elif lay.fusion == "adaptive":
        fused = AdaptiveFusion(
            branches,
            weights=weights,
            temperature=opts.get("temperature", 0.2),
            confidence=opts.get("confidence", "max_prob"),
        )
    else:
        meta = opts.get("meta", {"name": "logreg", "params": {}})
        fused = StackingFusion(
            branches,
            final_estimator=_classifier(meta["name"], meta.get("params", {}), probability=True),
            cv=opts.get("cv", 5),
            group_column=group_col,
        )
    return Pipeline([("fusion", fused)])
