"""Pipeline specs: the only module that knows the TOML format.

A spec names the feature blocks, the fusion, the classifier, its grid, the CV protocol and the
scoring (docs/pipelines.md describes every key). :func:`load_spec` parses and validates it into
a :class:`PipelineSpec` of typed parts (:class:`BlockSpec`, :class:`FusionSpec`,
:class:`ClassifierSpec`, :class:`CVSpec`), so the rest of emoclassic receives plain objects;
every mistake is a one-line :class:`ConfigError` that names the file, the table and the valid
choices. Syntax is checked by the parts (``_types``), the names that need the block registry
or the classifier zoo by ``_meaning``, and the grid by
:func:`~emoclassic.fusion.translate_params`, which asks the same two.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from ._labels import LabelsSpec
from ._meaning import check_block, check_classifier
from ._types import (
    CV_SCHEMES,
    INNER_SCHEMES,
    BlockSpec,
    ClassifierSpec,
    CVSpec,
    FusionSpec,
    GridKey,
    block_adaptation,
    block_normalization,
    check_keys,
    check_value,
    resolve_normalization,
)

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["CV_SCHEMES", "INNER_SCHEMES", "PipelineSpec", "SCORING_ALIASES", "load_spec"]

TOP_KEYS = (
    "name", "description", "features", "fusion", "classifier", "grid", "cv", "scoring",
    "speaker_normalization", "normalization", "adaptation", "measured", "labels",
)  # fmt: skip
SCORING_ALIASES = {
    "ua": "balanced_accuracy",
    "uar": "balanced_accuracy",
    "wa": "accuracy",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
}


@dataclass
class PipelineSpec:
    """A validated pipeline spec (see docs/pipelines.md).

    ``features`` maps block names, in order, to :class:`BlockSpec`; ``fusion`` is a
    :class:`FusionSpec`, ``classifier`` a :class:`ClassifierSpec` and ``cv`` a :class:`CVSpec`;
    ``grid`` maps friendly dotted keys (``classifier.C``, ``features.audio.pca``,
    ``fusion.weights``; :class:`GridKey` parses them) to lists of values.
    ``normalization`` (``none``, ``speaker``, ``corpus``) and ``adaptation`` (``none``,
    ``coral``) are every block's domain-adaptation steps unless a block sets its own;
    :attr:`speaker_normalization` is the old flag, read from ``normalization``. ``labels``
    says how training reads the annotators' votes (:class:`~emoclassic.spec._labels.LabelsSpec`).
    """

    name: str
    description: str = ""
    features: dict[str, BlockSpec] = field(default_factory=dict)
    fusion: FusionSpec = field(default_factory=FusionSpec)
    classifier: ClassifierSpec = field(default_factory=lambda: ClassifierSpec("svc"))
    grid: dict[str, list] = field(default_factory=dict)
    cv: CVSpec = field(default_factory=CVSpec)
    scoring: str = "balanced_accuracy"
    normalization: str = "none"
    adaptation: str = "none"
    measured: str = ""
    labels: LabelsSpec = field(default_factory=LabelsSpec)
    source: str | None = None
    base_dir: str | None = None

    @property
    def speaker_normalization(self) -> bool:
        """Whether the spec normalises per speaker (the old flag; see ``normalization``)."""
        return self.normalization == "speaker"

    def block_normalization(self, name: str) -> str:
        """Block ``name``'s normalisation: its own, else the spec's."""
        return block_normalization(self.features[name].options, self.normalization)

    def block_adaptation(self, name: str) -> str:
        """Block ``name``'s adaptation: its own, else the spec's."""
        return block_adaptation(self.features[name].options, self.adaptation)

    def adaptation_protocol(self) -> dict[str, Any]:
        """What a report's ``protocol`` says about domain adaptation.

        ``normalization`` and ``adaptation``: the value every block uses, or
        ``"BLOCK=value, ..."`` when blocks differ; ``speaker_normalization``: whether any
        block is normalised per speaker (the old key, kept).
        """

        def one(values: dict[str, str]) -> str:
            distinct = set(values.values())
            if len(distinct) <= 1:
                return next(iter(distinct), "none")
            return ", ".join(f"{b}={v}" for b, v in values.items())

        norm = {n: self.block_normalization(n) for n in self.features}
        adapt = {n: self.block_adaptation(n) for n in self.features}
        return {
            "normalization": one(norm) if norm else self.normalization,
            "adaptation": one(adapt) if adapt else self.adaptation,
            "speaker_normalization": "speaker" in norm.values()
            or (not norm and self.speaker_normalization),
        }

    @property
    def fusion_options(self) -> dict[str, Any]:
        """The fusion's options as the spec wrote them (older code; read :attr:`fusion`)."""
        return self.fusion.options

    # -- views ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :func:`load_spec` accepts again (and JSON can hold)."""
        return {
            "name": self.name,
            "description": self.description,
            "features": {n: b.to_table() for n, b in self.features.items()},
            "fusion": self.fusion.to_table(),
            "classifier": self.classifier.to_table(),
            "grid": copy.deepcopy(self.grid),
            "cv": self.cv.to_table(),
            "scoring": self.scoring,
            "normalization": self.normalization,
            "speaker_normalization": self.speaker_normalization,  # the old spelling, agreeing
            "adaptation": self.adaptation,
            **({"measured": self.measured} if self.measured else {}),
            **({} if self.labels == LabelsSpec() else {"labels": self.labels.to_table()}),
        }

    def block_modalities(self) -> dict[str, str]:
        """Block name → modality (audio, text or extra)."""
        from ..fusion._blocks import block_modality

        return {n: block_modality(b.type, b.options) for n, b in self.features.items()}

    def modalities(self) -> list[str]:
        """The modalities the spec uses, in block order (a raw-input classifier is audio)."""
        mods = list(dict.fromkeys(self.block_modalities().values()))
        return mods or ["audio"]

    def restrict(self, blocks: str | list[str]) -> PipelineSpec:
        """The spec with only some blocks: a modality name or block names (for ablations).

        A single remaining branch becomes early fusion, with that branch's classifier override
        (if any) as the classifier; grid keys about removed blocks or branches are dropped, and
        so are the weights of a lone remaining block.
        """
        wanted = [blocks] if isinstance(blocks, str) else list(blocks)
        mods = self.block_modalities()
        keep: list[str] = []
        for w in wanted:
            if w in self.features:
                keep.append(w)
            elif w in mods.values():
                keep += [n for n, m in mods.items() if m == w]
            else:
                raise ConfigError(
                    f"{self._where()}: restrict({w!r}): no such block or modality; blocks: "
                    f"{', '.join(self.features)}; modalities: {', '.join(self.modalities())}"
                )
        keep = [n for n in self.features if n in set(keep)]
        by_block = self.fusion.branches == "block"
        branch_of = {n: (n if by_block else mods[n]) for n in keep}
        branches = list(dict.fromkeys(branch_of.values()))
        d = self.to_dict()
        d["name"] = f"{self.name}[{'+'.join(wanted)}]"
        d["features"] = {n: d["features"][n] for n in keep}
        dropped = set(self.features) - set(keep)
        keys = {k: GridKey.parse(k) for k in self.grid}
        grid = {k: v for k, v in self.grid.items() if keys[k].block not in dropped}
        overrides = self.fusion.classifiers
        if len(branches) <= 1 and self.fusion.type not in ("early", "attention"):
            br = branches[0] if branches else None
            if br in overrides:
                d["classifier"] = overrides[br].to_table()
                grid = {k: v for k, v in grid.items() if keys[k].kind != "classifier"}
                grid.update({
                    f"classifier.{g.param}": self.grid[k] for k, g in keys.items()
                    if (g.kind, g.option, g.branch) == ("fusion", "classifiers", br)
                })  # fmt: skip
            grid = {k: v for k, v in grid.items() if GridKey.parse(k).kind != "fusion"}
            d["fusion"] = "early"
        else:
            names = list(self.features) if self.fusion.type == "early" else None
            if isinstance(d["fusion"], dict):
                f = d["fusion"]
                if "classifiers" in f:
                    f["classifiers"] = {
                        b: c for b, c in f["classifiers"].items() if b in branches
                    }
                if "weights" in f:
                    f["weights"] = _filter_weights(f["weights"], names, keep, self, branches)
                if branches and all(b in f.get("classifiers", {}) for b in branches):
                    # every remaining branch has its own classifier: [classifier] is unused
                    grid = {k: v for k, v in grid.items() if keys[k].kind != "classifier"}
            for key in list(grid):
                g = keys[key]
                if (g.kind, g.option) == ("fusion", "weights"):
                    grid[key] = _distinct_weights(
                        [_filter_weights(v, names, keep, self, branches) for v in grid[key]]
                    )
                    if len(grid[key]) <= 1:  # nothing left to choose between
                        fixed = grid.pop(key)
                        if fixed:
                            f = d["fusion"] if isinstance(d["fusion"], dict) else {
                                "type": d["fusion"]
                            }
                            f["weights"] = fixed[0]
                            d["fusion"] = f
                elif g.branch is not None and g.branch not in branches:
                    del grid[key]
        if len(keep) == 1:  # a lone block has nothing to be weighed against
            grid = {k: v for k, v in grid.items() if not GridKey.parse(k).weighs}
            d["features"][keep[0]].pop("weight", None)
            if isinstance(d["fusion"], dict):
                d["fusion"].pop("weights", None)
        d["grid"] = grid
        return load_spec(d, source=f"{self._where()} restricted to {'+'.join(wanted)}",
                         base_dir=self.base_dir)  # fmt: skip

    def _where(self) -> str:
        return self.source or self.name


