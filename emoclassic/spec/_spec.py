"""Pipeline specs: the only module that knows the TOML format.

A spec names the feature blocks, the fusion, the classifier, its grid, the CV protocol and the
scoring (docs/pipelines.md describes every key). :func:`load_spec` parses and validates it into
a :class:`PipelineSpec`, so the rest of emoclassic receives plain objects; every mistake is a
one-line :class:`ConfigError` that names the file, the table and the valid choices.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

logger = logging.getLogger(__name__)

__all__ = ["CV_SCHEMES", "INNER_SCHEMES", "PipelineSpec", "SCORING_ALIASES", "load_spec"]

TOP_KEYS = (
    "name", "description", "features", "fusion", "classifier", "grid", "cv", "scoring",
    "speaker_normalization", "measured",
)  # fmt: skip
CV_KEYS = ("scheme", "n_splits", "groups", "inner", "inner_splits")
#: ``auto``: ``split`` when the manifest has train and test rows in a ``split`` column, else
#: ``group`` (so one spec runs unchanged on corpora with and without official splits)
CV_SCHEMES = ("auto", "group", "groupkfold", "logo", "split", "stratified")
INNER_SCHEMES = ("group", "groupkfold", "logo", "stratified")
FUSION_KEYS = {
    "early": ("type", "weights"),
    "voting": ("type", "weights", "branches", "classifiers"),
    "adaptive": ("type", "weights", "temperature", "confidence", "branches", "classifiers"),
    "stacking": ("type", "meta", "cv", "branches", "classifiers"),
    "hybrid": ("type", "meta", "cv", "branches", "classifiers"),
    "attention": ("type",),  # the classifier's own options live in [classifier]
}
SCORING_ALIASES = {
    "ua": "balanced_accuracy",
    "uar": "balanced_accuracy",
    "wa": "accuracy",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
}
DEFAULT_CV = {"scheme": "group", "n_splits": 5, "groups": "speaker", "inner": None,
              "inner_splits": None}  # fmt: skip


@dataclass
class PipelineSpec:
    """A validated pipeline spec (see docs/pipelines.md).

    ``features`` maps block names, in order, to ``{"type": ..., "options": {...}}``;
    ``classifier`` is ``{"name": ..., "params": {...}}``; ``grid`` maps friendly dotted keys
    (``classifier.C``, ``features.audio.pca``, ``fusion.weights``) to lists of values;
    ``cv`` holds ``scheme``, ``n_splits``, ``groups``, ``inner`` and ``inner_splits``.
    """

    name: str
    description: str = ""
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    fusion: str = "early"
    fusion_options: dict[str, Any] = field(default_factory=dict)
    classifier: dict[str, Any] = field(default_factory=lambda: {"name": "svc", "params": {}})
    grid: dict[str, list] = field(default_factory=dict)
    cv: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CV))
    scoring: str = "balanced_accuracy"
    speaker_normalization: bool = False
    measured: str = ""
    source: str | None = None
    base_dir: str | None = None

    # -- views ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :func:`load_spec` accepts again (and JSON can hold)."""
        fusion: Any = self.fusion
        if self.fusion_options:
            fusion = {"type": self.fusion}
            for k, v in self.fusion_options.items():
                if k == "meta":
                    fusion["meta"] = {"name": v["name"], **v.get("params", {})}
                elif k == "classifiers":
                    fusion["classifiers"] = {
                        b: {"name": c["name"], **c.get("params", {})} for b, c in v.items()
                    }
                else:
                    fusion[k] = copy.deepcopy(v)
        return {
            "name": self.name,
            "description": self.description,
            "features": {
                n: {"type": b["type"], **copy.deepcopy(b.get("options", {}))}
                for n, b in self.features.items()
            },
            "fusion": fusion,
            "classifier": {
                "name": self.classifier["name"],
                **copy.deepcopy(self.classifier.get("params", {})),
            },  # fmt: skip
            "grid": copy.deepcopy(self.grid),
            "cv": {k: v for k, v in self.cv.items() if v is not None},
            "scoring": self.scoring,
            "speaker_normalization": self.speaker_normalization,
            **({"measured": self.measured} if self.measured else {}),
        }

    def block_modalities(self) -> dict[str, str]:
        """Block name → modality (audio, text or extra)."""
        from ..fusion._blocks import block_modality

        return {n: block_modality(b["type"], b.get("options")) for n, b in self.features.items()}

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
        by_block = self.fusion_options.get("branches", "modality") == "block"
        branch_of = {n: (n if by_block else mods[n]) for n in keep}
        branches = list(dict.fromkeys(branch_of.values()))
        d = self.to_dict()
        d["name"] = f"{self.name}[{'+'.join(wanted)}]"
        d["features"] = {n: d["features"][n] for n in keep}
        grid: dict[str, list] = {}
        dropped = set(self.features) - set(keep)
        for key, values in self.grid.items():
            parts = key.split(".")
            if parts[0] == "features" and len(parts) > 1 and parts[1] in dropped:
                continue
            grid[key] = values
        overrides = self.fusion_options.get("classifiers", {})
        if len(branches) <= 1 and self.fusion not in ("early", "attention"):
            br = branches[0] if branches else None
            if br in overrides:
                c = overrides[br]
                d["classifier"] = {"name": c["name"], **c.get("params", {})}
                grid = {k: v for k, v in grid.items() if not k.startswith("classifier.")}
                prefix = f"fusion.classifiers.{br}."
                grid.update({
                    "classifier." + k[len(prefix):]: v for k, v in self.grid.items()
                    if k.startswith(prefix)
                })  # fmt: skip
            grid = {k: v for k, v in grid.items() if not k.startswith("fusion.")}
            d["fusion"] = "early"
        else:
            names = list(self.features) if self.fusion == "early" else None
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
                    grid = {k: v for k, v in grid.items() if not k.startswith("classifier.")}
            for key in list(grid):
                if key == "fusion.weights":
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
                elif key.startswith("fusion.classifiers.") and key.split(".")[2] not in branches:
                    del grid[key]
        if len(keep) == 1:  # a lone block has nothing to be weighed against
            grid = {k: v for k, v in grid.items()
                    if k != "fusion.weights" and not k.endswith(".weight")}  # fmt: skip
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
    by_block = spec.fusion_options.get("branches", "modality") == "block"
    mods = spec.block_modalities()
    old = list(dict.fromkeys(n if by_block else mods[n] for n in spec.features))
    return [w for b, w in zip(old, value, strict=False) if b in set(branches)]


