"""Corpus readers on miniature fake trees that use each corpus's real file names."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emoclassic.data import (
    CORPORA,
    MANIFEST_COLUMNS,
    is_canonical,
    load_corpus,
    load_manifest_or_corpus,
    read_corpus,
    read_cremad,
    read_emodb,
    read_emovo,
    read_iemocap,
    read_meld,
    read_ravdess,
    read_savee,
    read_tess,
    repair_mojibake,
)
from emoclassic.exceptions import ConfigError, DataError

_NOISE = (0.05 * np.random.default_rng(0).standard_normal(1600)).astype("float32")


def _wav(path: Path) -> Path:
    """0.1 s of noise at 16 kHz (format from the suffix: .wav or .flac)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _NOISE, 16000)
    return path


def _touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _check_schema(df: pd.DataFrame, corpus: str) -> None:
    assert list(df.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert df["corpus"].eq(corpus).all()
    assert df["id"].is_unique
    assert all(is_canonical(label) for label in df["label"])
    paths = df["path"].dropna()
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in paths)


def _by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("id")


# --------------------------------------------------------------------------- RAVDESS
@pytest.fixture
def ravdess(tmp_path: Path) -> Path:
    root = tmp_path / "ravdess"
    _wav(root / "Actor_01" / "03-01-05-02-01-01-01.wav")  # speech, angry, strong, "Kids"
    _wav(root / "Actor_01" / "03-01-01-01-02-02-01.wav")  # speech, neutral, "Dogs"
    _wav(root / "Actor_02" / "03-02-03-01-01-01-02.flac")  # song, happy
    _wav(root / "Actor_02" / "03-01-08-02-02-01-02.wav")  # speech, surprised
    _wav(root / "Actor_02" / "01-01-05-01-01-01-02.wav")  # modality 01: not audio-only
    _touch(root / "Actor_02" / "01-01-05-01-01-01-02.mp4")  # a video
    _wav(root / "Actor_02" / "take2.wav")  # malformed name
    _touch(root / "README.md", "not audio, ignored")
    return root


def test_ravdess(ravdess: Path, caplog):
    with caplog.at_level(logging.WARNING):
        df = read_ravdess(ravdess)
    _check_schema(df, "ravdess")
    assert len(df) == 4
    rows = _by_id(df)
    angry = rows.loc["03-01-05-02-01-01-01"]
    assert angry["label"] == "anger" and angry["label_original"] == "05"
    assert angry["speaker"] == "01" and angry["text"] == "Kids are talking by the door"
    assert angry["intensity"] == "strong" and angry["vocal_channel"] == "speech"
    assert rows.loc["03-01-01-01-02-02-01", "text"] == "Dogs are sitting by the door"
    assert rows.loc["03-02-03-01-01-01-02", "vocal_channel"] == "song"
    assert rows.loc["03-02-03-01-01-01-02", "label"] == "happiness"
    assert rows.loc["03-01-08-02-02-01-02", "label"] == "surprise"
    assert set(df["speaker"]) == {"01", "02"}
    assert "take2.wav" in caplog.text
    assert "01-01-05-01-01-01-02.mp4" in caplog.text and "video" in caplog.text
    assert "modality 01" in caplog.text


def test_ravdess_without_song(ravdess: Path):
    df = read_ravdess(ravdess, include_song=False)
    assert len(df) == 3 and df["vocal_channel"].eq("speech").all()


# --------------------------------------------------------------------------- CREMA-D
@pytest.fixture
def cremad(tmp_path: Path) -> Path:
    root = tmp_path / "CREMA-D"
    audio = root / "AudioWAV"
    _wav(audio / "1001_DFA_ANG_XX.wav")
    _wav(audio / "1001_IEO_HAP_HI.wav")
    _wav(audio / "1091_WSI_SAD_LO.wav")
    _wav(audio / "1091_ITH_FEA_MD.wav")
    _wav(audio / "1091_ITH_XYZ_MD.wav")  # unknown emotion code
    _wav(audio / "1001-DFA-ANG-XX.wav")  # malformed
    _wav(root / "AudioMP3_as_wav" / "1001_DFA_DIS_XX.wav")  # outside AudioWAV: not read
    return root