def _distinct_weights(candidates: list) -> list:
    """Weight candidates left after a restriction: no all-zero ones, no repeats, order kept."""
    seen: set[str] = set()
    out = []
    for w in candidates:
        values = list(w.values()) if isinstance(w, dict) else list(w)
        key = json.dumps(w, sort_keys=True)
        if values and any(values) and key not in seen:
            seen.add(key)
            out.append(w)
    return out


def _filter_weights(value, block_names, keep, spec: PipelineSpec, branches):
    """Keep only the weights of remaining blocks (early) or branches (late)."""
    if isinstance(value, dict):
        allowed = set(keep) if block_names is not None else set(branches)
        return {k: v for k, v in value.items() if k in allowed}
    if block_names is not None:
        return [w for n, w in zip(block_names, value, strict=False) if n in set(keep)]
    by_block = spec.fusion.branches == "block"
    mods = spec.block_modalities()
    old = list(dict.fromkeys(n if by_block else mods[n] for n in spec.features))
    return [w for b, w in zip(old, value, strict=False) if b in set(branches)]


# --------------------------------------------------------------------------- loading
def _read(path_or_dict, source: str | None) -> tuple[dict, str, str | None]:
    if isinstance(path_or_dict, PipelineSpec):
        return path_or_dict.to_dict(), source or path_or_dict._where(), path_or_dict.base_dir
    if isinstance(path_or_dict, dict):
        return copy.deepcopy(path_or_dict), source or "<spec dict>", None
    if isinstance(path_or_dict, (str, os.PathLike)):
        from ._shipped import resolve_spec

        path = resolve_spec(path_or_dict)  # a file, else a shipped spec's name
        src = source or (str(path_or_dict) if path == Path(path_or_dict) else str(path))
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{src}: invalid TOML: {exc}") from None
        data.setdefault("name", path.stem)
        return data, src, str(path.resolve().parent)
    raise ConfigError(
        f"load_spec: expected a .toml path, a dict or a PipelineSpec; got "
        f"{type(path_or_dict).__name__}"
    )


