"""Annotators' votes in the manifest (issue 18): the ``votes`` column, its validation, the
derived ``agreement``, label maps, and the IEMOCAP and CREMA-D readers filling it.

Synthetic corpus layouts in the corpora's real file formats (EmoEvaluation turns with the
evaluators' ``C-E`` lines; CREMA-D's ``processedResults/tabulatedVotes.csv`` header); the real
CREMA-D vote tables are read by ``benchmarks/quality/votes.py`` and by the last test here,
which skips without ``../shared``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emoclassic.data import (
    combine_manifests,
    load_corpus,
    read_cremad,
    read_cremad_votes,
    read_iemocap,
    read_manifest,
    validate_manifest,
    write_manifest,
)
from emoclassic.data._votes import agreement, format_votes, majority, parse_votes, top_label
from emoclassic.exceptions import ConfigError, DataError

SHARED_VOTES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cremad_votes"


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(1600, dtype="float32"), 16000)
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the column
def test_parse_and_format_votes():
    votes = parse_votes(" neutral:1; anger:3 ;")
    assert votes == {"neutral": 1.0, "anger": 3.0}
    assert format_votes(votes) == "anger:3;neutral:1"
    assert agreement(votes) == 0.75 and majority(votes) == "anger"
    tie = parse_votes("sadness:1;anger:1;fear:0")
    assert format_votes(tie) == "anger:1;sadness:1"  # zeros dropped, ties by name
    assert agreement(tie) == 0.5 and majority(tie) is None and top_label(tie) == "anger"
    assert parse_votes({"anger": 0.6, "sadness": 0.4}) == {"anger": 0.6, "sadness": 0.4}
    assert format_votes({"anger": 0.6, "sadness": 0.4}) == "anger:0.6;sadness:0.4"
    assert parse_votes(None) is None and parse_votes("  ") is None
    assert parse_votes(float("nan")) is None and math.isnan(agreement(None))
    for bad, why in [
        ("anger", "no ':count'"),
        ("anger:x", "not a number"),
        ("anger:-1", "negative"),
        ("anger:1;anger:2", "appears twice"),
        (":2", "empty label"),
        ("anger:0", "above 0"),
        ("anger:inf", "not a number"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_votes(bad)


def test_manifest_votes_are_validated_and_agreement_derived(tmp_path: Path):
    file = _write(
        tmp_path / "m.csv",
        "id,text,label,votes,agreement,extra\n"
        "a,hi,anger,neutral:1;anger:3,9,x\n"
        "b,yo,,sadness:1;anger:1,,y\n"
        "c,hm,neutral,,,z\n",
    )
    df = read_manifest(file)
    assert list(df.columns[-3:]) == ["votes", "agreement", "extra"]
    assert df["votes"].tolist() == ["anger:3;neutral:1", "anger:1;sadness:1", None]
    assert df["agreement"].tolist()[:2] == [0.75, 0.5]  # derived: the given 9 is replaced
    assert np.isnan(df["agreement"][2])
    assert df["label"][1] is None  # no majority: kept with its votes, no label
    # written and read back alike, CSV and JSONL
    for name in ("back.csv", "back.jsonl"):
        back = read_manifest(write_manifest(df, tmp_path / name), check_files=False)
        assert back["votes"].tolist() == df["votes"].tolist()


def test_manifest_votes_errors_name_file_row_and_fix(tmp_path: Path):
    file = _write(
        tmp_path / "bad.csv", "id,text,label,votes\na,hi,anger,anger:3\nb,yo,sadness,sad=2\n"
    )
    with pytest.raises(DataError) as err:
        read_manifest(file)
    message = str(err.value)
    assert "\n" not in message
    assert str(file) in message and "row 2 (id 'b'), column 'votes'" in message
    assert "e.g. anger:3;neutral:1" in message
    # an empty label needs votes
    file = _write(tmp_path / "nolabel.csv", "id,text,label,votes\na,hi,,\n")
    with pytest.raises(DataError, match="row 1 .*column 'label': the label is empty; .*votes"):
        read_manifest(file)


def test_json_manifest_takes_votes_as_objects(tmp_path: Path):
    rows = [{"id": "a", "text": "hi", "label": "anger", "votes": {"anger": 2, "fear": 1}}]
    file = _write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    df = read_manifest(file)
    assert df["votes"][0] == "anger:2;fear:1"
    assert df["agreement"][0] == pytest.approx(2 / 3)


def test_label_map_applies_to_votes():
    frame = validate_manifest(
        pd.DataFrame(
            {
                "id": ["a", "b"],
                "text": ["x", "y"],
                "label": ["angry", None],
                "votes": ["angry:2;mad:1;sad:1", "sad:1;angry:1"],
            }
        ),
        check_files=False,
    )
    out, report = combine_manifests([frame], label_map="angry=anger,mad=anger,sad=sadness")
    assert out["label"].tolist()[0] == "anger"
    assert out["votes"].tolist() == ["anger:3;sadness:1", "anger:1;sadness:1"]
    assert out["agreement"].tolist() == [0.75, 0.5]
    assert len(out) == 2 and report.n_dropped == 0  # the row without a label stays


# --------------------------------------------------------------------------- IEMOCAP
_EVAL = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tNeutral;\t()
C-E4:\tNeutral; Frustration;\t(bored)
C-F1:\tAnger;\t(curious)
A-E3:\tval 3; act 2; dom  2;\t()
A-E4:\tval 2; act 3; dom  3;\t(mildly aggravated but staying polite, attitude)
A-F1:\tval 3; act 2; dom  1;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]
C-E1:\tExcited;\t()
C-E3:\tHappiness;\t()
C-E4:\tExcited;\t()

[12.0000 - 13.5000]\tSes01F_impro01_F001\txxx\t[2.0000, 2.0000, 2.0000]
C-E1:\tAnger;\t()
C-E2:\tSadness;\t()
C-E3:\tFrustration;\t()

[14.0000 - 15.5000]\tSes01F_impro01_F002\txxx\t[2.0000, 3.0000, 3.0000]
C-E1:\tFrustration;\t()
C-E2:\tSurprise;\t()
C-E4:\tOther;\t(annoyed)

[16.0000 - 17.5000]\tSes01F_impro01_M002\tfru\t[2.0000, 3.0000, 3.0000]
C-E1:\tFrustration;\t()
C-E2:\tFrustration;\t()
C-E3:\tAnger;\t()
"""