def test_cremad(cremad: Path, caplog):
    with caplog.at_level(logging.WARNING):
        df = read_cremad(cremad)
    _check_schema(df, "cremad")
    assert len(df) == 4
    rows = _by_id(df)
    assert rows.loc["1001_DFA_ANG_XX", "text"] == "Don't forget a jacket"
    assert rows.loc["1001_DFA_ANG_XX", "label"] == "anger"
    assert rows.loc["1001_DFA_ANG_XX", "label_original"] == "ANG"
    assert rows.loc["1001_IEO_HAP_HI", "text"] == "It's eleven o'clock"
    assert rows.loc["1001_IEO_HAP_HI", "intensity"] == "high"
    assert rows.loc["1091_WSI_SAD_LO", "text"] == "We'll stop in a couple of minutes"
    assert rows.loc["1091_ITH_FEA_MD", "text"] == "I think I have a doctor's appointment"
    assert rows.loc["1091_ITH_FEA_MD", "label"] == "fear"
    assert set(df["speaker"]) == {"1001", "1091"}
    assert "1001-DFA-ANG-XX.wav" in caplog.text and "1091_ITH_XYZ_MD.wav" in caplog.text
    # the AudioWAV folder itself works too
    assert read_cremad(cremad / "AudioWAV")["id"].tolist() == df["id"].tolist()


# --------------------------------------------------------------------------- TESS
@pytest.fixture
def tess(tmp_path: Path) -> Path:
    root = tmp_path / "TESS Toronto emotional speech set data"
    _wav(root / "OAF_angry" / "OAF_back_angry.wav")
    _wav(root / "OAF_Pleasant_surprise" / "OAF_bar_ps.wav")
    _wav(root / "YAF_pleasant_surprised" / "YAF_base_ps.wav")
    _wav(root / "YAF_happy" / "YAF_dog_happy.wav")
    _wav(root / "YAF_neutral" / "YAF_dog_neutral.wav")
    _wav(root / "YAF_Fear" / "YAF_dog_fear.wav")
    _wav(root / "YAF_sad" / "YAF_dog_sad.wav")
    _wav(root / "OAF_disgust" / "OAF_dog_disgust.wav")
    _wav(root / "OAF_disgust" / "dog.wav")  # malformed
    return root


def test_tess(tess: Path, caplog):
    with caplog.at_level(logging.WARNING):
        df = read_tess(tess)
    _check_schema(df, "tess")
    assert len(df) == 8
    rows = _by_id(df)
    assert rows.loc["OAF_back_angry", "label"] == "anger"
    assert rows.loc["OAF_back_angry", "label_original"] == "angry"
    assert rows.loc["OAF_back_angry", "text"] == "Say the word back"
    assert rows.loc["OAF_back_angry", "speaker"] == "OAF"
    assert rows.loc["OAF_bar_ps", "label"] == "surprise"
    assert rows.loc["YAF_base_ps", "speaker"] == "YAF"
    assert rows.loc["YAF_dog_happy", "label"] == "happiness"
    assert rows.loc["YAF_dog_sad", "label"] == "sadness"
    assert rows.loc["YAF_dog_fear", "word"] == "dog"
    assert sorted(df["label"].unique()) == sorted(
        ["anger", "surprise", "happiness", "neutral", "fear", "sadness", "disgust"]
    )
    assert "dog.wav" in caplog.text


# --------------------------------------------------------------------------- EmoDB
@pytest.fixture
def emodb(tmp_path: Path) -> Path:
    root = tmp_path / "emodb"
    _wav(root / "wav" / "03a01Fa.wav")
    _wav(root / "wav" / "03a01Wa.wav")
    _wav(root / "wav" / "16b10Tb.flac")
    _wav(root / "wav" / "08b03Lc.wav")
    _wav(root / "wav" / "10a05Ab.wav")
    _wav(root / "wav" / "14a04Ed.wav")
    _wav(root / "wav" / "09a07Na.wav")
    _wav(root / "wav" / "03a01Xa.wav")  # unknown emotion letter
    _touch(root / "lablaut" / "03a01Fa.lab", "labels, not audio")
    return root


