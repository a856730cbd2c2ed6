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

Calibration: every classifier of a spec has a ``calibration`` (default ``"auto"``), resolved
here once per classifier (:func:`pipeline_layout`) by :func:`emoclassic.models.calibration_method`
and used both to build it and to translate grid keys (a calibrated classifier is wrapped, so
``classifier.C`` becomes ``clf__estimator__C``). In stacking and hybrid fusion ``"auto"``
leaves the branches alone: the meta-learner, fitted on speaker-grouped out-of-fold branch
scores, is their calibrator; the meta-learner itself must give probabilities. Voting and
adaptive fusion also calibrate what they fuse (``[fusion] calibration``, default ``"auto"``:
one temperature on speaker-grouped out-of-fold fused probabilities, see ``_late``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline

from ..exceptions import ConfigError
from ..models import CLASSIFIERS, calibration_method, classifier_param_path, make_classifier
from ..spec._meaning import check_block_option, check_classifier
from ..spec._types import (
    FUSIONS,
    STEP_OPTIONS,
    WRAPPER_OPTIONS,
    BlockSpec,
    ClassifierSpec,
    GridKey,
    check_value,
    pca_components,
    valid_value,
)
from ._attention import AttentionFusion
from ._blocks import block_modality
from ._early import block_wrappers, make_block, make_block_union
from ._late import AdaptiveFusion, StackingFusion, VotingFusion, reject_unknown

__all__ = [
    "FUSIONS",
    "build_pipeline",
    "calibration_methods",
    "friendly_candidates",
    "param_grid",
    "pipeline_layout",
    "translate_params",
]

LATE = ("voting", "stacking", "hybrid", "adaptive")


def _as_spec(spec):
    from ..spec import PipelineSpec, load_spec

    return spec if isinstance(spec, PipelineSpec) else load_spec(spec)


@dataclass
class _Layout:
    """Where every friendly key lands in the pipeline of one spec."""

    fusion: str
    blocks: dict[str, BlockSpec]
    wrapped: dict[str, int]  # block -> adaptation steps around its extractor
    branches: dict[str, list[str]] = field(default_factory=dict)  # late: branch -> blocks
    ct_blocks: dict[str, list[str]] = field(default_factory=dict)  # CT path -> its blocks
    block_sites: dict[str, list[str]] = field(default_factory=dict)  # block -> CT paths
    # (site, zoo name, calibration method or None) of the main classifier's places
    clf_sites: list[tuple[str, str, str | None]] = field(default_factory=list)
    override_sites: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    meta: str | None = None
    raw: bool = False
    probability: bool = False  # branches must give probabilities (voting, adaptive)
    calibrations: dict[str, str | None] = field(default_factory=dict)  # site -> method
    fused_calibration: str | None = None  # voting, adaptive: "temperature" or None
    where: dict[str, str] = field(default_factory=dict)  # site -> the spec's name for it


def _calibration(clf: ClassifierSpec, where: str, *, need_proba: bool = False,
                 stacked: bool = False) -> str | None:  # fmt: skip
    """The calibration method of one classifier of the spec (None: not wrapped).

    ``stacked``: a stacking or hybrid branch, whose ``"auto"`` means no calibration (the
    meta-learner calibrates, on speaker-grouped out-of-fold scores: better folds than the
    wrapper's, at no extra fits). ``need_proba``: the place reads ``predict_proba``.
    """
    cal = clf.calibration
    try:
        if cal == "auto" and stacked and not (need_proba or clf.probability):
            return None
        return calibration_method(clf.name, cal, probability=need_proba or clf.probability)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _add_site(lay: _Layout, site: str, name: str, method: str | None, where: str, *,
              override: str | None = None) -> None:  # fmt: skip
    if override is None:
        lay.clf_sites.append((site, name, method))
    else:
        lay.override_sites[override] = (site, name, method)
    lay.calibrations[site] = method
    lay.where[site] = where


def pipeline_layout(spec) -> _Layout:
    """Where the blocks, classifiers and fusion parameters of ``spec`` live."""
    spec = _as_spec(spec)
    fusion = spec.fusion.type
    blocks = dict(spec.features)
    wrapped = {n: block_wrappers(b.options, spec.normalization, spec.adaptation)
               for n, b in blocks.items()}  # fmt: skip
    lay = _Layout(fusion, blocks, wrapped)
    clf = spec.classifier
    clf_name = clf.name
    if CLASSIFIERS.get(clf_name) is not None and CLASSIFIERS[clf_name].raw_input:
        if fusion != "early" or blocks:
            raise ConfigError(
                f"classifier {clf_name!r} reads the manifest itself: use it with fusion='early' "
                "and no [features] blocks"
            )
        lay.raw = True
        _add_site(lay, "clf", clf_name, _calibration(clf, "[classifier]"), "classifier")
        return lay
    if not blocks:
        raise ConfigError("the spec has no [features] blocks; add at least one")
    _check_block_attention(fusion, clf_name)
    if fusion == "early":
        lay.ct_blocks["features"] = list(blocks)
        _add_site(lay, "clf", clf_name, _calibration(clf, "[classifier]"), "classifier")
    elif fusion == "attention":
        lay.ct_blocks["fusion__features"] = list(blocks)
        if clf.calibration not in ("auto", "none") or clf.probability:
            raise ConfigError(
                "[classifier]: attention fusion hands its classifier the block layout, which a "
                "calibration wrapper would hide; drop calibration (its softmax output is "
                "fitted by the log-loss)"
            )
        _add_site(lay, "fusion__classifier", clf_name, None, "classifier")
    else:
        by = spec.fusion.branches
        for n, b in blocks.items():
            key = n if by == "block" else block_modality(b.type, b.options)
            lay.branches.setdefault(key, []).append(n)
        if len(lay.branches) < 2 and fusion != "hybrid":
            raise ConfigError(
                f"{fusion} fusion needs at least two branches but every block is "
                f"{next(iter(lay.branches))!r}; use fusion='early' or fusion.branches='block'"
            )
        overrides = spec.fusion.classifiers
        prob = fusion in ("voting", "adaptive")  # stacking reads decision values if need be
        stacked = not prob
        lay.probability = prob
        if prob and spec.fusion.calibration != "none":
            lay.fused_calibration = "temperature"
        if fusion == "hybrid":
            lay.ct_blocks["fusion__fused__features"] = list(blocks)
            method = _calibration(clf, "[classifier]", need_proba=prob, stacked=stacked)
            _add_site(lay, "fusion__fused__clf", clf_name, method, "classifier (fused)")
        for br, names in lay.branches.items():
            lay.ct_blocks[f"fusion__{br}__features"] = list(names)
            site = f"fusion__{br}__clf"
            if br in overrides:
                where = f"fusion.classifiers.{br}"
                method = _calibration(overrides[br], f"[{where}]", need_proba=prob,
                                      stacked=stacked)  # fmt: skip
                _add_site(lay, site, overrides[br].name, method, where, override=br)
            else:
                method = _calibration(clf, "[classifier]", need_proba=prob, stacked=stacked)
                _add_site(lay, site, clf_name, method, f"classifier ({br})")
        if fusion in ("stacking", "hybrid"):
            meta = spec.fusion.meta
            lay.meta = meta.name
            lay.calibrations["fusion__final_estimator"] = _calibration(
                meta, "[fusion.meta]", need_proba=True
            )
            lay.where["fusion__final_estimator"] = "fusion.meta"
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
        g = GridKey.parse(key)
        if g.kind == "block" and g.option in ("pca", "select_k"):
            out.setdefault(g.block, set()).add("pca" if g.option == "pca" else "select")
    return out


def _weights_dict(names: list[str], value: Any, where: str) -> dict[str, float]:
    if isinstance(value, dict):
        reject_unknown(value, names, f"{where}: weight for unknown block or branch")
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
        if not valid_value("weight", v):
            raise ConfigError(f"{where}: weight {k}={v!r} must be a number >= 0")
    return {k: float(v) for k, v in out.items()}


def translate_params(spec, params: dict[str, Any]) -> dict[str, Any]:
    """Friendly dotted params (or scikit-learn paths, kept verbatim) → ``set_params`` kwargs.

    Raises :class:`ConfigError` naming the key for unknown keys and invalid values; this is
    the check :func:`~emoclassic.spec.load_spec` runs on every grid value.
    """
    spec = _as_spec(spec)
    lay = pipeline_layout(spec)
    out: dict[str, Any] = {}
    ct_weights: dict[str, dict[str, float]] = {}

    def set_ct_weights(ct: str, new: dict[str, float]) -> None:
        cur = ct_weights.setdefault(ct, _static_weights(spec, lay.ct_blocks[ct]))
        cur.update({k: v for k, v in new.items() if k in lay.ct_blocks[ct]})

    for key, value in params.items():
        g = GridKey.parse(key)
        if g.kind == "path":
            out[key] = value
        elif g.kind == "classifier":
            for site, name, prob in lay.clf_sites:
                _set_clf(out, key, value, site, name, g.option, prob)
            if not lay.clf_sites:
                raise ConfigError(f"grid key {key!r}: every branch overrides the classifier")
        elif g.kind == "block":
            _translate_block(lay, g, value, out, set_ct_weights)
        else:
            _translate_fusion(lay, g, value, out, set_ct_weights)
    for ct, w in ct_weights.items():
        out[f"{ct}__transformer_weights"] = w
    return out


def _set_clf(out, key: str, value, site: str, name: str, param: str,
             method: str | None) -> None:  # fmt: skip
    if param in WRAPPER_OPTIONS:
        raise ConfigError(
            f"grid key {key!r}: {param} is not tunable (it changes the model's structure); set "
            f"it in the classifier's table and compare methods with separate runs"
        )
    check_classifier(name, {param: value}, f"grid key {key!r} = {value!r}")
    out[f"{site}__{classifier_param_path(name, param, calibration=method or 'none')}"] = value


def _translate_block(lay: _Layout, g: GridKey, value, out, set_ct_weights) -> None:
    key, block, opt = g.key, g.block, g.option
    if block not in lay.blocks:
        raise ConfigError(
            f"grid key {key!r}: no feature block {block!r}; blocks: "
            f"{', '.join(lay.blocks) or '(none)'}"
        )
    if opt == "weight":
        _weights_dict([block], {block: value}, f"grid key {key!r}")
        for ct in lay.block_sites[block]:
            set_ct_weights(ct, {block: float(value)})
        return
    for ct in lay.block_sites[block]:
        prefix = f"{ct}__{block}"
        if opt == "pca":
            out[f"{prefix}__pca__n_components"] = pca_components(block, value)
        elif opt == "select_k":
            out[f"{prefix}__select__k"] = check_value("select_k", value, key=key)
        elif opt in STEP_OPTIONS:
            raise ConfigError(
                f"grid key {key!r}: {opt!r} cannot be tuned; tunable block keys: "
                "pca, select_k, weight and the extractor's options"
            )
        else:
            check_block_option(key, lay.blocks[block].type, opt)
            ext = "extract" + "__transformer" * lay.wrapped[block]
            if lay.wrapped[block] and "encode" in lay.blocks[block].options:
                ext += "__extract"  # the wrappers hold Pipeline[extract, encode]
            out[f"{prefix}__{ext}__{opt}"] = value


def _translate_fusion(lay: _Layout, g: GridKey, value, out, set_ct_weights) -> None:
    key, what = g.key, g.option
    if what == "weights":
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
    elif what in ("temperature", "confidence"):
        if lay.fusion != "adaptive":
            raise ConfigError(f"grid key {key!r}: only adaptive fusion has a {what}")
        out[f"fusion__{what}"] = check_value(what, value, key=key)
    elif what in ("cv", "meta"):
        if lay.meta is None:
            has = "inner cv" if what == "cv" else "a meta"
            raise ConfigError(f"grid key {key!r}: only stacking and hybrid fusion have {has}")
        if what == "cv":
            out["fusion__cv"] = check_value("cv", value, key=key)
        else:
            _set_clf(out, key, value, "fusion__final_estimator", lay.meta, g.param,
                     lay.calibrations["fusion__final_estimator"])
    else:  # classifiers
        if g.branch not in lay.override_sites:
            raise ConfigError(
                f"grid key {key!r}: branch {g.branch!r} has no [fusion.classifiers.{g.branch}] "
                f"override; overridden branches: {', '.join(lay.override_sites) or '(none)'}"
            )
        site, name, prob = lay.override_sites[g.branch]
        _set_clf(out, key, value, site, name, g.param, prob)


def _static_weights(spec, names: list[str]) -> dict[str, float]:
    w = {n: spec.features[n].weight for n in names}
    fw = spec.fusion.weights
    if spec.fusion.type == "early" and fw is not None:
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
def _blocks_for(spec, names: Iterable[str], *, cache, n_jobs) -> dict:
    steps = _grid_steps(spec)
    out = {}
    for n in names:
        b = spec.features[n]
        out[n] = make_block(
            n,
            b.type,
            b.options,
            cache=cache,
            n_jobs=n_jobs,
            base_dir=spec.base_dir,
            normalization=spec.normalization,
            adaptation=spec.adaptation,
            steps_needed=steps.get(n, ()),
        )
    return out


def _union(spec, names: list[str], *, cache, n_jobs):
    """The early-fusion ColumnTransformer of some blocks, with their static weights."""
    blocks = _blocks_for(spec, names, cache=cache, n_jobs=n_jobs)
    return make_block_union(blocks, _static_weights(spec, names))


def _classifier(clf: ClassifierSpec, lay: _Layout, site: str):
    """The classifier at ``site``, calibrated as the layout resolved it."""
    return make_classifier(clf.name, calibration=lay.calibrations[site] or "none",
                           **clf.estimator_params)  # fmt: skip


def calibration_methods(spec) -> dict[str, str]:
    """Where each classifier's probabilities come from, by the spec's name for the classifier.

    A calibration method (``sigmoid``, ``isotonic``, ``temperature``); ``native`` (its own
    ``predict_proba``, uncalibrated: fitted by the log-loss, or calibration = "none");
    ``stacked`` (a stacking or hybrid branch: the meta-learner turns its scores into
    probabilities); ``none`` (no ``predict_proba``). Voting and adaptive fusion add ``fusion``:
    ``temperature`` (one temperature on the fused probabilities) or ``none``. What a report
    says next to its ECE.
    """
    lay = pipeline_layout(_as_spec(spec))
    names = {site: name for site, name, _ in lay.clf_sites}
    names.update({site: name for site, name, _ in lay.override_sites.values()})
    if lay.meta is not None:
        names["fusion__final_estimator"] = lay.meta
    out = {}
    for site, method in lay.calibrations.items():
        info = CLASSIFIERS.get(names[site])
        if method is not None:
            value = method
        elif lay.meta is not None and site != "fusion__final_estimator":
            value = "stacked"
        else:
            value = "none" if info is not None and info.proba == "calibrate" else "native"
        out[lay.where[site]] = value
    if lay.probability:
        out["fusion"] = lay.fused_calibration or "none"
    return out


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
        return Pipeline([("clf", _classifier(clf, lay, "clf"))])
    if lay.fusion == "early":
        ct = _union(spec, lay.ct_blocks["features"], cache=cache, n_jobs=n_jobs)
        return Pipeline([("features", ct), ("clf", _classifier(clf, lay, "clf"))])
    if lay.fusion == "attention":
        ct = _union(spec, lay.ct_blocks["fusion__features"], cache=cache, n_jobs=n_jobs)
        clf_est = _classifier(clf, lay, "fusion__classifier")
        return Pipeline([("fusion", AttentionFusion(features=ct, classifier=clf_est))])
    opts = spec.fusion
    branches = [(br, names, opts.classifiers.get(br, clf)) for br, names in lay.branches.items()]
    if lay.fusion == "hybrid":
        branches.insert(0, ("fused", lay.ct_blocks["fusion__fused__features"], clf))
    estimators = [
        (br, Pipeline([("features", _union(spec, names, cache=cache, n_jobs=n_jobs)),
                       ("clf", _classifier(c, lay, f"fusion__{br}__clf"))]))
        for br, names, c in branches
    ]  # fmt: skip
    weights = opts.weights
    if weights is not None and lay.fusion in ("voting", "adaptive"):
        w = _weights_dict(list(lay.branches), weights, "fusion.weights")
        weights = [w.get(n, 1.0) for n in lay.branches]
    calibrated = {"calibration": lay.fused_calibration or "none", "cv": opts.cv,
                  "groups": spec.cv.groups}  # fmt: skip
    if lay.fusion == "voting":
        return Pipeline([("fusion", VotingFusion(estimators, weights=weights, **calibrated))])
    if lay.fusion == "adaptive":
        fused = AdaptiveFusion(estimators, weights=weights, temperature=opts.temperature,
                               confidence=opts.confidence, **calibrated)  # fmt: skip
        return Pipeline([("fusion", fused)])
    fused = StackingFusion(
        estimators,
        final_estimator=_classifier(opts.meta, lay, "fusion__final_estimator"),
        cv=opts.cv,
        groups=spec.cv.groups,
    )
    return Pipeline([("fusion", fused)])