@pytest.fixture
def iemocap(tmp_path: Path) -> Path:
    s1 = tmp_path / "IEMOCAP_full_release" / "Session1"
    _write(s1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt", _EVAL)
    for utt in ("F000", "M001", "F001", "F002", "M002"):
        _wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / f"Ses01F_impro01_{utt}.wav")
    return tmp_path


def test_iemocap_votes_four_classes(iemocap: Path):
    df = read_iemocap(iemocap).set_index("id")
    # the external evaluators only (C-E*), each category named counts one vote
    assert df.loc["Ses01F_impro01_F000", "votes"] == "neutral:3;frustration:1"
    assert df.loc["Ses01F_impro01_F000", "agreement"] == 0.75
    # hap and exc meet as happiness in 4-class, as the labels do
    assert df.loc["Ses01F_impro01_M001", "votes"] == "happiness:3"
    assert df.loc["Ses01F_impro01_M001", "label"] == "happiness"
    # no majority: kept with votes and no label (some vote is in the classes)
    tie = df.loc["Ses01F_impro01_F001"]
    assert tie["label"] is None and tie["label_original"] == "xxx"
    assert tie["votes"] == "anger:1;frustration:1;sadness:1"
    assert tie["agreement"] == pytest.approx(1 / 3)
    # no majority and no vote in the classes, or a class outside them: dropped as before
    assert "Ses01F_impro01_F002" not in df.index and "Ses01F_impro01_M002" not in df.index


def test_iemocap_votes_six_classes(iemocap: Path):
    df = load_corpus(f"iemocap[classes=6]:{iemocap}").set_index("id")
    assert df.loc["Ses01F_impro01_M001", "votes"] == "excitement:2;happiness:1"
    assert df.loc["Ses01F_impro01_M002", "label"] == "frustration"
    assert df.loc["Ses01F_impro01_M002", "votes"] == "frustration:2;anger:1"
    # F002's votes (frustration, surprise, other) include frustration: kept in 6-class
    assert df.loc["Ses01F_impro01_F002", "votes"] == "frustration:1;other:1;surprise:1"