def test_emodb(emodb: Path, caplog):
    with caplog.at_level(logging.WARNING):
        df = read_emodb(emodb)
    _check_schema(df, "emodb")
    assert len(df) == 7
    rows = _by_id(df)
    assert rows.loc["03a01Fa", "label"] == "happiness"
    assert rows.loc["03a01Fa", "label_original"] == "F"
    assert rows.loc["03a01Fa", "speaker"] == "03"
    assert rows.loc["03a01Fa", "text"] == "Der Lappen liegt auf dem Eisschrank."
    assert rows.loc["03a01Wa", "label"] == "anger"
    assert rows.loc["16b10Tb", "label"] == "sadness"
    assert rows.loc["16b10Tb", "text"] == "Die wird auf dem Platz sein, wo wir sie immer hinlegen."
    assert rows.loc["16b10Tb", "path"].endswith(".flac")
    assert rows.loc["08b03Lc", "label"] == "boredom"
    assert rows.loc["10a05Ab", "label"] == "fear"
    assert rows.loc["14a04Ed", "label"] == "disgust"
    assert rows.loc["14a04Ed", "text"] == "Heute abend könnte ich es ihm sagen."
    assert rows.loc["09a07Na", "label"] == "neutral"
    assert "03a01Xa.wav" in caplog.text


def test_emodb_flat_and_audio_layouts(tmp_path: Path):
    _wav(tmp_path / "flat" / "03a01Fa.flac")
    _wav(tmp_path / "dev" / "audio" / "03a02Wb.flac")
    assert read_emodb(tmp_path / "flat")["id"].tolist() == ["03a01Fa"]
    assert read_emodb(tmp_path / "dev")["label"].tolist() == ["anger"]


def test_duplicate_copy_is_skipped(tmp_path: Path, caplog):
    _wav(tmp_path / "emodb" / "wav" / "03a01Fa.wav")
    _wav(tmp_path / "emodb" / "copy" / "wav" / "03a01Fa.wav")
    with caplog.at_level(logging.WARNING):
        df = read_emodb(tmp_path / "emodb")
    assert len(df) == 1 and "copied twice" in caplog.text


# --------------------------------------------------------------------------- SAVEE
def test_savee_flat(tmp_path: Path, caplog):
    root = tmp_path / "savee"
    for name in ("DC_a01", "DC_sa02", "JE_su03", "JK_n30", "KL_h15", "KL_d01", "KL_f02"):
        _wav(root / f"{name}.wav")
    _wav(root / "DC_x01.wav")  # malformed
    with caplog.at_level(logging.WARNING):
        df = read_savee(root)
    _check_schema(df, "savee")
    assert len(df) == 7
    rows = _by_id(df)
    assert rows.loc["DC_a01", "label"] == "anger" and rows.loc["DC_a01", "speaker"] == "DC"
    assert rows.loc["DC_sa02", "label"] == "sadness"
    assert rows.loc["DC_sa02", "label_original"] == "sa"
    assert rows.loc["JE_su03", "label"] == "surprise"
    assert rows.loc["JK_n30", "label"] == "neutral"
    assert rows.loc["KL_h15", "label"] == "happiness"
    assert rows.loc["KL_d01", "label"] == "disgust"
    assert rows.loc["KL_f02", "label"] == "fear"
    assert df["text"].isna().all()
    assert "DC_x01.wav" in caplog.text


def test_savee_audiodata_layout(tmp_path: Path):
    root = tmp_path / "SAVEE"
    _wav(root / "AudioData" / "DC" / "a01.wav")
    _wav(root / "AudioData" / "JK" / "a01.wav")
    _wav(root / "AudioData" / "JK" / "su05.wav")
    df = read_savee(root)
    assert sorted(df["id"]) == ["DC_a01", "JK_a01", "JK_su05"]
    assert _by_id(df).loc["JK_su05", "speaker"] == "JK"


# --------------------------------------------------------------------------- EMOVO
_EMOVO_SHARED = Path("/work/shared/data/emovo")


def test_emovo(tmp_path: Path, caplog):
    root = tmp_path / "emovo"
    _wav(root / "audio" / "f1" / "rab-f1-b1.flac")  # the shared copy's layout
    _wav(root / "audio" / "f1" / "gio-f1-n3.flac")
    _wav(root / "audio" / "m3" / "pau-m3-d2.wav")
    _wav(root / "audio" / "m3" / "TRI-m3-l4.wav")  # codes read case-insensitively
    _wav(root / "audio" / "m3" / "xyz-m3-b1.wav")  # unknown emotion code
    _wav(root / "audio" / "m3" / "notes.wav")  # malformed name
    with caplog.at_level(logging.WARNING):
        df = read_emovo(root)
    _check_schema(df, "emovo")
    assert sorted(df["id"]) == ["gio-f1-n3", "pau-m3-d2", "rab-f1-b1", "tri-m3-l4"]
    rows = _by_id(df)
    assert rows.loc["rab-f1-b1", "label"] == "anger"
    assert rows.loc["rab-f1-b1", "label_original"] == "rab"
    assert rows.loc["rab-f1-b1", "text"] == "Gli operai si alzano presto."
    assert rows.loc["gio-f1-n3", "label"] == "happiness"
    assert rows.loc[
        "pau-m3-d2", ["label", "speaker", "gender", "text_id", "sentence_type"]
    ].tolist() == ["fear", "m3", "male", "d2", "question"]
    assert rows.loc["tri-m3-l4", "label"] == "sadness"
    assert rows.loc["gio-f1-n3", "gender"] == "female"
    assert rows.loc["pau-m3-d2", "path"].endswith(".wav")
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2 and any("xyz" in m for m in skipped)


