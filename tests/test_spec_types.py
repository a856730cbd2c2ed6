"""The typed parts of a spec (BlockSpec, ClassifierSpec, FusionSpec, CVSpec) and GridKey."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from emoclassic.exceptions import ConfigError
from emoclassic.features._precompute import _is_extractor_key
from emoclassic.fusion import translate_params
from emoclassic.spec import (
    BlockSpec,
    ClassifierSpec,
    CVSpec,
    FusionSpec,
    GridKey,
    PipelineSpec,
    load_spec,
)
from emoclassic.spec._types import check_value

SPEC = {
    "name": "typed",
    "features": {"a": {"type": "pooled", "preset": "compact", "pca": 0.9, "weight": 2},
                 "t": {"type": "tfidf", "select_k": "all"}},
    "fusion": {"type": "stacking", "cv": 3, "classifiers": {"text": {"name": "logreg", "C": 2.0}},
               "meta": "logreg"},
    "classifier": {"name": "svc", "C": 10.0, "probability": True},
    "grid": {"classifier.C": [1.0], "features.a.preset": ["compact"], "fusion.meta.C": [1.0]},
    "cv": {"scheme": "logo", "groups": "actor"},
}  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(SPEC)


def test_a_spec_holds_typed_parts(spec):
    a = spec.features["a"]
    assert isinstance(a, BlockSpec) and (a.name, a.type) == ("a", "pooled")
    assert a.options == {"preset": "compact", "pca": 0.9, "weight": 2}
    assert a.extractor_options == {"preset": "compact"}
    assert (a.weight, a.has_pca, a.pca, a.select_k, a.scale) == (2.0, True, 0.9, None, None)
    assert spec.features["t"].select_k == "all" and spec.features["t"].weight == 1.0
    assert spec.classifier == ClassifierSpec("svc", {"C": 10.0, "probability": True})
    assert spec.classifier.probability and spec.classifier.estimator_params == {"C": 10.0}
    f = spec.fusion
    assert isinstance(f, FusionSpec) and f.type == "stacking" and f.cv == 3
    assert f.meta == ClassifierSpec("logreg") and f.classifiers["text"].params == {"C": 2.0}
    assert (f.temperature, f.branches, f.weights) == (0.2, "modality", None)  # defaults
    assert f.given == ("cv", "classifiers", "meta")  # as the spec wrote them, in order
    assert spec.cv == CVSpec(scheme="logo", groups="actor")
    assert (spec.cv.n_splits, spec.cv.inner) == (5, None)


def test_parts_are_frozen_and_pickle(spec):
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.features["a"].type = "tfidf"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.cv.n_splits = 3  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert copy.deepcopy(spec) == spec


def test_parts_read_as_the_old_mappings(spec):
    a = spec.features["a"]
    assert a == {"type": "pooled", "options": {"preset": "compact", "pca": 0.9, "weight": 2}}
    assert a["type"] == "pooled" and a.get("options", {})["pca"] == 0.9
    assert dict(spec.classifier) == {"name": "svc", "params": {"C": 10.0, "probability": True}}
    assert spec.cv.get("scheme") == "logo" and spec.cv["inner_splits"] is None
    assert list(spec.cv) == ["scheme", "n_splits", "groups", "inner", "inner_splits"]
    assert spec.fusion_options["cv"] == 3
    assert a != spec.features["t"] and a != "pooled"


def test_tables_round_trip(spec):
    assert spec.features["a"].to_table() == SPEC["features"]["a"]
    assert FusionSpec.from_table("voting").to_table() == "voting"
    assert spec.fusion.to_table() == {
        "type": "stacking", "cv": 3, "classifiers": {"text": {"name": "logreg", "C": 2.0}},
        "meta": {"name": "logreg"},
    }  # fmt: skip
    assert spec.cv.to_table() == {"scheme": "logo", "n_splits": 5, "groups": "actor"}
    assert load_spec(spec.to_dict()) == spec


def test_from_table_checks_syntax_only():
    # no registry look-up: an unknown type or option is for _meaning (and load_spec) to report
    assert BlockSpec.from_table("x", {"type": "nope", "whatever": 1}).type == "nope"
    with pytest.raises(ConfigError, match=r"^\[features\.x\]\.weight=-1 must be a number >= 0$"):
        BlockSpec.from_table("x", {"type": "pooled", "weight": -1})
    with pytest.raises(ConfigError, match=r"^\[features\.x\]: block 'x': pca=2\.5 must be"):
        BlockSpec.from_table("x", {"type": "pooled", "pca": 2.5})
    frames = BlockSpec.from_table("f", {"type": "frames"})
    assert frames.speaker_normalization is False  # frames are never speaker-normalised
    with pytest.raises(ConfigError, match=r"^\[m\]\.probability=1 must be true or false$"):
        ClassifierSpec.from_table({"name": "svc", "probability": 1}, "[m]")
    assert ClassifierSpec.from_table("nope", "[m]") == ClassifierSpec("nope")
    with pytest.raises(ConfigError, match=r"^fusion\.temperature=0 must be a number > 0$"):
        FusionSpec.from_table({"type": "adaptive", "temperature": 0})
    assert FusionSpec.from_table({"type": "adaptive", "temperature": 1}).temperature == 1.0
    with pytest.raises(ConfigError, match=r"^cv\.n_splits=1 must be an integer >= 2$"):
        CVSpec.from_table({"n_splits": 1})


def test_one_rule_for_spec_and_grid_values(spec):
    with pytest.raises(ConfigError, match=r"^fusion\.cv=1 must be an integer >= 2$"):
        check_value("cv", 1, name="fusion.cv")
    with pytest.raises(ConfigError, match=r"^grid key 'fusion\.cv': 1 must be an integer >= 2$"):
        translate_params(spec, {"fusion.cv": 1})
    assert translate_params(spec, {"fusion.cv": 4}) == {"fusion__cv": 4}
    with pytest.raises(ConfigError, match=r"grid key 'features\.t\.select_k': True must be an int"):
        translate_params(spec, {"features.t.select_k": True})  # a bool is no count


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("classifier.C", ("classifier", "C", None, None, None)),
        ("features.audio.pca", ("block", "pca", "audio", None, None)),
        ("fusion.weights", ("fusion", "weights", None, None, None)),
        ("fusion.meta.C", ("fusion", "meta", None, None, "C")),
        ("fusion.classifiers.text.C", ("fusion", "classifiers", None, "text", "C")),
        ("clf__C", ("path", "clf__C", None, None, None)),
        ("features.a.x__y", ("path", "features.a.x__y", None, None, None)),
    ],
)
def test_grid_keys_parse(key, parts):
    g = GridKey.parse(key)
    assert (g.kind, g.option, g.block, g.branch, g.param) == parts and g.key == key


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("foo", r"^unknown grid key 'foo'; use classifier\.<param>"),
        ("classifier", r"^unknown grid key 'classifier'; use"),
        ("features.a", r"^unknown grid key 'features\.a'; use"),
        ("fusion.meta", r"^unknown grid key 'fusion\.meta'; fusion keys: fusion\.weights"),
        ("fusion.bogus", r"^unknown grid key 'fusion\.bogus'; fusion keys"),
    ],
)
def test_bad_grid_keys_name_the_key_forms(key, pattern):
    with pytest.raises(ConfigError, match=pattern):
        GridKey.parse(key)


def test_grid_key_questions_answered_by_the_parser():
    assert GridKey.parse("features.a.preset").changes_extractor
    assert GridKey.parse("fusion__audio__features__a__extract__preset").changes_extractor
    assert not any(GridKey.parse(k).changes_extractor
                   for k in ("features.a.pca", "features.a.weight", "classifier.C", "clf__C"))
    assert GridKey.parse("fusion.weights").weighs and GridKey.parse("features.a.weight").weighs
    assert not GridKey.parse("classifier.weight").weighs
    # precompute asks the same parser; keys it cannot parse change nothing
    assert _is_extractor_key("features.a.preset") and not _is_extractor_key("features.a.pca")
    assert not _is_extractor_key("nonsense")


def test_meaning_is_checked_at_load_with_the_same_messages_as_the_grid():
    base = {"features": {"a": {"type": "pooled"}}, "classifier": {"name": "svc"}}
    with pytest.raises(ConfigError, match=r"^<spec dict>: unknown key 'nope' in \[features\.a\]"):
        load_spec({**base, "features": {"a": {"type": "pooled", "nope": 1}}})
    with pytest.raises(ConfigError, match=r"grid key 'features\.a\.nope': feature type 'pooled' "
                                          r"has no option 'nope'"):  # fmt: skip
        load_spec({**base, "grid": {"features.a.nope": [1]}})
    with pytest.raises(ConfigError, match=r"^<spec dict>: \[classifier\]: classifier 'svc' has "
                                          r"no parameter 'Cee'"):  # fmt: skip
        load_spec({**base, "classifier": {"name": "svc", "Cee": 1}})
    with pytest.raises(ConfigError, match=r"^<spec dict>: grid key 'classifier\.Cee' = 1: "
                                          r"classifier 'svc' has no parameter 'Cee'"):  # fmt: skip
        load_spec({**base, "grid": {"classifier.Cee": [1]}})