# --------------------------------------------------------------------------- CREMA-D
_TABULATED_HEADER = (
    '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote",'
    '"meanEmoResp","meanAngerResp","meanDisgustResp","meanFearResp","meanHappyResp",'
    '"meanNeutralResp","meanSadResp","medianEmoResp","meanEmoRespNorm","meanAngerRespNorm",'
    '"meanDisgustRespNorm","meanFearRespNorm","meanHappyRespNorm","meanNeutralRespNorm",'
    '"meanSadRespNorm","medianEmoRespNorm"\n'
)


def _tabulated_row(query: int, clip: int, counts: list[int], name: str) -> str:
    n = sum(counts)
    tail = ",".join(["50"] * 8 + ["NA"] * 8)
    return (f'"{query * 100000 + clip}",{",".join(map(str, counts))},"{name}",{n},'
            f'{max(counts) / n},"X",{tail}\n')  # fmt: skip


@pytest.fixture
def cremad(tmp_path: Path) -> Path:
    root = tmp_path / "CREMA-D"
    for name in ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1091_WSI_SAD_LO"):
        _wav(root / "AudioWAV" / f"{name}.wav")
    rows = [
        _tabulated_row(1, 1, [6, 1, 0, 0, 2, 0], "1001_DFA_ANG_XX"),  # audio only
        _tabulated_row(2, 1, [0, 0, 0, 0, 9, 0], "1001_DFA_ANG_XX"),  # video only
        _tabulated_row(3, 1, [3, 0, 0, 0, 3, 0], "1001_DFA_ANG_XX"),  # audio-visual
        _tabulated_row(1, 2, [0, 0, 0, 3, 6, 0], "1001_IEO_HAP_HI"),
        # 1091_WSI_SAD_LO has no row: no votes
    ]
    _write(root / "processedResults" / "tabulatedVotes.csv", _TABULATED_HEADER + "".join(rows))
    return root


def test_cremad_votes_next_to_audiowav(cremad: Path, caplog):
    df = read_cremad(cremad).set_index("id")
    assert df.loc["1001_DFA_ANG_XX", "votes"] == "anger:6;neutral:2;disgust:1"
    assert df.loc["1001_DFA_ANG_XX", "agreement"] == pytest.approx(6 / 9)
    hap = df.loc["1001_IEO_HAP_HI"]
    assert hap["label"] == "happiness" and hap["votes"] == "neutral:6;happiness:3"  # perceived
    assert df.loc["1091_WSI_SAD_LO", "votes"] is None
    assert "1 clip(s) have no row" in caplog.text
    # the AudioWAV folder itself finds the table too; other presentations; no votes
    assert read_cremad(cremad / "AudioWAV").set_index("id").loc["1001_DFA_ANG_XX", "votes"] \
        == "anger:6;neutral:2;disgust:1"
    video = load_corpus(f"cremad[votes=video]:{cremad}").set_index("id")
    assert video.loc["1001_DFA_ANG_XX", "votes"] == "neutral:9"
    both = read_cremad(cremad, votes="audiovisual").set_index("id")
    assert both.loc["1001_DFA_ANG_XX", "agreement"] == 0.5
    assert "votes" not in read_cremad(cremad, votes="none").columns
    with pytest.raises(ConfigError, match="votes='face'; use one of audio, video, audiovisual"):
        read_cremad(cremad, votes="face")


def test_cremad_without_votes_file_and_bad_table(tmp_path: Path):
    _wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    assert "votes" not in read_cremad(tmp_path).columns
    bad = _write(tmp_path / "processedResults" / "tabulatedVotes.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"tabulatedVotes.csv: not CREMA-D's .*no column"):
        read_cremad(tmp_path)
    _write(bad, _TABULATED_HEADER + '"100001",x,0,0,0,1,0,"1001_DFA_ANG_XX"\n')
    with pytest.raises(DataError, match="line 2 is not id,A,D,F,H,N,S"):
        read_cremad(tmp_path)


@pytest.mark.skipif(not SHARED_VOTES.is_dir(), reason="needs ../shared/data/cremad_votes")
def test_real_cremad_vote_tables():
    """The published tables: 7,442 clips per presentation; agreement as the README says."""
    table = read_cremad_votes(SHARED_VOTES / "raw" / "tabulatedVotes.csv")
    assert len(table) == 7442
    labels = pd.read_csv(SHARED_VOTES / "labels.csv")
    ours = np.array([agreement(table[c]) for c in labels["clip"]])
    np.testing.assert_allclose(ours, labels["audio_agreement"], atol=1e-4)
    assert ours.mean() == pytest.approx(0.637, abs=0.001)