def _flatten_grid(table: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten_grid(v, key + "."))
        else:
            out[key] = v
    return out


def _features(table: Any) -> dict[str, BlockSpec]:
    if not isinstance(table, dict):
        raise ConfigError("[features] must be a table of blocks, e.g. [features.audio]")
    out: dict[str, BlockSpec] = {}
    for name, block in table.items():
        where = f"[features.{name}]"
        if not isinstance(block, dict):
            raise ConfigError(f"{where} must be a table with a 'type' key")
        if "__" in name or "." in name:
            raise ConfigError(f"{where}: block names may not contain '__' or '.'")
        check_block(name, block)  # the registry: a known type, options its extractor takes
        out[name] = BlockSpec.from_table(name, block)  # the step options' values
    return out


def _classifier(value: Any, where: str) -> ClassifierSpec:
    clf = ClassifierSpec.from_table(value, where)
    check_classifier(clf.name, clf.estimator_params, where)
    return clf


def _fusion(value: Any) -> FusionSpec:
    fusion = FusionSpec.from_table(value)
    for k, v in fusion.options.items():
        if k == "meta":
            check_classifier(v.name, v.estimator_params, "[fusion.meta]")
        elif k == "classifiers":
            for b, c in v.items():
                check_classifier(c.name, c.estimator_params, f"[fusion.classifiers.{b}]")
    return fusion


