"""The typed parts of a spec, and the syntax of every value a spec or a grid can hold.

:class:`BlockSpec`, :class:`ClassifierSpec`, :class:`FusionSpec` and :class:`CVSpec` are what
:func:`~emoclassic.spec.load_spec` builds from the spec's tables; their ``from_table``
constructors check syntax only (types, known keys, allowed values), with no look-up in the
block registry or the classifier zoo (``_meaning`` asks those). :class:`GridKey` is the one
parser of friendly grid keys (``classifier.C``, ``features.audio.pca``, ``fusion.weights``,
``fusion.classifiers.text.C``). :func:`check_value` is the one rule for what a step or fusion
option accepts, whether the spec sets it or a grid tunes it.

Block, classifier and CV specs also read as the plain mappings older code used
(``spec.features["audio"]["options"]``, ``spec.classifier["name"]``, ``spec.cv.get("scheme")``);
new code reads the attributes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..exceptions import ConfigError

__all__ = [
    "BlockSpec",
    "CVSpec",
    "ClassifierSpec",
    "FUSIONS",
    "FusionSpec",
    "ADAPTATIONS",
    "GridKey",
    "NORMALIZATIONS",
    "STEP_OPTIONS",
    "block_adaptation",
    "block_normalization",
    "check_value",
    "resolve_normalization",
    "pca_components",
    "valid_value",
]

#: block options that configure the block's steps, not its extractor
STEP_OPTIONS = frozenset({"scale", "pca", "select_k", "weight", "speaker_normalization",
                          "normalization", "adaptation", "encode"})
#: ``normalization``: standardise each speaker's or each corpus's features with its own
#: statistics (``speaker_normalization = true`` is the old spelling of "speaker")
NORMALIZATIONS = ("none", "speaker", "corpus")
#: ``adaptation``: align a new corpus's second-order statistics to the training data's
ADAPTATIONS = ("none", "coral")
#: classifier options that say how the classifier is wrapped, not passed to it
WRAPPER_OPTIONS = ("probability", "calibration")
#: the block options a grid may tune besides the extractor's own
TUNABLE_STEPS = ("pca", "select_k", "weight")
FUSIONS = ("early", "voting", "stacking", "hybrid", "adaptive", "attention")
FUSION_KEYS = {
    "early": ("type", "weights"),
    "voting": ("type", "weights", "branches", "classifiers", "calibration", "cv"),
    "adaptive": ("type", "weights", "temperature", "confidence", "branches", "classifiers",
                 "calibration", "cv"),
    "stacking": ("type", "meta", "cv", "branches", "classifiers"),
    "hybrid": ("type", "meta", "cv", "branches", "classifiers"),
    "attention": ("type",),  # the classifier's own options live in [classifier]
}
CV_KEYS = ("scheme", "n_splits", "groups", "inner", "inner_splits")
#: ``auto``: ``split`` when the manifest has train and test rows in a ``split`` column, else
#: ``group`` (so one spec runs unchanged on corpora with and without official splits)
CV_SCHEMES = ("auto", "group", "groupkfold", "logo", "split", "stratified")
INNER_SCHEMES = ("group", "groupkfold", "logo", "stratified")


# --------------------------------------------------------------------------- value rules
def _is_bool(v) -> bool:
    return isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class _Rule:
    """What one option accepts; how a spec value and a grid value are told they are wrong."""

    ok: Callable[[Any], bool]
    spec: str  # appended to "<name>=<value!r>"
    grid: str | None = None  # appended to "grid key <key!r>: <value!r>" (default: spec's)


_FLAG = _Rule(_is_bool, " must be true or false")
_SPLITS = _Rule(lambda v: _is_int(v) and v >= 2, " must be an integer >= 2")
_RULES: dict[str, _Rule] = {
    "scale": _FLAG,
    "speaker_normalization": _FLAG,
    "normalization": _Rule(lambda v: v in NORMALIZATIONS, f"; valid: {', '.join(NORMALIZATIONS)}"),
    "adaptation": _Rule(lambda v: v in ADAPTATIONS, f"; valid: {', '.join(ADAPTATIONS)}"),
    "probability": _FLAG,
    "calibration": _Rule(
        lambda v: v in ("auto", "sigmoid", "isotonic", "temperature", "none"),
        "; valid: auto, sigmoid, isotonic, temperature, none",
    ),
    "fused_calibration": _Rule(
        lambda v: v in ("auto", "temperature", "none"), "; valid: auto, temperature, none"
    ),
    "weight": _Rule(lambda v: _is_number(v) and v >= 0, " must be a number >= 0"),
    "select_k": _Rule(
        lambda v: v == "all" or (_is_int(v) and v >= 1),
        " must be an integer >= 1",
        " must be an int >= 1",
    ),
    "temperature": _Rule(lambda v: _is_number(v) and v > 0, " must be a number > 0"),
    "confidence": _Rule(
        lambda v: v in ("max_prob", "entropy"),
        "; valid: max_prob, entropy",
        " must be 'max_prob' or 'entropy'",
    ),
    "cv": _SPLITS,
    "branches": _Rule(lambda v: v in ("modality", "block"), "; valid: modality, block"),
    "weights": _Rule(
        lambda v: isinstance(v, (list, dict)), " must be a list or a table of numbers"
    ),
    "n_splits": _SPLITS,
    "inner_splits": _SPLITS,
}


def valid_value(option: str, value: Any) -> bool:
    """Whether ``value`` is a valid ``option`` (``select_k``, ``temperature``, ``weight``, ...)."""
    return _RULES[option].ok(value)


def check_value(option: str, value: Any, *, name: str | None = None, key: str | None = None):
    """``value`` if it is a valid ``option``, else a :class:`ConfigError`.

    ``name``: how the spec calls it (``fusion.temperature``, ``[features.audio].select_k``);
    ``key``: the grid key tuning it. The rule is the same either way.
    """
    rule = _RULES[option]
    if rule.ok(value):
        return value
    if key is not None:
        tail = rule.spec if rule.grid is None else rule.grid
        raise ConfigError(f"grid key {key!r}: {value!r}{tail}")
    raise ConfigError(f"{name or option}={value!r}{rule.spec}")


def resolve_normalization(table: Mapping[str, Any], where: str) -> str | None:
    """A table's ``normalization``, reading ``speaker_normalization`` as its alias.

    None when the table gives neither. ``speaker_normalization = true`` means "speaker",
    ``false`` means "not per speaker" ("none" unless ``normalization`` says "corpus"). Both
    given and disagreeing: a :class:`ConfigError`.
    """
    flag = table.get("speaker_normalization")
    value = table.get("normalization")
    if flag is not None:
        check_value("speaker_normalization", flag, name=f"{where}speaker_normalization")
    if value is not None:
        check_value("normalization", value, name=f"{where}normalization")
    if flag is None:
        return value
    if value is None:
        return "speaker" if flag else "none"
    if flag != (value == "speaker"):
        raise ConfigError(
            f"{where}speaker_normalization={'true' if flag else 'false'} and "
            f"normalization={value!r} disagree; give only normalization "
            f"({', '.join(NORMALIZATIONS)}): speaker_normalization is its old spelling"
        )
    return value


def block_normalization(options: Mapping[str, Any], default: str = "none") -> str:
    """The normalisation of a block with ``options`` in a spec whose own is ``default``."""
    own = resolve_normalization(options, "")
    return default if own is None else own


def block_adaptation(options: Mapping[str, Any], default: str = "none") -> str:
    """The adaptation of a block with ``options`` in a spec whose own is ``default``."""
    return str(options.get("adaptation", default))


def pca_components(block: str, value: Any):
    """A block's ``pca`` value as PCA's ``n_components`` (None: keep every component)."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, bool):
        raise ConfigError(f"block {block!r}: pca={value!r} must be a count or a variance fraction")
    if isinstance(value, int) and value >= 1:
        return value
    if isinstance(value, float) and 0 < value < 1:
        return value
    raise ConfigError(
        f"block {block!r}: pca={value!r} must be an integer >= 1 (components) or a float in "
        "(0, 1) (variance kept)"
    )