# --------------------------------------------------------------------------- loading
class _Ctx:
    def __init__(self, source: str):
        self.source = source

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def check_keys(self, table: dict, valid, where: str) -> None:
        for key in table:
            if key not in valid:
                raise self.error(f"unknown key {key!r} in {where}; valid keys: {', '.join(valid)}")


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


def _is_bool(v) -> bool:
    return isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _named_table(ctx: _Ctx, value: Any, where: str) -> dict[str, Any]:
    """A classifier given as "name" or as a table with a ``name`` key → {name, params}."""
    from ..models import check_classifier_params

    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ctx.error(f"{where} must be a classifier name or a table with a 'name' key")
    params = {k: v for k, v in value.items() if k != "name"}
    if "probability" in params and not _is_bool(params["probability"]):
        raise ctx.error(f"{where}.probability={params['probability']!r} must be true or false")
    try:
        check_classifier_params(
            value["name"], {k: v for k, v in params.items() if k != "probability"}
        )
    except ConfigError as exc:
        raise ctx.error(f"{where}: {exc}") from None
    return {"name": value["name"], "params": params}


def _features(ctx: _Ctx, table: Any) -> dict[str, dict]:
    from ..fusion._blocks import BLOCK_TYPES, STEP_OPTIONS, extractor_options

    if not isinstance(table, dict):
        raise ctx.error("[features] must be a table of blocks, e.g. [features.audio]")
    out: dict[str, dict] = {}
    for name, block in table.items():
        where = f"[features.{name}]"
        if not isinstance(block, dict):
            raise ctx.error(f"{where} must be a table with a 'type' key")
        if "__" in name or "." in name:
            raise ctx.error(f"{where}: block names may not contain '__' or '.'")
        type_name = block.get("type")
        if type_name not in BLOCK_TYPES:
            raise ctx.error(
                f"unknown feature type {type_name!r} in {where}; valid: "
                f"{', '.join(sorted(BLOCK_TYPES))}"
            )
        options = {k: v for k, v in block.items() if k != "type"}
        try:
            accepted = extractor_options(type_name)
        except ConfigError:
            accepted = None  # extractor not importable yet: building will say so
            logger.debug("cannot check the options of feature type %r", type_name)
        if accepted is not None:
            valid = ["type", *sorted(set(accepted) | STEP_OPTIONS)]
            ctx.check_keys(block, valid, where)
        if "weight" in options and (
            _is_bool(options["weight"])
            or not isinstance(options["weight"], (int, float))
            or options["weight"] < 0
        ):
            raise ctx.error(f"{where}.weight={options['weight']!r} must be a number >= 0")
        for flag in ("scale", "speaker_normalization"):
            if flag in options and not _is_bool(options[flag]):
                raise ctx.error(f"{where}.{flag}={options[flag]!r} must be true or false")
        if "pca" in options:
            from ..fusion._early import _pca_value

            try:
                _pca_value(name, options["pca"])
            except ConfigError as exc:
                raise ctx.error(f"{where}: {exc}") from None
        k = options.get("select_k", "all")
        if not (k == "all" or (_is_int(k) and k > 0)):
            raise ctx.error(f"{where}.select_k={k!r} must be an integer >= 1")
        if type_name == "frames":
            fixed = [k for k in ("pca", "select_k", "weight") if k in options]
            fixed += [k for k in ("scale", "speaker_normalization") if options.get(k)]
            if fixed:
                raise ctx.error(
                    f"{where}: a frames block keeps its row layout (length, dim, max_frames, "
                    "frames) for the sequence model, which normalises frames itself; drop "
                    f"{', '.join(fixed)}"
                )
            options.setdefault("speaker_normalization", False)  # even in a normalised spec
        if type_name == "extra" and ("columns" in options) == ("file" in options):
            raise ctx.error(f"{where}: an extra block needs exactly one of columns=[...] or file")
        out[name] = {"type": type_name, "options": options}
    return out