def test_emovo_original_layout_and_all_codes(tmp_path: Path):
    from emoclassic.data._acted import EMOVO_EMOTIONS

    root = tmp_path / "EMOVO"  # the original release: speaker folders, no audio/ level
    for code in EMOVO_EMOTIONS:
        _wav(root / "f2" / f"{code}-f2-b2.wav")
    df = load_corpus(f"emovo:{root}")
    assert dict(zip(df["label_original"], df["label"], strict=True)) == {
        "dis": "disgust",
        "gio": "happiness",
        "neu": "neutral",
        "pau": "fear",
        "rab": "anger",
        "sor": "surprise",
        "tri": "sadness",
    }
    assert set(df["speaker"]) == {"f2"}


@pytest.mark.skipif(not _EMOVO_SHARED.is_dir(), reason="the shared EMOVO copy is absent")
def test_emovo_shared_copy_counts():
    df = read_emovo(_EMOVO_SHARED)  # names only: no audio is decoded
    assert len(df) == 588  # 6 actors x 7 emotions x 14 sentences (its README)
    assert df["label"].value_counts().eq(84).all() and df["label"].nunique() == 7
    assert df["speaker"].value_counts().eq(98).all() and df["speaker"].nunique() == 6
    assert df["text"].notna().all()


# --------------------------------------------------------------------------- IEMOCAP
_EVAL_1 = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]
C-E1:\tExcited;\t()

[8.9000 - 9.9000]\tSes01F_impro01_M000\tfru\t[2.0000, 3.0000, 3.0000]

[12.0 - 13.5]\tSes01F_impro01_F001\txxx\t[2.0000, 2.0000, 2.0000]