def _scoring(value: Any) -> str:
    from sklearn.metrics import get_scorer_names

    name = SCORING_ALIASES.get(value, value) if isinstance(value, str) else value
    if not isinstance(name, str) or name not in get_scorer_names():
        raise ConfigError(
            f"unknown scoring {value!r}; use ua, wa, macro_f1, weighted_f1 or a scikit-learn "
            "scorer name such as balanced_accuracy or f1_macro"
        )
    return name


def load_spec(
    path_or_dict: str | os.PathLike | dict | PipelineSpec,
    *,
    source: str | None = None,
    base_dir: str | os.PathLike | None = None,
) -> PipelineSpec:
    """Parse and validate a spec from a TOML file, a dict or a PipelineSpec.

    Relative files in the spec (extra feature files) resolve against the spec's folder
    (``base_dir`` for dicts). Raises :class:`ConfigError` with a one-line message naming the
    file, the table and the valid choices.
    """
    data, src, file_dir = _read(path_or_dict, source)
    try:
        spec = _parse(data, src, str(base_dir) if base_dir is not None else file_dir)
    except ConfigError as exc:
        raise ConfigError(f"{src}: {exc}") from None
    return spec


def _parse(data: Any, src: str, base_dir: str | None) -> PipelineSpec:
    if not isinstance(data, dict):
        raise ConfigError("a spec must be a table")
    check_keys(data, TOP_KEYS, "the top-level table")
    name = data.get("name", "spec")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name={name!r} must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError("description must be a string")
    measured = data.get("measured", "")  # documentation only: figures shown by `pipelines`
    if not isinstance(measured, str):
        raise ConfigError("measured must be a string (the spec's measured figures, one line)")
    features = _features(data.get("features", {}))
    fusion = _fusion(data.get("fusion", "early"))
    if "classifier" not in data:
        raise ConfigError("missing [classifier] table; add one with name = 'svc' (or another)")
    classifier = _classifier(data["classifier"], "[classifier]")
    cv = CVSpec.from_table(data.get("cv", {}))
    scoring = _scoring(data.get("scoring", "balanced_accuracy"))
    normalization = resolve_normalization(data, "") or "none"
    adaptation = check_value("adaptation", data.get("adaptation", "none"))
    labels = LabelsSpec.from_table(data.get("labels", {}))
    grid_table = data.get("grid", {})
    if not isinstance(grid_table, dict):
        raise ConfigError("[grid] must be a table of parameter lists")
    spec = PipelineSpec(
        name=name,
        description=description,
        features=features,
        fusion=fusion,
        classifier=classifier,
        cv=cv,
        scoring=scoring,
        normalization=normalization,
        adaptation=adaptation,
        measured=measured,
        labels=labels,
        source=src,
        base_dir=base_dir,
    )
    from ..fusion._build import pipeline_layout

    pipeline_layout(spec)
    if labels.weighs_rows:
        from ..fusion._weights import check_sample_weight

        check_sample_weight(spec)
    spec.grid = _grid(spec, grid_table)
    return spec


def _grid(spec: PipelineSpec, table: dict) -> dict[str, list]:
    """The grid's lists, each value checked by the translation that will use it."""
    from ..fusion._build import translate_params
    from ..models import DEFAULT_GRIDS

    grid: dict[str, list] = {}
    for key, values in _flatten_grid(table).items():
        if key == "classifier" and values == "default":
            for p, vals in DEFAULT_GRIDS.get(spec.classifier.name, {}).items():
                grid.setdefault(f"classifier.{p}", list(vals))
            continue
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"grid.{key} = {values!r} must be a non-empty list of values, e.g. [1, 10]"
            )
        grid[key] = values
    for key, values in grid.items():
        for v in values:
            translate_params(spec, {key: v})
    return grid