def _fusion(ctx: _Ctx, value: Any) -> tuple[str, dict]:
    from ..fusion._build import FUSIONS

    table = {"type": value} if isinstance(value, str) else value
    if not isinstance(table, dict) or table.get("type") not in FUSIONS:
        got = table.get("type") if isinstance(table, dict) else table
        raise ctx.error(f"unknown fusion {got!r}; valid: {', '.join(FUSIONS)}")
    kind = table["type"]
    ctx.check_keys(table, FUSION_KEYS[kind], f"[fusion] (type {kind!r})")
    opts: dict[str, Any] = {}
    for k, v in table.items():
        if k == "type":
            continue
        if k == "meta":
            opts["meta"] = _named_table(ctx, v, "[fusion.meta]")
        elif k == "classifiers":
            if not isinstance(v, dict):
                raise ctx.error("[fusion.classifiers] must be a table of branch classifiers")
            opts["classifiers"] = {
                b: _named_table(ctx, c, f"[fusion.classifiers.{b}]") for b, c in v.items()
            }
        elif k == "temperature":
            if _is_bool(v) or not isinstance(v, (int, float)) or v <= 0:
                raise ctx.error(f"fusion.temperature={v!r} must be a number > 0")
            opts[k] = float(v)
        elif k == "confidence":
            if v not in ("max_prob", "entropy"):
                raise ctx.error(f"fusion.confidence={v!r}; valid: max_prob, entropy")
            opts[k] = v
        elif k == "cv":
            if not _is_int(v) or v < 2:
                raise ctx.error(f"fusion.cv={v!r} must be an integer >= 2")
            opts[k] = v
        elif k == "branches":
            if v not in ("modality", "block"):
                raise ctx.error(f"fusion.branches={v!r}; valid: modality, block")
            opts[k] = v
        elif k == "weights":
            if not isinstance(v, (list, dict)):
                raise ctx.error(f"fusion.weights={v!r} must be a list or a table of numbers")
            opts[k] = v
    return kind, opts


