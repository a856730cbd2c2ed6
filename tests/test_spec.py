"""Pipeline specs: parsing, validation messages, round trips, restriction; shipped specs build."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.pipeline import Pipeline

from emoclassic.exceptions import ConfigError
from emoclassic.fusion import build_pipeline, param_grid
from emoclassic.models import DEFAULT_GRIDS
from emoclassic.spec import PipelineSpec, load_spec

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
SHIPPED = sorted(PIPELINES.glob("*.toml"))

GOOD = """
name = "good"
description = "two blocks"
fusion = "early"
scoring = "ua"

[features.audio]
type = "extra"
columns = ["a0", "a1"]
pca = 1

[features.text]
type = "extra"
columns = ["t0"]
weight = 0.5

[classifier]
name = "svc"
C = 10.0

[grid.classifier]
C = [1.0, 10.0]
gamma = ["scale", 0.01]

[grid.features.text]
weight = [0.5, 1.0]

[cv]
scheme = "logo"
groups = "actor"
"""


def write(tmp_path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_every_shipped_spec_loads_and_builds():
    names = {p.stem for p in SHIPPED}
    required = {"pooled-svm", "alexnet-rf", "text-svm", "early-pooled-text-svm",
                "early-alexnet-text-xgb", "late-stacking", "bagging-pooled", "boosting-pooled",
                "demo"}  # fmt: skip
    assert required <= names, f"missing specs: {required - names}"
    for path in SHIPPED:
        spec = load_spec(path)
        assert spec.description, f"{path.name} needs a description"
        assert isinstance(build_pipeline(spec), Pipeline)
        assert len(param_grid(spec)) >= 1
        assert load_spec(spec.to_dict()).to_dict() == spec.to_dict()


def test_a_good_spec_parses_into_objects(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert isinstance(spec, PipelineSpec)
    assert spec.name == "good" and spec.fusion.type == "early"
    assert list(spec.features) == ["audio", "text"]
    assert spec.features["audio"] == {"type": "extra", "options": {"columns": ["a0", "a1"],
                                                                   "pca": 1}}  # fmt: skip
    assert spec.classifier == {"name": "svc", "params": {"C": 10.0}}
    assert spec.grid == {
        "classifier.C": [1.0, 10.0],
        "classifier.gamma": ["scale", 0.01],
        "features.text.weight": [0.5, 1.0],
    }
    assert spec.scoring == "balanced_accuracy"  # "ua" is an alias
    assert spec.cv["scheme"] == "logo" and spec.cv["groups"] == "actor"
    assert spec.cv["n_splits"] == 5
    assert spec.speaker_normalization is False
    assert spec.modalities() == ["extra"]
    assert len(param_grid(spec)) == 8


def test_round_trip_through_a_dict(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    again = load_spec(spec.to_dict())
    assert again.to_dict() == spec.to_dict()
    assert again.grid == spec.grid


def test_default_classifier_grid(tmp_path):
    text = GOOD.split("[grid.classifier]")[0] + '[grid]\nclassifier = "default"\n'
    spec = load_spec(write(tmp_path, text))
    assert spec.grid == {f"classifier.{k}": v for k, v in DEFAULT_GRIDS["svc"].items()}


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        (
            'scoring = "ua"',
            'scoring = "ua"\nclasifier = 1',
            r"spec\.toml: unknown key 'clasifier' in the top-level table; valid keys: name, "
            r"description, features, fusion, classifier",
        ),
        (
            'scheme = "logo"',
            'scheme = "logo"\nfolds = 3',
            r"spec\.toml: unknown key 'folds' in \[cv\]; valid keys: scheme, n_splits, groups",
        ),
        (
            'scheme = "logo"',
            'scheme = "loso"',
            r"spec\.toml: unknown cv\.scheme 'loso'; valid: auto, group, groupkfold, logo, split",
        ),
        (
            'name = "svc"',
            'name = "svm"',
            r"spec\.toml: \[classifier\]: unknown classifier 'svm'; valid: .*svc",
        ),
        (
            "C = 10.0\n",
            "C = 10.0\nCee = 1\n",
            r"spec\.toml: \[classifier\]: classifier 'svc' has no parameter 'Cee'; valid: C",
        ),
        (
            'type = "extra"\ncolumns = ["t0"]',
            'type = "wav2vec"\ncolumns = ["t0"]',
            r"spec\.toml: unknown feature type 'wav2vec' in \[features\.text\]; valid: alexnet, "
            r".*extra, .*pooled, .*text, tfidf",
        ),
        (
            'fusion = "early"',
            'fusion = "late"',
            r"spec\.toml: unknown fusion 'late'; valid: early, voting, stacking, hybrid, adaptive",
        ),
        (
            'gamma = ["scale", 0.01]',
            'gamma = ["scale", "wide"]',
            r"spec\.toml: grid key 'classifier\.gamma' = 'wide': .*'gamma' parameter of SVC must "
            r"be",
        ),
        (
            "C = [1.0, 10.0]",
            'C = ["ten"]',
            r"spec\.toml: grid key 'classifier\.C' = 'ten': .*'C' parameter of SVC must be a "
            r"float",
        ),
        (
            "C = [1.0, 10.0]",
            "C = 10.0",
            r"spec\.toml: grid\.classifier\.C = 10\.0 must be a non-empty list",
        ),
        (
            "weight = [0.5, 1.0]",
            "weight = [-1.0]",
            r"spec\.toml: grid key 'features\.text\.weight'.*must be a number >= 0",
        ),
        (
            "[grid.features.text]",
            "[grid.features.video]",
            r"spec\.toml: grid key 'features\.video\.weight': no feature block 'video'; blocks: "
            r"audio, text",
        ),
        (
            "pca = 1\n",
            "pca = 1\nframes = 3\n",
            r"spec\.toml: unknown key 'frames' in \[features\.audio\]; valid keys: type, "
            r"adaptation, block, cache, columns",
        ),
        ("pca = 1\n", "pca = -3\n", r"spec\.toml: \[features\.audio\]: .*pca=-3 must be"),
        ('scoring = "ua"', 'scoring = "fun"', r"spec\.toml: unknown scoring 'fun'"),
    ],
)
def test_spec_errors_are_one_clear_line(tmp_path, old, new, pattern):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError, match=pattern) as info:
        load_spec(path)
    assert "\n" not in str(info.value)


def test_invalid_toml_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_spec(write(tmp_path, "name = \n", "bad.toml"))
    with pytest.raises(ConfigError, match="no such spec file"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"missing \[classifier\]"):
        load_spec(write(tmp_path, 'name = "x"\n[features.a]\ntype = "extra"\ncolumns=["a"]\n'))


def test_fusion_tables_are_checked_per_type():
    base = {"features": {"a": {"type": "extra", "columns": ["a"]}},
            "classifier": {"name": "logreg"}}  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'temperature' in \[fusion\] \(type "
        r"'voting'\); valid keys: type, weights",
    ):
        load_spec({**base, "fusion": {"type": "voting", "temperature": 1.0}})
    with pytest.raises(ConfigError, match="fusion.temperature=0 must be a number > 0"):
        load_spec({**base, "fusion": {"type": "adaptive", "temperature": 0}})
    with pytest.raises(ConfigError, match="only adaptive fusion has a temperature"):
        load_spec({**base, "grid": {"fusion.temperature": [1.0]}})


@pytest.fixture
def two_modalities(monkeypatch):
    """Toy audio/text block types for this test only."""
    from emoclassic.fusion import BLOCK_TYPES, ExtraFeatures, register_block_type

    for name in ("spec_audio", "spec_text"):
        monkeypatch.setitem(BLOCK_TYPES, name, None)  # removed again after the test
    register_block_type("spec_audio", ExtraFeatures, modality="audio", columns=("id", "a"))
    register_block_type("spec_text", ExtraFeatures, modality="text", columns=("id", "t"))


def _two_modality_spec(fusion="early", **extra):
    return load_spec({
        "name": "two",
        "features": {"audio": {"type": "spec_audio", "columns": ["a"], "pca": 1},
                     "text": {"type": "spec_text", "columns": ["t"]}},
        "fusion": fusion,
        "classifier": {"name": "svc"},
        **extra,
    })  # fmt: skip


def test_modalities_and_restrict_for_ablations(two_modalities):
    spec = _two_modality_spec(grid={"classifier.C": [1.0, 2.0], "features.text.weight": [1, 2],
                                    "features.audio.pca": [1]})  # fmt: skip
    assert spec.modalities() == ["audio", "text"]
    audio = spec.restrict("audio")
    assert list(audio.features) == ["audio"]
    assert audio.grid == {"classifier.C": [1.0, 2.0], "features.audio.pca": [1]}
    assert audio.modalities() == ["audio"]
    text = spec.restrict(["text"])
    assert text.grid == {"classifier.C": [1.0, 2.0]}  # a lone block's weight is meaningless
    with pytest.raises(ConfigError, match="no such block or modality"):
        spec.restrict("video")


def test_restricting_a_late_spec_gives_the_branch_its_own_classifier(two_modalities):
    spec = _two_modality_spec(
        {"type": "stacking", "classifiers": {"text": {"name": "logreg", "C": 0.5}}},
        grid={"classifier.C": [1.0], "fusion.classifiers.text.C": [0.1, 1.0]},
    )
    text = spec.restrict("text")
    assert text.fusion.type == "early"
    assert text.classifier == {"name": "logreg", "params": {"C": 0.5}}
    assert text.grid == {"classifier.C": [0.1, 1.0]}
    audio = spec.restrict("audio")
    assert audio.classifier["name"] == "svc" and audio.grid == {"classifier.C": [1.0]}


def test_spec_dicts_are_not_modified_and_sources_are_named():
    d = {"features": {"a": {"type": "extra", "columns": ["a"]}}, "classifier": "logreg"}
    spec = load_spec(d)
    assert d == {"features": {"a": {"type": "extra", "columns": ["a"]}}, "classifier": "logreg"}
    assert spec.classifier == {"name": "logreg", "params": {}}
    with pytest.raises(ConfigError, match=r"^<spec dict>: "):
        load_spec({**d, "fusion": "nope"})


def test_restrict_trims_a_fusion_weights_grid_of_string_early_fusion():
    spec = load_spec({
        "name": "w", "fusion": "early",
        "features": {"a": {"type": "pooled"}, "t": {"type": "tfidf"}, "u": {"type": "tfidf"}},
        "classifier": {"name": "logreg"},
        "grid": {"fusion.weights": [{"a": 1, "t": 0, "u": 0}, {"a": 1, "t": 2, "u": 1},
                                    {"a": 1, "t": 4, "u": 2}, {"a": 2, "t": 2, "u": 1}]},
    })  # fmt: skip
    audio = spec.restrict("audio")
    assert "fusion.weights" not in audio.grid  # a lone block has nothing to weigh
    text = spec.restrict("text")
    # the all-zero candidate goes, the repeat of {"t": 2, "u": 1} goes
    assert text.grid["fusion.weights"] == [{"t": 2, "u": 1}, {"t": 4, "u": 2}]
    one = load_spec({**spec.to_dict(), "grid": {"fusion.weights": [{"a": 1, "t": 0, "u": 0},
                                                                   {"a": 1, "t": 3, "u": 1}]}})
    fixed = one.restrict("text")
    assert "fusion.weights" not in fixed.grid
    assert fixed.fusion_options["weights"] == {"t": 3, "u": 1}


def test_restrict_drops_classifier_grid_when_every_remaining_branch_has_its_own():
    lr = {"name": "logreg", "C": 3.0}
    spec = load_spec({
        "name": "v", "fusion": {"type": "voting", "branches": "block",
                                "classifiers": {"t": lr, "u": lr}},
        "features": {"a": {"type": "pooled"}, "t": {"type": "tfidf"}, "u": {"type": "tfidf"}},
        "classifier": {"name": "svc"},
        "grid": {"classifier.C": [1.0, 10.0],
                 "fusion.weights": [{"a": 1, "t": 0, "u": 0}, {"a": 1, "t": 1, "u": 2}]},
    })  # fmt: skip
    text = spec.restrict("text")
    assert text.fusion.type == "voting" and "classifier.C" not in text.grid
    assert text.fusion_options["weights"] == {"t": 1, "u": 2}
    assert spec.restrict("audio").grid == {"classifier.C": [1.0, 10.0]}
