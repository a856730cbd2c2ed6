"""Several corpora and manifests at once: combining, label maps, the label space, the CLI."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from emoclassic.cli import app
from emoclassic.cli._options import DataArgs
from emoclassic.data import (
    combine_manifests,
    load_inputs,
    parse_classes,
    read_label_map,
    validate_manifest,
)
from emoclassic.exceptions import ConfigError, DataError


def _frame(labels: list[str], *, corpus: str | None = None, prefix: str = "u") -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(len(labels))],
            "text": [f"utterance {i}" for i in range(len(labels))],
            "label": labels,
            "speaker": [f"s{i % 2}" for i in range(len(labels))],
        }
    )
    if corpus is not None:
        df["corpus"] = corpus
    return validate_manifest(df, check_files=False)


# --------------------------------------------------------------------------- the label space
def test_shared_union_and_list():
    a = _frame(["anger", "anger", "sadness", "boredom"], corpus="a")
    b = _frame(["anger", "sadness", "fear"], corpus="b", prefix="v")
    shared, report = combine_manifests([a, b])
    assert sorted(set(shared["label"])) == ["anger", "sadness"] == report.classes
    assert report.mode == "shared" and len(shared) == 5
    assert report.dropped == {"a": {"boredom": 1}, "b": {"fear": 1}}
    assert report.n_dropped == 2
    assert report.inputs == {"a": {"n_input": 4, "n_kept": 3}, "b": {"n_input": 3, "n_kept": 2}}
    assert shared.attrs["emoclassic_combine"]["dropped"] == report.dropped
    assert list(shared["corpus"]) == ["a"] * 3 + ["b"] * 2

    union, report = combine_manifests([a, b], classes="union")
    assert len(union) == 7 and report.n_dropped == 0 and report.dropped == {}
    assert report.classes == ["anger", "boredom", "fear", "sadness"]

    chosen, report = combine_manifests([a, b], classes="fear, anger")
    assert sorted(chosen["label"]) == ["anger", "anger", "anger", "fear"]
    assert report.mode == "list" and report.classes == ["fear", "anger"]
    assert report.dropped == {"a": {"boredom": 1, "sadness": 1}, "b": {"sadness": 1}}


def test_a_log_line_per_corpus_with_drops(caplog):
    a = _frame(["anger", "boredom", "boredom"], corpus="emodb")
    b = _frame(["anger", "sadness"], corpus="emovo", prefix="v")
    with caplog.at_level(logging.WARNING, logger="emoclassic.data"):
        combine_manifests([a, b])
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("emodb: 2 of 3 row(s)") and "boredom 2" in lines[0]
    assert lines[1].startswith("emovo: 1 of 2") and "sadness 1" in lines[1]


def test_parse_classes():
    assert parse_classes(None) == "shared" and parse_classes(" Union ") == "union"
    assert parse_classes("anger,sadness,anger") == ["anger", "sadness"]
    assert parse_classes(["fear"]) == ["fear"]
    with pytest.raises(DataError, match="--classes"):
        parse_classes(" , ")


def test_unlabelled_rows_are_kept_and_do_not_vote():
    labelled = _frame(["anger", "fear"], corpus="a")
    new = validate_manifest(
        pd.DataFrame({"id": ["n1"], "text": ["hello"], "corpus": ["b"]}),
        require_labels=False,
        check_files=False,
    )
    out, report = combine_manifests([labelled, new])
    assert report.classes == ["anger", "fear"] and len(out) == 3


# --------------------------------------------------------------------------- ids and names
def test_ids_held_by_two_inputs_are_prefixed():
    a = _frame(["anger", "sadness"], corpus="a")  # u0, u1
    b = _frame(["anger", "sadness", "anger"], corpus="b")  # u0, u1, u2
    out, report = combine_manifests([a, b])
    assert list(out["id"]) == ["a:u0", "a:u1", "b:u0", "b:u1", "u2"]
    assert out["id"].is_unique and report.prefixed == 4


def test_a_mapping_names_unnamed_inputs():
    mine = _frame(["anger", "sadness"])  # corpus "user": no corpus column
    out, _ = combine_manifests({"mine": mine, "theirs": _frame(["anger"], corpus="x", prefix="v")})
    assert list(out["corpus"]) == ["mine", "x"]


def test_duplicate_corpus_names_are_an_error():
    a = _frame(["anger"], corpus="emodb")
    b = _frame(["anger"], corpus="emodb", prefix="v")
    with pytest.raises(DataError, match="corpus name 'emodb' given twice; give each corpus once"):
        combine_manifests([a, b])


# --------------------------------------------------------------------------- label maps
def test_label_map_inline_file_and_json(tmp_path: Path):
    assert read_label_map("angry=anger, sad = sadness") == {"angry": "anger", "sad": "sadness"}
    csv_file = tmp_path / "map.csv"
    csv_file.write_text("original,canonical\nangry,anger\nJoy,Happiness\n")
    assert read_label_map(csv_file) == {"angry": "anger", "Joy": "happiness"}
    bare = tmp_path / "bare.csv"
    bare.write_text("angry,anger\n")
    assert read_label_map(str(bare)) == {"angry": "anger"}
    js = tmp_path / "map.json"
    js.write_text(json.dumps({"furious": "anger", "down": "sadness"}))
    assert read_label_map(js) == {"furious": "anger", "down": "sadness"}
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([{"original": "mad", "canonical": "anger"}, ["blue", "sadness"]]))
    assert read_label_map(pairs) == {"mad": "anger", "blue": "sadness"}
    assert read_label_map({"x": "fear"}) == {"x": "fear"} and read_label_map(None) == {}


def test_label_map_applies_case_insensitively():
    mine = _frame(["Angry", "sad", "whatever"], corpus="mine")
    theirs = _frame(["anger", "sadness"], corpus="emodb", prefix="v")
    out, report = combine_manifests([mine, theirs], label_map={"angry": "anger", "sad": "sadness"})
    assert sorted(out["label"]) == ["anger", "anger", "sadness", "sadness"]
    assert out.loc[out["corpus"] == "mine", "label_original"].tolist() == ["Angry", "sad"]
    assert report.dropped == {"mine": {"whatever": 1}}
    assert report.label_map == {"angry": "anger", "sad": "sadness"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("angry=furious", "'furious', which is not a canonical emotion; fix the entry"),
        ("angry=anger,sad", "'sad' is not ORIGINAL=CANONICAL"),
        ("angry=anger,angry=fear", "'angry' is mapped twice"),
        ("no-such-file.csv", "no such file, and not ORIGINAL=CANONICAL"),
    ],
)
def test_label_map_errors(value: str, message: str):
    with pytest.raises(DataError, match=message) as info:
        read_label_map(value)
    assert "\n" not in str(info.value) and str(info.value).startswith("--label-map")


def test_label_map_file_errors(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("angry,anger\nlonely\n")
    with pytest.raises(DataError, match="line 2"):
        read_label_map(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{oops")
    with pytest.raises(DataError, match="not valid JSON"):
        read_label_map(bad_json)


# --------------------------------------------------------------------------- class errors
def test_unknown_class_and_empty_intersection():
    a = _frame(["anger", "sadness"], corpus="a")
    b = _frame(["angry", "sad"], corpus="b", prefix="v")
    with pytest.raises(DataError, match="--classes: unknown class 'joy'.*fix the list"):
        combine_manifests([a, b], classes="anger,joy")
    with pytest.raises(DataError, match="share no class") as info:
        combine_manifests([a, b])
    assert "--label-map (e.g. angry=anger,sad=sadness)" in str(info.value)
    out, _ = combine_manifests([a, b], label_map="angry=anger,sad=sadness")
    assert len(out) == 4


# --------------------------------------------------------------------------- loading files
def test_load_inputs_names_manifests_by_file_stem(tmp_path: Path):
    (tmp_path / "clips_a.csv").write_text("id,text,label\na1,hi,anger\na2,ho,fear\n")
    (tmp_path / "b.csv").write_text("id,text,label,corpus\na1,hu,anger,studio\n")
    out, report = load_inputs([tmp_path / "clips_a.csv", tmp_path / "b.csv"])
    assert list(out["corpus"]) == ["clips_a", "studio"]
    assert list(out["id"]) == ["clips_a:a1", "studio:a1"]
    assert report.dropped == {"clips_a": {"fear": 1}}
    with pytest.raises(DataError, match="no data given"):
        load_inputs()


def test_data_args_accepts_one_path_or_lists(tmp_path: Path):
    one = tmp_path / "m.csv"
    one.write_text("id,text,label\na,hi,anger\nb,ho,fear\n")
    assert DataArgs(manifest=one).manifests == (one,)
    assert DataArgs(manifest=one).single_manifest == one
    assert DataArgs(manifest=[one], classes="union").single_manifest is None
    assert DataArgs(corpus="emodb:x").corpora == ("emodb:x",) and not DataArgs().given
    frame = DataArgs(manifest=[one]).load()
    assert list(frame["corpus"]) == ["m", "m"]
    with pytest.raises(ConfigError, match="--label-column emotion applies to manifest files"):
        DataArgs(corpus=["emodb:x"], label_column="emotion").load()


# --------------------------------------------------------------------------- the CLI
_EMOVO_CODE = {"anger": "rab", "sadness": "tri", "neutral": "neu", "happiness": "gio"}
_SENTENCES = ("b1", "b2", "b3", "l1", "l2", "l3", "l4", "n1", "n2", "n3", "n4", "n5", "d1", "d2")
_SPELLING = {"anger": "angry", "sadness": "sad", "happiness": "happy", "neutral": "neutral"}


@pytest.fixture(scope="module")
def inputs(demo_corpus, tmp_path_factory) -> dict[str, Path]:
    """Three inputs cut from the demo corpus: a manifest with the user's own spellings (one
    speaker, four classes), a manifest without happiness (another speaker), and an EMOVO-style
    corpus folder (a third speaker's clips under EMOVO names)."""
    _, demo = demo_corpus
    root = tmp_path_factory.mktemp("multi")
    speakers = sorted(demo["speaker"].unique())
    columns = ["id", "path", "text", "label", "speaker"]
    mine = demo[demo["speaker"] == speakers[0]][columns].copy()
    mine["label"] = mine["label"].map(_SPELLING)
    mine.to_csv(root / "mine.csv", index=False)
    other = demo[(demo["speaker"] == speakers[1]) & (demo["label"] != "happiness")][columns]
    other.to_csv(root / "other.csv", index=False)
    emovo = root / "emovo"
    third = demo[demo["speaker"] == speakers[2]]
    for label, group in third.groupby("label"):
        for sentence, path in zip(_SENTENCES, group["path"], strict=False):
            target = emovo / "f1" / f"{_EMOVO_CODE[label]}-f1-{sentence}.wav"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return {
        "mine": root / "mine.csv",
        "other": root / "other.csv",
        "emovo": emovo,
        "out": root,
        "n_per_class": int(third.groupby("label").size().min()),
    }


def _run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


_SPEC = """
name = "tiny_pooled"
[features.audio]
type = "pooled"
[classifier]
name = "logreg"
[cv]
scheme = "group"
n_splits = 2
"""


def test_cli_cv_on_two_manifests_and_a_corpus(inputs):
    spec = inputs["out"] / "tiny.toml"
    spec.write_text(_SPEC)
    out = inputs["out"] / "cv"
    result = _run(
        "cv", "--pipeline", spec, "--manifest", inputs["mine"], "--manifest", inputs["other"],
        "--corpus", f"emovo:{inputs['emovo']}", "--label-map", "angry=anger,sad=sadness",
        "--classes", "shared", "--groups", "corpus", "--out", out, "--cache",
        inputs["out"] / "cache", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads((out / "cv_report.json").read_text())["data"]
    n = inputs["n_per_class"]
    shared = ["anger", "neutral", "sadness"]  # "happy" is not mapped, and other lacks happiness
    assert data["label_space"] == {"mode": "shared", "classes": shared}
    assert data["dropped"] == {"mine": {"happy": n}, "emovo": {"happiness": n}}
    assert data["classes"] == {label: 3 * n for label in shared}
    assert data["groups"] == {"emovo": 3 * n, "mine": 3 * n, "other": 3 * n}

    model = inputs["out"] / "model.joblib"  # the model card keeps how the inputs were combined
    result = _run(
        "fit", "--pipeline", spec, "--manifest", inputs["mine"], "--manifest", inputs["other"],
        "--corpus", f"emovo:{inputs['emovo']}", "--label-map", "angry=anger,sad=sadness",
        "--out", model, "--cache", inputs["out"] / "cache", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    combined = json.loads(model.with_suffix(".json").read_text())["training_data"]["combined"]
    assert combined["label_space"] == {"mode": "shared", "classes": shared}
    assert combined["dropped"] == data["dropped"]
    assert combined["label_map"] == {"angry": "anger", "sad": "sadness"}

    label_map = inputs["out"] / "map.json"  # the same map from a file; features from the cache
    label_map.write_text('{"angry": "anger", "sad": "sadness"}')
    result = _run(
        "features", "--manifest", inputs["mine"], "--manifest", inputs["other"],
        "--corpus", f"emovo:{inputs['emovo']}", "--label-map", label_map,
        "--out", inputs["out"] / "f.npz", "--cache", inputs["out"] / "cache", "-q",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["n_items"] == 9 * n  # the features of the rows kept


def test_cli_errors_are_one_line(inputs):
    result = _run("features", "--manifest", inputs["mine"], "--manifest", inputs["mine"],
                  "--out", inputs["out"] / "x.npz", "-q")  # fmt: skip
    assert result.exit_code != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "corpus name 'mine' given twice" in lines[0]
    result = _run("features", "--manifest", inputs["mine"], "--classes", "neutral,joy",
                  "--out", inputs["out"] / "x.npz", "-q")  # fmt: skip
    assert result.exit_code != 0 and "unknown class 'joy'" in result.stderr