def _cv(ctx: _Ctx, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ctx.error("[cv] must be a table")
    ctx.check_keys(table, CV_KEYS, "[cv]")
    cv = {**DEFAULT_CV, **table}
    if cv["scheme"] not in CV_SCHEMES:
        raise ctx.error(f"unknown cv.scheme {cv['scheme']!r}; valid: {', '.join(CV_SCHEMES)}")
    if cv["inner"] is not None and cv["inner"] not in INNER_SCHEMES:
        raise ctx.error(f"unknown cv.inner {cv['inner']!r}; valid: {', '.join(INNER_SCHEMES)}")
    for k in ("n_splits", "inner_splits"):
        if cv[k] is not None and (not _is_int(cv[k]) or cv[k] < 2):
            raise ctx.error(f"cv.{k}={cv[k]!r} must be an integer >= 2")
    if not isinstance(cv["groups"], str) or not cv["groups"]:
        raise ctx.error(f"cv.groups={cv['groups']!r} must be a column name")
    return cv


def _scoring(ctx: _Ctx, value: Any) -> str:
    from sklearn.metrics import get_scorer_names

    name = SCORING_ALIASES.get(value, value) if isinstance(value, str) else value
    if not isinstance(name, str) or name not in get_scorer_names():
        raise ctx.error(
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
    ctx = _Ctx(src)
    if not isinstance(data, dict):
        raise ctx.error("a spec must be a table")
    ctx.check_keys(data, TOP_KEYS, "the top-level table")
    name = data.get("name", "spec")
    if not isinstance(name, str) or not name:
        raise ctx.error(f"name={name!r} must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ctx.error("description must be a string")
    measured = data.get("measured", "")  # documentation only: figures shown by `pipelines`
    if not isinstance(measured, str):
        raise ctx.error("measured must be a string (the spec's measured figures, one line)")
    features = _features(ctx, data.get("features", {}))
    fusion, fusion_options = _fusion(ctx, data.get("fusion", "early"))
    if "classifier" not in data:
        raise ctx.error("missing [classifier] table; add one with name = 'svc' (or another)")
    classifier = _named_table(ctx, data["classifier"], "[classifier]")
    cv = _cv(ctx, data.get("cv", {}))
    scoring = _scoring(ctx, data.get("scoring", "balanced_accuracy"))
    sn = data.get("speaker_normalization", False)
    if not _is_bool(sn):
        raise ctx.error(f"speaker_normalization={sn!r} must be true or false")
    grid_table = data.get("grid", {})
    if not isinstance(grid_table, dict):
        raise ctx.error("[grid] must be a table of parameter lists")
    spec = PipelineSpec(
        name=name,
        description=description,
        features=features,
        fusion=fusion,
        fusion_options=fusion_options,
        classifier=classifier,
        grid={},
        cv=cv,
        scoring=scoring,
        speaker_normalization=sn,
        measured=measured,
        source=src,
        base_dir=str(base_dir) if base_dir is not None else file_dir,
    )
    from ..fusion._build import pipeline_layout

    try:
        pipeline_layout(spec)
    except ConfigError as exc:
        raise ctx.error(str(exc)) from None
    spec.grid = _grid(ctx, spec, grid_table)
    return spec


def _grid(ctx: _Ctx, spec: PipelineSpec, table: dict) -> dict[str, list]:
    from ..fusion._build import translate_params
    from ..models import DEFAULT_GRIDS

    grid: dict[str, list] = {}
    flat = _flatten_grid(table)
    for key, values in flat.items():
        if key == "classifier" and values == "default":
            for p, vals in DEFAULT_GRIDS.get(spec.classifier["name"], {}).items():
                grid.setdefault(f"classifier.{p}", list(vals))
            continue
        if not isinstance(values, list) or not values:
            raise ctx.error(
                f"grid.{key} = {values!r} must be a non-empty list of values, e.g. [1, 10]"
            )
        grid[key] = values
    for key, values in grid.items():
        for v in values:
            try:
                translate_params(spec, {key: v})
            except ConfigError as exc:
                raise ctx.error(str(exc)) from None
    return grid