def check_keys(table: Mapping, valid, where: str) -> None:
    for key in table:
        if key not in valid:
            raise ConfigError(f"unknown key {key!r} in {where}; valid keys: {', '.join(valid)}")


# --------------------------------------------------------------------------- spec parts
class _ReadView(Mapping):
    """Read-only mapping access in the shape older code used (``block["options"]``)."""

    __slots__ = ()

    def _view(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self._view()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view())

    def __len__(self) -> int:
        return len(self._view())

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))
        if isinstance(other, Mapping):
            return self._view() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment] - the options are mutable


@dataclass(frozen=True, eq=False)
class BlockSpec(_ReadView):
    """One ``[features.NAME]`` block: its type and its options as the spec wrote them.

    ``options`` holds every option; :attr:`extractor_options` are those the extractor takes,
    and the step options (:data:`STEP_OPTIONS`) read as typed attributes. Reads as
    ``{"type": ..., "options": {...}}``.
    """

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> BlockSpec:
        """The block of a ``[features.NAME]`` table, its step options checked."""
        where = f"[features.{name}]"
        type_name = table.get("type")
        options = {k: v for k, v in table.items() if k != "type"}
        for opt in ("weight", "scale", "adaptation"):
            if opt in options:
                check_value(opt, options[opt], name=f"{where}.{opt}")
        resolve_normalization(options, f"{where}.")
        if "pca" in options:
            try:
                pca_components(name, options["pca"])
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        check_value("select_k", options.get("select_k", "all"), name=f"{where}.select_k")
        if "encode" in options and type_name not in ("frames", "frame_llds"):
            raise ConfigError(f"{where}: encode reads frame sequences; use it in a 'frames' or "
                              f"'frame_llds' block, not {type_name!r}")
        if type_name in ("frames", "frame_llds") and "encode" not in options:
            fixed = [k for k in ("pca", "select_k", "weight") if k in options]
            fixed += [k for k in ("scale", "speaker_normalization") if options.get(k)]
            fixed += [k for k in ("normalization", "adaptation")
                      if options.get(k, "none") != "none"]  # fmt: skip
            if fixed:
                raise ConfigError(
                    f"{where}: a {type_name} block keeps its row layout (length, dim, max_frames, "
                    "frames) for the sequence model, which normalises frames itself; drop "
                    f"{', '.join(fixed)}, or give it encode"
                )
            # never normalised or adapted, even in a spec that does so
            options.setdefault("speaker_normalization", False)
            options.setdefault("adaptation", "none")
        if type_name == "extra" and ("columns" in options) == ("file" in options):
            raise ConfigError(f"{where}: an extra block needs exactly one of columns=[...] or file")
        return cls(name, type_name, options)

    def _view(self) -> dict[str, Any]:
        return {"type": self.type, "options": self.options}

    def to_table(self) -> dict[str, Any]:
        """The ``[features.NAME]`` table (what :meth:`from_table` reads)."""
        return {"type": self.type, **copy.deepcopy(self.options)}

    @property
    def extractor_options(self) -> dict[str, Any]:
        """The options given to the extractor (all but the step options)."""
        return {k: v for k, v in self.options.items() if k not in STEP_OPTIONS}

    @property
    def scale(self) -> bool | None:
        """Standardise the block (None: the block type's default)."""
        return self.options.get("scale")

    @property
    def normalization(self) -> str | None:
        """``none``, ``speaker`` or ``corpus`` (None: the spec's ``normalization``); the old
        ``speaker_normalization`` flag is read as its alias."""
        return resolve_normalization(self.options, f"[features.{self.name}].")

    @property
    def speaker_normalization(self) -> bool | None:
        """Normalise per speaker (None: the spec's ``normalization``)."""
        value = self.normalization
        return None if value is None else value == "speaker"

    @property
    def adaptation(self) -> str | None:
        """``none`` or ``coral`` (None: the spec's ``adaptation``)."""
        return self.options.get("adaptation")

    @property
    def weight(self) -> float:
        """The block's weight in early fusion."""
        return float(self.options.get("weight", 1.0))

    @property
    def select_k(self) -> int | str | None:
        """SelectKBest's ``k`` (None: no selection step)."""
        return self.options.get("select_k")

    @property
    def has_pca(self) -> bool:
        """Whether the block has a PCA step."""
        return "pca" in self.options

    @property
    def pca(self) -> int | float | None:
        """PCA's ``n_components`` (None: every component, or no PCA step; see :attr:`has_pca`)."""
        return pca_components(self.name, self.options.get("pca"))