[14.0 - 15.5]\tSes01F_impro01_F002\tang\t[1.5000, 4.0000, 4.0000]
"""
_TRANSCRIPT_1 = """Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.
Ses01F_impro01_M000 [008.9000-009.9000]: Do you have your forms?
Ses01F_impro01_M001 [010.0100-011.3925]: Yeah!
Ses01F_impro01_F002 [014.0000-015.5000]: This is ridiculous.
"""
_EVAL_2 = """[1.0 - 2.0]\tSes02M_script01_1_M000\thap\t[4.0, 3.0, 3.0]
[2.5 - 3.0]\tSes02M_script01_1_F000\tsad\t[1.0, 2.0, 2.0]
"""


@pytest.fixture
def iemocap(tmp_path: Path) -> Path:
    release = tmp_path / "IEMOCAP_full_release"
    s1 = release / "Session1"
    _touch(s1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt", _EVAL_1)
    _touch(s1 / "dialog" / "EmoEvaluation" / "Categorical" / "Ses01F_impro01_e1_cat.txt", "x")
    _touch(s1 / "dialog" / "transcriptions" / "Ses01F_impro01.txt", _TRANSCRIPT_1)
    for utt in ("F000", "M000", "M001"):  # F002 has a transcript but no wav
        _wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / f"Ses01F_impro01_{utt}.wav")
    s2 = release / "Session2"
    _touch(s2 / "dialog" / "EmoEvaluation" / "Ses02M_script01_1.txt", _EVAL_2)
    _wav(s2 / "dialog" / "wav" / "Ses02M_script01_1.wav")  # only the whole dialogue
    _touch(s2 / "dialog" / "EmoEvaluation" / "broken.txt", "no turns here\n")
    return tmp_path


def test_iemocap_four_classes(iemocap: Path, caplog):
    with caplog.at_level(logging.WARNING):
        df = read_iemocap(iemocap)
    _check_schema(df, "iemocap")
    rows = _by_id(df)
    assert sorted(df["id"]) == sorted(
        [
            "Ses01F_impro01_F000",
            "Ses01F_impro01_M001",
            "Ses01F_impro01_F002",
            "Ses02M_script01_1_M000",
            "Ses02M_script01_1_F000",
        ]
    )
    first = rows.loc["Ses01F_impro01_F000"]
    assert first["label"] == "neutral" and first["label_original"] == "neu"
    assert first["text"] == "Excuse me."
    assert first["speaker"] == "Ses01_F" and first["session"] == "Ses01"
    assert first["dialogue_id"] == "Ses01F_impro01"
    assert first["path"].endswith("sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav")
    assert np.isnan(first["start"])
    excited = rows.loc["Ses01F_impro01_M001"]
    assert excited["label"] == "happiness" and excited["label_original"] == "exc"
    assert excited["speaker"] == "Ses01_M"
    # order by start time within the dialogue, counting every turn of it
    assert rows.loc["Ses01F_impro01_F000", "utterance_index"] == 0
    assert rows.loc["Ses01F_impro01_M001", "utterance_index"] == 2
    assert rows.loc["Ses01F_impro01_F002", "utterance_index"] == 4
    text_only = rows.loc["Ses01F_impro01_F002"]
    assert text_only["path"] is None and text_only["text"] == "This is ridiculous."
    # no sentence wav: a segment of the dialogue wav
    segment = rows.loc["Ses02M_script01_1_F000"]
    assert segment["path"].endswith("dialog/wav/Ses02M_script01_1.wav")
    assert (segment["start"], segment["end"]) == (2.5, 3.0)
    assert segment["speaker"] == "Ses02_F" and segment["dialogue_id"] == "Ses02M_script01_1"
    assert rows.loc["Ses02M_script01_1_M000", "valence"] == 4.0
    assert "broken.txt" in caplog.text


def test_iemocap_six_classes_and_release_root(iemocap: Path):
    df = read_iemocap(iemocap / "IEMOCAP_full_release", classes=6)
    labels = dict(zip(df["id"], df["label"], strict=True))
    assert labels["Ses01F_impro01_M001"] == "excitement"
    assert labels["Ses01F_impro01_M000"] == "frustration"
    assert labels["Ses02M_script01_1_M000"] == "happiness"
    assert "Ses01F_impro01_F001" not in labels  # xxx is dropped
    with pytest.raises(ConfigError, match="use 4 or 6"):
        read_iemocap(iemocap, classes=5)


def test_iemocap_without_sessions(tmp_path: Path):
    _touch(tmp_path / "IEMOCAP" / "notes.txt", "x")
    with pytest.raises(DataError, match=r"iemocap: no file in .*IEMOCAP_full_release/Session1"):
        read_iemocap(tmp_path / "IEMOCAP")


# --------------------------------------------------------------------------- MELD
_MELD_HEADER = (
    "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
    "StartTime,EndTime\n"
)


def _meld_csv(path: Path, rows: list[str], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((_MELD_HEADER + "".join(r + "\n" for r in rows)).encode(encoding))


@pytest.fixture
def meld(tmp_path: Path) -> Path:
    root = tmp_path / "MELD.Raw"
    # the old release: cp1252 punctuation bytes (\x92 apostrophe, \x85 ellipsis, \x97 dash)
    _meld_csv(
        root / "train_sent_emo.csv",
        [
            '1,"You must\x92ve had your hands full\x85",The Interviewer,neutral,neutral,0,0,8,21,'
            '"00:16:21,940","00:16:23,442"',
            '2,"Oh my God\x97no!",Joey,joy,positive,0,1,8,21,"00:16:24,000","00:16:25,000"',
            '3,What?,Ross,surprise,negative,1,0,8,21,"00:16:26,000","00:16:27,000"',
        ],
        encoding="latin-1",  # writes \x92 etc. as the single cp1252 bytes
    )
    # UTF-8 read as cp1252 (â€™) and as Latin-1 (â\x80\x99) mojibake, C1 characters in UTF-8
    _meld_csv(
        root / "dev_sent_emo.csv",
        [
            '1,"It\u00e2\u20ac\u2122s fine.",Monica,anger,negative,0,0,4,7,"00:20:57,256",'
            '"00:21:00,049"',
            '2,"Don\u00e2\x80\x99t.",Rachel,sadness,negative,0,1,4,7,"00:21:01,927","00:21:03,261"',
            '3,"Wait\x85 what",Rachel,sadness,negative,0,2,4,7,"00:21:04,000","00:21:05,000"',
        ],
    )
    _meld_csv(
        root / "test_sent_emo.csv",
        [
            '1,"Caf\u00e9 \u2018ok\u2019",Mark,disgust,negative,0,0,3,19,"00:14:38,127",'
            '"00:14:40,378"',
            '2,Hm.,Rachel,fear,negative,0,1,3,19,"00:14:40,629","00:14:47,385"',
        ],
    )
    return root


def test_meld_text_only(meld: Path):
    df = read_meld(meld)
    _check_schema(df, "meld")
    assert len(df) == 8
    assert df["path"].isna().all()
    rows = _by_id(df)
    first = rows.loc["train_dia0_utt0"]
    assert first["text"] == "You must've had your hands full..."
    assert first["speaker"] == "The Interviewer"
    assert first["split"] == "train" and first["dialogue_id"] == "train_0"
    assert first["utterance_index"] == 0 and first["sentiment"] == "neutral"
    assert rows.loc["train_dia0_utt1", "text"] == "Oh my God--no!"
    assert rows.loc["train_dia0_utt1", "label"] == "happiness"
    assert rows.loc["train_dia0_utt1", "label_original"] == "joy"
    assert rows.loc["dev_dia0_utt0", "text"] == "It's fine."
    assert rows.loc["dev_dia0_utt1", "text"] == "Don't."
    assert rows.loc["dev_dia0_utt2", "text"] == "Wait... what"
    assert rows.loc["test_dia0_utt0", "text"] == "Café 'ok'"
    # dialogue ids restart in every split, so they carry the split
    assert set(df["dialogue_id"]) == {"train_0", "train_1", "dev_0", "test_0"}
    assert df["split"].value_counts().to_dict() == {"train": 3, "dev": 3, "test": 2}


def test_meld_audio_clips(meld: Path, tmp_path: Path, caplog):
    audio = tmp_path / "clips"
    _wav(audio / "train_splits" / "dia0_utt0.wav")
    _wav(audio / "dev_splits_complete" / "dia0_utt0.wav")
    _wav(audio / "output_repeated_splits_test" / "dia0_utt1.flac")
    _touch(audio / "output_repeated_splits_test" / "dia0_utt0.mp4")
    _wav(audio / "dia0_utt1.wav")  # no split folder and dia0_utt1 is in every split
    with caplog.at_level(logging.WARNING):
        df = read_meld(meld, audio_dir=audio)
    paths = dict(zip(df["id"], df["path"], strict=True))
    assert paths["train_dia0_utt0"] == str(audio / "train_splits" / "dia0_utt0.wav")
    assert paths["dev_dia0_utt0"] == str(audio / "dev_splits_complete" / "dia0_utt0.wav")
    assert paths["test_dia0_utt1"].endswith("output_repeated_splits_test/dia0_utt1.flac")
    assert paths["test_dia0_utt0"] is None and paths["train_dia1_utt0"] is None
    assert paths["train_dia0_utt1"] is None  # ambiguous clip not used
    assert "several splits" in caplog.text


def test_meld_finds_clips_under_root(meld: Path):
    _wav(meld / "train_splits" / "dia1_utt0.wav")
    df = read_meld(meld)
    paths = dict(zip(df["id"], df["path"], strict=True))
    assert paths["train_dia1_utt0"] == str(meld / "train_splits" / "dia1_utt0.wav")
    assert df["path"].notna().sum() == 1


def test_meld_audio_dir_without_matches(meld: Path, tmp_path: Path):
    _touch(tmp_path / "empty_clips" / "dia0_utt0.mp4")
    with pytest.raises(DataError, match="no clip in .*empty_clips"):
        read_meld(meld, audio_dir=tmp_path / "empty_clips")


def test_meld_missing_column(tmp_path: Path):
    path = tmp_path / "meld" / "train_sent_emo.csv"
    path.parent.mkdir()
    path.write_text("Sr No.,Utterance,Speaker,Sentiment,Dialogue_ID,Utterance_ID\n1,Hi,A,x,0,0\n")
    with pytest.raises(DataError, match=r"train_sent_emo\.csv has no column 'Emotion'"):
        read_meld(tmp_path / "meld")


def test_meld_without_csv(tmp_path: Path):
    (tmp_path / "meld").mkdir()
    with pytest.raises(DataError, match="no train_sent_emo.csv"):
        read_meld(tmp_path / "meld")


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [
        ("must\x92ve", "must've"),
        ("wait\x85", "wait..."),
        ("a\x97b", "a--b"),
        ("\x93hi\x94", '"hi"'),
        ("it\u00e2\u20ac\u2122s", "it's"),
        ("it\u00e2\x80\x99s", "it's"),
        ("caf\u00c3\u00a9", "café"),
        ("café, naïve – ok", "café, naïve - ok"),
    ],
)
def test_repair_mojibake(raw: str, fixed: str):
    assert repair_mojibake(raw) == fixed


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("reader", "layout"),
    [
        (read_ravdess, "Actor_01"),
        (read_cremad, "AudioWAV"),
        (read_tess, "OAF_angry"),
        (read_emodb, "03a01Fa"),
        (read_savee, "DC_a01"),
        (read_emovo, "rab-f1-b1"),
        (read_iemocap, "IEMOCAP_full_release"),
        (read_meld, "train_sent_emo.csv"),
    ],
)
def test_missing_root_and_no_match(reader, layout, tmp_path: Path):
    with pytest.raises(DataError, match=f"folder not found: .*nowhere; expected .*{layout}"):
        reader(tmp_path / "nowhere")
    _wav(tmp_path / "junk" / "recording.wav")
    with pytest.raises(DataError, match=f"{tmp_path / 'junk'}.*{layout}"):
        reader(tmp_path / "junk")


def test_many_skips_are_summarised(tmp_path: Path, caplog):
    for i in range(14):
        _wav(tmp_path / "e" / f"bad{i:02d}.wav")
    _wav(tmp_path / "e" / "03a01Fa.wav")
    with caplog.at_level(logging.WARNING):
        read_emodb(tmp_path / "e")
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 11 and "14 files in all" in skipped[-1].getMessage()


# --------------------------------------------------------------------------- registry
def test_registry(emodb: Path, cremad: Path, tmp_path: Path):
    assert set(CORPORA) == {
        "ravdess",
        "cremad",
        "tess",
        "emodb",
        "savee",
        "emovo",
        "iemocap",
        "meld",
    }
    assert len(read_corpus("EmoDB", emodb)) == 7
    assert len(read_corpus("CREMA-D", cremad)) == 4
    assert len(load_corpus(f"emodb:{emodb}")) == 7
    assert len(load_corpus(f"crema-d:{cremad}")) == 4
    with pytest.raises(ConfigError, match="unknown corpus 'voxceleb'.*ravdess, cremad"):
        load_corpus(f"voxceleb:{emodb}")
    with pytest.raises(ConfigError, match="corpus 'emodb' has no option.*classes.*none"):
        read_corpus("emodb", emodb, classes=6)
    with pytest.raises(ConfigError, match="not NAME:DIR"):
        load_corpus(str(emodb).lstrip("/").replace(":", ""))


def test_load_manifest_or_corpus(emodb: Path, tmp_path: Path):
    _wav(tmp_path / "m" / "a.wav")
    (tmp_path / "m" / "m.csv").write_text("file,emotion\na.wav,anger\n")
    df = load_manifest_or_corpus(
        manifest=tmp_path / "m" / "m.csv", path_column="file", label_column="emotion"
    )
    assert df["label"].tolist() == ["anger"]
    df = load_manifest_or_corpus(corpus=f"emodb:{emodb}", label_column="label")
    assert len(df) == 7
    with pytest.raises(ConfigError, match="exactly one"):
        load_manifest_or_corpus()
    with pytest.raises(ConfigError, match="not both"):
        load_manifest_or_corpus(manifest=tmp_path / "m" / "m.csv", corpus=f"emodb:{emodb}")
    with pytest.raises(ConfigError, match="label_column='emotion' applies to manifest files"):
        load_manifest_or_corpus(corpus=f"emodb:{emodb}", label_column="emotion")


def test_corpus_spec_carries_reader_options(iemocap: Path, emodb: Path):
    four = load_corpus(f"iemocap:{iemocap}")
    six = load_corpus(f"iemocap[classes=6]:{iemocap}")
    assert set(six["label"]) - set(four["label"])  # 6-class keeps classes 4-class drops
    with pytest.raises(ConfigError, match="no option"):
        load_corpus(f"emodb[classes=6]:{emodb}")
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        load_corpus(f"iemocap[classes]:{iemocap}")
