"""Manifest schema, reading (CSV/TSV/JSONL), column mapping, validation errors and writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emoclassic.data import (
    CANONICAL_EMOTIONS,
    MANIFEST_COLUMNS,
    SPLITS,
    is_canonical,
    read_manifest,
    to_canonical,
    validate_manifest,
    write_manifest,
)
from emoclassic.exceptions import ConfigError, DataError


def _wav(path: Path, seconds: float = 0.1, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    sf.write(path, (0.1 * rng.standard_normal(int(sr * seconds))).astype("float32"), sr)
    return path


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """A manifest folder with three clips under clips/."""
    for name in ("a", "b", "c"):
        _wav(tmp_path / "clips" / f"{name}.wav")
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- schema
def test_schema_constants():
    assert MANIFEST_COLUMNS == (
        "id",
        "path",
        "text",
        "label",
        "label_original",
        "speaker",
        "dialogue_id",
        "utterance_index",
        "split",
        "start",
        "end",
        "corpus",
    )
    assert SPLITS == ("train", "dev", "test")


def test_read_csv_normalises_to_schema(clips: Path):
    manifest = _write(
        clips / "m.csv",
        "path,text,label,speaker,split,note,f0,code\n"
        "clips/a.wav,hello there,anger,s1,train,x,1.5,03\n"
        "clips/b.wav,,joy,s2,validation,y,2,10\n"
        ",only words,Sad,s2,test,z,,11\n",
    )
    df = read_manifest(manifest)
    assert list(df.columns) == [*MANIFEST_COLUMNS, "note", "f0", "code"]
    assert df["id"].tolist() == ["clips/a.wav", "clips/b.wav", "row3"]
    assert df.loc[0, "path"] == str(clips / "clips" / "a.wav")
    assert os.path.isabs(df.loc[1, "path"])
    assert df.loc[2, "path"] is None
    assert pd.isna(df.loc[1, "text"])
    # user labels stay verbatim; label_original copies them
    assert df["label"].tolist() == ["anger", "joy", "Sad"]
    assert df["label_original"].tolist() == ["anger", "joy", "Sad"]
    assert df["split"].tolist() == ["train", "dev", "test"]
    assert df["corpus"].eq("user").all()
    assert str(df["utterance_index"].dtype) == "Int64"
    assert df["start"].dtype == float and df["start"].isna().all()
    assert df["note"].tolist() == ["x", "y", "z"]
    # numeric extra columns (e.g. precomputed features) become numbers; codes stay text
    assert df["f0"].dtype == float and df["f0"].tolist()[:2] == [1.5, 2.0]
    assert df["code"].tolist() == ["03", "10", "11"]


def test_relative_paths_resolve_against_manifest_folder(clips: Path, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    sub = clips / "lists"
    sub.mkdir()
    manifest = _write(sub / "m.csv", "path,label\n../clips/a.wav,anger\n")
    df = read_manifest(manifest)
    assert df.loc[0, "path"] == str(clips / "clips" / "a.wav")
    # ids derived from paths are relative to the manifest folder
    assert df.loc[0, "id"] == "../clips/a.wav"


def test_read_tsv_and_sniffed_txt(clips: Path):
    body = "path\tlabel\ttext\nclips/a.wav\tanger\tI said, no!\nclips/b.wav\tcalm\t\n"
    for name in ("m.tsv", "m.txt"):
        df = read_manifest(_write(clips / name, body))
        assert df["label"].tolist() == ["anger", "calm"]
        assert df.loc[0, "text"] == "I said, no!"


def test_read_jsonl(clips: Path):
    lines = [
        {"id": "u1", "path": "clips/a.wav", "label": "anger", "speaker": 7, "utterance_index": 0},
        {"id": "u2", "text": "fine", "label": "neutral", "speaker": 8, "start": 0.5, "end": 1},
    ]
    text = json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n"
    df = read_manifest(_write(clips / "m.jsonl", text))
    assert df["id"].tolist() == ["u1", "u2"]
    assert df["speaker"].tolist() == ["7", "8"]
    assert df["utterance_index"].tolist()[0] == 0
    assert pd.isna(df["utterance_index"].iloc[1])
    assert df.loc[1, "start"] == 0.5 and df.loc[1, "end"] == 1.0


def test_read_json_array(clips: Path):
    records = [{"path": "clips/a.wav", "label": "x"}, {"text": "hi", "label": "y"}]
    df = read_manifest(_write(clips / "m.json", json.dumps(records, indent=1)))
    assert df["id"].tolist() == ["clips/a.wav", "row2"]


def test_malformed_jsonl_names_line(clips: Path):
    manifest = _write(clips / "m.jsonl", '{"path": "clips/a.wav", "label": "x"}\n{"path": \n')
    with pytest.raises(DataError, match=r"m\.jsonl: line 2 is not valid JSON"):
        read_manifest(manifest)
    manifest = _write(clips / "n.ndjson", '["clips/a.wav", "x"]\n')
    with pytest.raises(DataError, match="line 1 is a JSON list"):
        read_manifest(manifest)


def test_malformed_csv(clips: Path):
    manifest = _write(clips / "m.csv", "path,label\nclips/a.wav,anger\nclips/b.wav,calm,extra\n")
    with pytest.raises(DataError, match=r"m\.csv: cannot parse as CSV.*quoting"):
        read_manifest(manifest)


def test_non_utf8_manifest_is_read_as_cp1252(clips: Path, caplog):
    manifest = clips / "m.csv"
    body = "path,text,label\nclips/a.wav,caf\u00e9 \u2019ok\u2019,anger\n"
    manifest.write_bytes(body.encode("cp1252"))
    df = read_manifest(manifest)
    assert df.loc[0, "text"] == "caf\u00e9 \u2019ok\u2019"
    assert "cp1252" in caplog.text


def test_column_mapping(clips: Path):
    manifest = _write(
        clips / "m.csv",
        "utt,file,transcript,emotion,actor,label\n"
        "x1,clips/a.wav,hi,anger,A,0\n"
        "x2,clips/b.wav,yo,fear,B,1\n",
    )
    df = read_manifest(
        manifest,
        id_column="utt",
        path_column="file",
        text_column="transcript",
        label_column="emotion",
        speaker_column="actor",
    )
    assert df["id"].tolist() == ["x1", "x2"]
    assert df["label"].tolist() == ["anger", "fear"]
    assert df["speaker"].tolist() == ["A", "B"]
    assert df["text"].tolist() == ["hi", "yo"]
    assert df.loc[1, "path"] == str(clips / "clips" / "b.wav")
    # the user's own 'label' column is kept under another name, mapped sources are gone
    assert df["user_label"].tolist() == [0, 1]
    for gone in ("utt", "file", "transcript", "emotion", "actor"):
        assert gone not in df.columns


def test_unknown_mapped_column_lists_available(clips: Path):
    manifest = _write(clips / "m.csv", "path,label\nclips/a.wav,anger\n")
    with pytest.raises(DataError, match=r"no column 'emotion'.*'path', 'label'.*label_column="):
        read_manifest(manifest, label_column="emotion")
    with pytest.raises(DataError, match=r"no column 'session'.*speaker_column="):
        read_manifest(manifest, speaker_column="session")


def test_group_column_is_the_old_name_of_speaker_column(clips: Path):
    manifest = _write(clips / "m.csv", "path,label,actor\nclips/a.wav,anger,A\n")
    with pytest.warns(FutureWarning, match="speaker_column"):
        df = read_manifest(manifest, group_column="actor")
    assert df["speaker"].tolist() == ["A"]
    with pytest.raises(ConfigError, match="give only speaker_column"):
        read_manifest(manifest, group_column="actor", speaker_column="other")


def test_missing_label_column(clips: Path):
    manifest = _write(clips / "m.csv", "path,emotion\nclips/a.wav,anger\n")
    with pytest.raises(DataError, match=r"no 'label' column.*'emotion'.*label_column="):
        read_manifest(manifest)
    df = read_manifest(manifest, require_labels=False)
    assert df["label"].isna().all()


def test_no_path_nor_text_column(clips: Path):
    manifest = _write(clips / "m.csv", "file,label\nclips/a.wav,anger\n")
    with pytest.raises(DataError, match="neither a 'path' .* nor a 'text' column"):
        read_manifest(manifest)


def test_empty_label_names_row_and_column(clips: Path):
    manifest = _write(clips / "m.csv", "path,label\nclips/a.wav,anger\nclips/b.wav,\n")
    with pytest.raises(DataError, match=r"row 2 \(id 'clips/b\.wav'\), column 'label': .*empty"):
        read_manifest(manifest)
    df = read_manifest(manifest, require_labels=False)
    assert df["label"].tolist()[1] is None


def test_missing_file(clips: Path):
    manifest = _write(clips / "m.csv", "id,path,label\nu1,clips/a.wav,x\nu2,clips/nope.wav,y\n")
    with pytest.raises(DataError, match=r"row 2 \(id 'u2'\), column 'path': audio file not found"):
        read_manifest(manifest)
    df = read_manifest(manifest, check_files=False)
    assert df.loc[1, "path"] == str(clips / "clips" / "nope.wav")


def test_duplicate_path_and_segments(clips: Path):
    dup = _write(clips / "d.csv", "path,label\nclips/a.wav,x\nclips/b.wav,y\nclips/a.wav,z\n")
    with pytest.raises(DataError, match=r"row 3 .*column 'path': duplicate path .* row 1"):
        read_manifest(dup)
    segments = _write(
        clips / "s.csv", "path,label,start,end\nclips/a.wav,x,0,0.05\nclips/a.wav,y,0.05,0.1\n"
    )
    df = read_manifest(segments)
    assert df["id"].tolist() == ["clips/a.wav#0-0.05", "clips/a.wav#0.05-0.1"]
    same = _write(
        clips / "t.csv", "id,path,label,start,end\n1,clips/a.wav,x,0,1\n2,clips/a.wav,y,0,1\n"
    )
    with pytest.raises(DataError, match="duplicate path"):
        read_manifest(same)


def test_duplicate_id(clips: Path):
    manifest = _write(clips / "m.csv", "id,path,label\nu1,clips/a.wav,x\nu1,clips/b.wav,y\n")
    with pytest.raises(DataError, match=r"row 2 \(id 'u1'\), column 'id': duplicate id"):
        read_manifest(manifest)


def test_empty_id_value(clips: Path):
    manifest = _write(clips / "m.csv", "id,path,label\n,clips/a.wav,x\n")
    with pytest.raises(DataError, match=r"row 1, column 'id': the id is empty"):
        read_manifest(manifest)


def test_unknown_split(clips: Path):
    body = "path,label,split\nclips/a.wav,x,train\nclips/b.wav,y,holdout\n"
    manifest = _write(clips / "m.csv", body)
    pattern = r"row 2 .*column 'split': unknown split 'holdout'.*train, dev, test"
    with pytest.raises(DataError, match=pattern):
        read_manifest(manifest)


def test_row_without_audio_or_text(clips: Path):
    manifest = _write(clips / "m.csv", "path,text,label\nclips/a.wav,,x\n,,y\n")
    with pytest.raises(DataError, match=r"row 2 \(id 'row2'\).*neither an audio path nor a text"):
        read_manifest(manifest)


def test_start_not_before_end(clips: Path):
    manifest = _write(clips / "m.csv", "path,label,start,end\nclips/a.wav,x,2,1\n")
    with pytest.raises(DataError, match=r"row 1 .*column 'start': start 2 s is not before end 1 s"):
        read_manifest(manifest)
    bad = _write(clips / "n.csv", "path,label,start\nclips/a.wav,x,soon\n")
    with pytest.raises(
        DataError, match=r"row 1 \(id 'clips/a.wav'\), column 'start': value 'soon' is not"
    ):
        read_manifest(bad)


def test_empty_manifests(clips: Path):
    with pytest.raises(DataError, match="has no rows"):
        read_manifest(_write(clips / "h.csv", "path,label\n"))
    with pytest.raises(DataError, match="is empty"):
        read_manifest(_write(clips / "e.csv", ""))
    with pytest.raises(DataError, match="is empty"):
        read_manifest(_write(clips / "e.jsonl", "\n\n"))
    with pytest.raises(DataError, match="has no rows"):
        validate_manifest(pd.DataFrame(columns=["path", "label"]))


def test_missing_manifest_file(tmp_path: Path):
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "missing.csv")


def test_several_problems_are_counted(clips: Path):
    manifest = _write(clips / "m.csv", "path,label\nclips/x.wav,a\nclips/y.wav,\nclips/z.wav,c\n")
    with pytest.raises(DataError, match=r"row 1 .*\(and 3 more problem") as info:
        read_manifest(manifest)
    assert len(info.value.problems) == 4
    assert "\n" not in str(info.value)


def test_validate_manifest_fills_schema(clips: Path):
    df = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"], "extra": [1, 2]})
    out = validate_manifest(df)
    assert list(out.columns) == [*MANIFEST_COLUMNS, "extra"]
    assert out["id"].tolist() == ["row1", "row2"]
    assert out["corpus"].tolist() == ["user", "user"]
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        validate_manifest([{"text": "a"}])  # type: ignore[arg-type]


def test_write_and_read_back(clips: Path):
    original = read_manifest(
        _write(
            clips / "m.csv",
            "id,path,text,label,speaker,utterance_index,split,start,end,mood\n"
            'u1,clips/a.wav,"Well, ""no""\nreally",anger,s1,0,train,0.01,0.09,x\n'
            "u2,,just text,calm,s2,,dev,,,y\n",
        )
    )
    outside = _wav(clips.parent / f"{clips.name}_outside.wav")
    original.loc[1, "path"] = str(outside)
    for name in ("back.csv", "back.jsonl", "back.tsv"):
        target = write_manifest(original, clips / name)
        back = read_manifest(target)
        pd.testing.assert_frame_equal(back, original)
        content = target.read_text(encoding="utf-8")
        assert "clips/a.wav" in content  # inside: relative to the manifest folder
        assert str(clips / "clips" / "a.wav") not in content
        assert str(outside) in content  # outside: absolute
    leftovers = [p.name for p in clips.iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("joy", "happiness"),
        ("Happy", "happiness"),
        ("hap", "happiness"),
        ("ANG", "anger"),
        ("angry", "anger"),
        ("sad", "sadness"),
        ("fearful", "fear"),
        ("fea", "fear"),
        ("dis", "disgust"),
        ("disgusted", "disgust"),
        ("sur", "surprise"),
        ("surprised", "surprise"),
        ("ps", "surprise"),
        ("pleasant_surprise", "surprise"),
        ("Pleasant surprised", "surprise"),
        ("neu", "neutral"),
        ("exc", "excitement"),
        ("fru", "frustration"),
        ("bored", "boredom"),
        ("calm", "calm"),
        ("oth", "other"),
    ],
)
def test_to_canonical(given, expected):
    assert to_canonical(given) == expected
    assert is_canonical(expected)


def test_unknown_label_is_not_other():
    assert to_canonical(" Amused ") == "amused"
    assert not is_canonical("amused")
    assert not is_canonical("Anger")
    assert len(set(CANONICAL_EMOTIONS)) == 13 and CANONICAL_EMOTIONS[-1] == "other"


def test_demo_generator_is_reexported():
    import emoclassic.data as data

    assert "make_demo_corpus" in data.__all__ and callable(data.make_demo_corpus)
    with pytest.raises(AttributeError):
        data.no_such_name  # noqa: B018