@dataclass(frozen=True, eq=False)
class ClassifierSpec(_ReadView):
    """A classifier: a zoo name and its parameters. Reads as ``{"name": ..., "params": {...}}``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_table(cls, value: Any, where: str) -> ClassifierSpec:
        """A classifier given as ``"name"`` or as a table with a ``name`` key."""
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise ConfigError(f"{where} must be a classifier name or a table with a 'name' key")
        params = {k: v for k, v in value.items() if k != "name"}
        for opt in WRAPPER_OPTIONS:
            if opt in params:
                check_value(opt, params[opt], name=f"{where}.{opt}")
        return cls(value["name"], params)

    def _view(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params}

    def to_table(self) -> dict[str, Any]:
        return {"name": self.name, **copy.deepcopy(self.params)}

    @property
    def probability(self) -> bool:
        """Whether the spec asks this classifier for probabilities (older specs' key: with
        ``calibration = "auto"`` every zoo classifier already has them)."""
        return bool(self.params.get("probability", False))

    @property
    def calibration(self) -> str:
        """How its probabilities are calibrated: ``auto`` (the default: Platt's sigmoid for
        classifiers whose scores are not fitted probabilities, e.g. SVMs and forests),
        ``sigmoid``, ``isotonic``, ``temperature`` or ``none``."""
        return str(self.params.get("calibration", "auto"))

    @property
    def estimator_params(self) -> dict[str, Any]:
        """The parameters given to the estimator (``probability`` and ``calibration`` say how
        it is wrapped)."""
        return {k: v for k, v in self.params.items() if k not in WRAPPER_OPTIONS}


@dataclass(frozen=True)
class FusionSpec:
    """The ``fusion`` of a spec: its type and options, each with its default.

    ``given`` names the options the spec wrote, in its order (what :meth:`to_table` writes
    back); ``meta`` and ``classifiers`` hold :class:`ClassifierSpec` objects.
    """

    type: str = "early"
    weights: list | dict | None = None  # fixed block (early) or branch (late) weights
    temperature: float = 0.2  # adaptive: softmax temperature over branch confidences
    confidence: str = "max_prob"  # adaptive: max_prob or entropy
    cv: int = 5  # stacking, hybrid: the meta-learner's inner folds; voting, adaptive: calibration's
    calibration: str = "auto"  # voting, adaptive: temperature on the fused probabilities
    branches: str = "modality"  # late: one branch per modality or per block
    meta: ClassifierSpec = field(default_factory=lambda: ClassifierSpec("logreg"))
    classifiers: dict[str, ClassifierSpec] = field(default_factory=dict)  # branch -> own
    given: tuple[str, ...] = ()

    @classmethod
    def from_table(cls, value: Any) -> FusionSpec:
        """The fusion of ``fusion = "name"`` or a ``[fusion]`` table."""
        table = {"type": value} if isinstance(value, str) else value
        if not isinstance(table, dict) or table.get("type") not in FUSIONS:
            got = table.get("type") if isinstance(table, dict) else table
            raise ConfigError(f"unknown fusion {got!r}; valid: {', '.join(FUSIONS)}")
        kind = table["type"]
        check_keys(table, FUSION_KEYS[kind], f"[fusion] (type {kind!r})")
        opts: dict[str, Any] = {}
        for k, v in table.items():
            if k == "meta":
                opts[k] = ClassifierSpec.from_table(v, "[fusion.meta]")
            elif k == "classifiers":
                if not isinstance(v, dict):
                    raise ConfigError("[fusion.classifiers] must be a table of branch classifiers")
                opts[k] = {
                    b: ClassifierSpec.from_table(c, f"[fusion.classifiers.{b}]")
                    for b, c in v.items()
                }
            elif k == "calibration":
                opts[k] = check_value("fused_calibration", v, name="fusion.calibration")
            elif k != "type":
                opts[k] = check_value(k, v, name=f"fusion.{k}")
                if k == "temperature":
                    opts[k] = float(v)
        return cls(kind, **opts, given=tuple(opts))

    @property
    def options(self) -> dict[str, Any]:
        """The options the spec wrote, in its order."""
        return {k: getattr(self, k) for k in self.given}

    def to_table(self) -> str | dict[str, Any]:
        """``"type"``, or the ``[fusion]`` table when the spec gave options."""
        if not self.given:
            return self.type
        out: dict[str, Any] = {"type": self.type}
        for k, v in self.options.items():
            if k == "meta":
                out[k] = v.to_table()
            elif k == "classifiers":
                out[k] = {b: c.to_table() for b, c in v.items()}
            else:
                out[k] = copy.deepcopy(v)
        return out


@dataclass(frozen=True, eq=False)
class CVSpec(_ReadView):
    """The ``[cv]`` protocol. Reads as the dict of its five keys."""

    scheme: str = "group"
    n_splits: int = 5
    groups: str = "speaker"
    inner: str | None = None
    inner_splits: int | None = None

    @classmethod
    def from_table(cls, table: Any) -> CVSpec:
        if not isinstance(table, dict):
            raise ConfigError("[cv] must be a table")
        check_keys(table, CV_KEYS, "[cv]")
        cv = cls(**table)
        if cv.scheme not in CV_SCHEMES:
            raise ConfigError(f"unknown cv.scheme {cv.scheme!r}; valid: {', '.join(CV_SCHEMES)}")
        if cv.inner is not None and cv.inner not in INNER_SCHEMES:
            raise ConfigError(f"unknown cv.inner {cv.inner!r}; valid: {', '.join(INNER_SCHEMES)}")
        for k in ("n_splits", "inner_splits"):
            if getattr(cv, k) is not None:
                check_value(k, getattr(cv, k), name=f"cv.{k}")
        if not isinstance(cv.groups, str) or not cv.groups:
            raise ConfigError(f"cv.groups={cv.groups!r} must be a column name")
        return cv

    def _view(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in CV_KEYS}

    def to_table(self) -> dict[str, Any]:
        return {k: v for k, v in self._view().items() if v is not None}


# --------------------------------------------------------------------------- grid keys
_UNKNOWN_KEY = (
    "unknown grid key {key!r}; use classifier.<param>, features.<block>.<option>, "
    "fusion.weights, fusion.temperature, fusion.meta.<param>, "
    "fusion.classifiers.<branch>.<param> or a scikit-learn path with '__'"
)
_UNKNOWN_FUSION_KEY = (
    "unknown grid key {key!r}; fusion keys: fusion.weights, fusion.temperature, "
    "fusion.confidence, fusion.cv, fusion.meta.<param>, fusion.classifiers.<branch>.<param>"
)


@dataclass(frozen=True)
class GridKey:
    """A grid key, parsed: what it tunes.

    ==============================  ============  =========  ===========  ======  =====
    key                             kind          block      option       branch  param
    ==============================  ============  =========  ===========  ======  =====
    ``classifier.C``                classifier               C
    ``features.audio.pca``          block         audio      pca
    ``fusion.temperature``          fusion                   temperature
    ``fusion.meta.C``               fusion                   meta                 C
    ``fusion.classifiers.text.C``   fusion                   classifiers  text    C
    ``clf__C`` (any key with __)    path                     clf__C
    ==============================  ============  =========  ===========  ======  =====
    """

    key: str
    kind: str
    option: str
    block: str | None = None
    branch: str | None = None
    param: str | None = None

    @classmethod
    def parse(cls, key: str) -> GridKey:
        """The key's parts; a :class:`ConfigError` listing the key forms if it has none."""
        if "__" in key:  # already a scikit-learn path
            return cls(key, "path", key)
        head, *rest = key.split(".")
        if head == "classifier" and len(rest) == 1:
            return cls(key, "classifier", rest[0])
        if head == "features" and len(rest) == 2:
            return cls(key, "block", rest[1], block=rest[0])
        if head == "fusion" and rest:
            what, n = rest[0], len(rest)
            if what in ("weights", "temperature", "confidence", "cv") and n == 1:
                return cls(key, "fusion", what)
            if what == "meta" and n == 2:
                return cls(key, "fusion", what, param=rest[1])
            if what == "classifiers" and n == 3:
                return cls(key, "fusion", what, branch=rest[1], param=rest[2])
            raise ConfigError(_UNKNOWN_FUSION_KEY.format(key=key))
        raise ConfigError(_UNKNOWN_KEY.format(key=key))

    @property
    def weighs(self) -> bool:
        """Whether the key sets block or branch weights (``fusion.weights``, ``*.B.weight``)."""
        return (self.kind, self.option) in (("fusion", "weights"), ("block", "weight"))

    @property
    def changes_extractor(self) -> bool:
        """Whether the key sets an extractor's option (so its features differ per value)."""
        if self.kind == "path":
            return "__extract__" in self.key
        return self.kind == "block" and self.option not in STEP_OPTIONS
