"""New inputs as manifest rows (emoclassic.data._inputs): what `predict`, the Python API and a
server build their input table with."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from emoclassic import prediction
from emoclassic.data import (
    AUDIO_EXTENSIONS,
    collect_audio_files,
    files_to_manifest,
    prediction_inputs,
)
from emoclassic.exceptions import ConfigError, DataError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # the functions here only look at names, never decode
    return path


def test_prediction_module_still_exports_the_moved_names():
    assert prediction.collect_audio_files is collect_audio_files
    assert prediction.files_to_manifest is files_to_manifest
    assert prediction.AUDIO_EXTENSIONS is AUDIO_EXTENSIONS


def test_collect_audio_files_walks_folders_and_keeps_named_files(tmp_path):
    _touch(tmp_path / "d" / "b.flac")
    _touch(tmp_path / "d" / "sub" / "a.WAV")
    _touch(tmp_path / "d" / "notes.txt")
    named = _touch(tmp_path / "c.weird")
    files = collect_audio_files([tmp_path / "d", named])
    assert [f.name for f in files] == ["b.flac", "a.WAV", "c.weird"]


def test_collect_audio_files_errors(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no audio files"):
        collect_audio_files([tmp_path / "empty"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="no such file") as err:
        collect_audio_files(["missing.wav"])
    assert f"working folder {tmp_path}" in str(err.value)


def test_files_to_manifest_rows(tmp_path):
    wav = _touch(tmp_path / "a.wav")
    frame = files_to_manifest([wav], text="hi", speaker="s1")
    (row,) = frame.to_dict("records")
    assert row["id"] == str(wav) and row["path"] == str(wav.resolve())
    assert (row["text"], row["speaker"], row["corpus"]) == ("hi", "s1", "user")
    assert math.isnan(row["start"]) and math.isnan(row["end"])
    assert {"label", "split", "dialogue_id", "utterance_index"} <= set(frame.columns)


def test_prediction_inputs_from_files(tmp_path):
    wav = _touch(tmp_path / "a.wav")
    frame = prediction_inputs(wav, text="hello", speaker="s1")  # one path, not a list
    assert list(frame["text"]) == ["hello"] and list(frame["speaker"]) == ["s1"]
    _touch(tmp_path / "b.wav")
    assert len(prediction_inputs([tmp_path])) == 2
    with pytest.raises(ConfigError, match="one recording but 2 were given"):
        prediction_inputs([tmp_path], text="hello")


def test_prediction_inputs_text_alone():
    frame = prediction_inputs(None, text="hello", speaker="s1")
    assert frame.to_dict("records") == [
        {"id": "text", "path": None, "text": "hello", "speaker": "s1"}
    ]
    with pytest.raises(ConfigError, match="nothing to predict"):
        prediction_inputs([])


def test_prediction_inputs_from_a_manifest():
    table = pd.DataFrame({"id": ["a", "b"], "path": ["a.wav", "b.wav"], "speaker": ["x", "y"]})
    assert prediction_inputs(table) is table
    frame = prediction_inputs(table, speaker="s1")
    assert list(frame["speaker"]) == ["s1", "s1"]
    assert list(table["speaker"]) == ["x", "y"]  # the caller's table is left alone
    with pytest.raises(ConfigError, match="'text' column"):
        prediction_inputs(table, text="hello")
