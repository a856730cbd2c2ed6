"""Extra blocks at prediction time: new rows' features from manifest columns or --extra."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from emoclassic.artifacts import load_model, save_model
from emoclassic.cli import app
from emoclassic.evaluation import fit_final
from emoclassic.exceptions import ConfigError, DataError
from emoclassic.fusion import extra_inputs
from emoclassic.prediction import predict_manifest
from emoclassic.spec import load_spec

CLASSES = ["anger", "sadness"]


def _train_rows(n=24, seed=0) -> pd.DataFrame:
    """Two classes that both blocks separate: 'physio' columns and a 'face' file."""
    rng = np.random.default_rng(seed)
    y = np.array([CLASSES[i % 2] for i in range(n)])
    sign = np.where(y == "anger", 1.0, -1.0)
    return pd.DataFrame({
        "id": [f"u{i}" for i in range(n)], "label": y, "speaker": [f"s{i % 4}" for i in range(n)],
        "hr": 3 * sign + rng.normal(0, 0.3, n), "eda": 2 * sign + rng.normal(0, 0.3, n),
        "face0": 3 * sign + rng.normal(0, 0.3, n), "face1": rng.normal(0, 0.3, n),
    })  # fmt: skip


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A saved model with a `columns` block (physio) and a file block (face)."""
    folder = tmp_path_factory.mktemp("extra_model")
    rows = _train_rows()
    rows[["id", "face0", "face1"]].to_csv(folder / "face_train.csv", index=False)
    (folder / "spec.toml").write_text(
        'name = "extra-only"\n'
        '[features.physio]\ntype = "extra"\ncolumns = ["hr", "eda"]\n'
        '[features.face]\ntype = "extra"\nfile = "face_train.csv"\n'
        '[classifier]\nname = "logreg"\n'
    )
    spec = load_spec(folder / "spec.toml")
    est = fit_final(spec, rows.drop(columns=["face0", "face1"]), params={})
    save_model(est, folder / "m.joblib", spec=spec)
    return folder


def _new_rows(ids, sign) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prediction rows (physio columns) and their face vectors, all of class ``sign``."""
    n = len(ids)
    rows = pd.DataFrame({"id": ids, "hr": [3.0 * sign] * n, "eda": [2.0 * sign] * n})
    face = pd.DataFrame({"id": ids, "face1": [0.0] * n, "face0": [3.0 * sign] * n})
    return rows, face


def test_new_rows_get_their_features_from_columns_and_extra_files(model, tmp_path):
    est, info = load_model(model / "m.joblib")
    rows, face = _new_rows(["new1", "new2"], +1)
    face.to_csv(tmp_path / "face_new.csv", index=False)  # columns in another order: by name
    res = predict_manifest(est, rows, info=info, extra={"face": tmp_path / "face_new.csv"})
    assert not res.failures
    assert [p["label"] for p in res.predictions] == ["anger", "anger"]
    rows, face = _new_rows(["new3"], -1)
    np.savez(tmp_path / "f.npz", ids=np.array(["new3"]), features=face[["face0", "face1"]])
    res = predict_manifest(est, rows, info=info, extra={"face": tmp_path / "f.npz"})
    assert [p["label"] for p in res.predictions] == ["sadness"]


def test_rows_missing_from_the_files_fail_one_by_one_naming_the_option(model, tmp_path):
    est, info = load_model(model / "m.joblib")
    rows, face = _new_rows(["a", "b"], +1)
    face.iloc[:1].to_csv(tmp_path / "face_new.csv", index=False)
    res = predict_manifest(est, rows, info=info, extra={"face": tmp_path / "face_new.csv"})
    assert [p["id"] for p in res.predictions] == ["a"]
    (bad,) = res.failures
    assert bad.id == "b" and bad.block == "face"
    assert "--extra face=FILE" in bad.message
    # without --extra, the training file does not hold new ids: the same per-row message
    res = predict_manifest(est, rows, info=info)
    assert not res.predictions and {f.id for f in res.failures} == {"a", "b"}
    assert all("face_train.csv" in f.message and "--extra face=" in f.message
               for f in res.failures)


def test_whole_input_problems_are_one_line_errors_that_say_which(model, tmp_path):
    est, _ = load_model(model / "m.joblib")
    rows, face = _new_rows(["a"], +1)
    face.to_csv(tmp_path / "face.csv", index=False)
    with pytest.raises(DataError, match=r"block 'physio' reads the manifest column\(s\) 'hr', "
                       r"'eda'.*--extra physio=FILE"):
        extra_inputs(est, rows.drop(columns=["hr", "eda"]), {"face": tmp_path / "face.csv"})
    with pytest.raises(ConfigError, match=r"no extra block 'voice' \(its extra blocks: face, "
                       "physio\\)"):
        extra_inputs(est, rows, {"voice": tmp_path / "face.csv"})
    np.savez(tmp_path / "wide.npz", ids=np.array(["a"]), features=np.zeros((1, 3)))
    with pytest.raises(DataError, match=r"3 features per row, but block 'face' was trained on "
                       r"2 \(face0, face1\)"):
        extra_inputs(est, rows, {"face": tmp_path / "wide.npz"})


def test_a_model_whose_training_file_is_gone_still_predicts_with_extra(model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("m.joblib", "m.json"):
        shutil.copy(model / name, copy / name)
    moved = model / "face_train.csv"
    moved.rename(tmp_path / "elsewhere.csv")
    try:
        est, info = load_model(copy / "m.joblib")
        rows, face = _new_rows(["a"], -1)
        with pytest.raises(DataError, match=r"block 'face' was trained on .*face_train.csv, "
                           r"which is not here; .*--extra face=FILE"):
            predict_manifest(est, rows, info=info)
        np.save(tmp_path / "f.npy", face[["face0", "face1"]].to_numpy())
        (tmp_path / "f.ids.txt").write_text("a\n")
        res = predict_manifest(est, rows, info=info, extra={"face": tmp_path / "f.npy"})
        assert [p["label"] for p in res.predictions] == ["sadness"]
    finally:
        (tmp_path / "elsewhere.csv").rename(moved)


def _cli(*args) -> SimpleNamespace:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return SimpleNamespace(code=result.exit_code, out=result.stdout, err=result.stderr)


def test_cli_bare_audio_file_and_windows_get_the_given_vectors(model, tmp_path, write_tone):
    clip = write_tone(tmp_path / "clip.wav", seconds=3.0)
    r = _cli("predict", "--model", model / "m.joblib", clip)  # no columns, no --extra
    assert r.code != 0
    (line,) = [x for x in r.err.splitlines() if x.startswith("error:")]  # one line, no trace
    assert "Traceback" not in r.err
    assert "block 'physio'" in line and "--extra physio=FILE" in line
    # the id of a file argument is the path as given
    ids = [str(clip)]
    physio, face = _new_rows(ids, +1)
    physio.to_csv(tmp_path / "physio.csv", index=False)
    face.to_csv(tmp_path / "face.csv", index=False)
    r = _cli("predict", "--model", model / "m.joblib", clip, "--window", "1", "--format",
             "json", "--extra", f"physio={tmp_path / 'physio.csv'}", "--extra",
             f"face={tmp_path / 'face.csv'}")
    assert r.code == 0, r.err
    import json

    (pred,) = json.loads(r.out)["predictions"]
    assert pred["label"] == "anger" and len(pred["windows"]) == 3
    assert {w["label"] for w in pred["windows"]} == {"anger"}  # each window has the vectors
    r = _cli("predict", "--model", model / "m.joblib", clip, "--extra", "physio")
    assert r.code != 0 and "give NAME=FILE" in r.err


def test_extra_block_knows_its_block_name(model):
    est, _ = load_model(model / "m.joblib")
    from emoclassic.fusion import ExtraFeatures
    from emoclassic.fusion._extra import _extra_blocks

    blocks = _extra_blocks(est)
    assert sorted(blocks) == ["face", "physio"]
    assert all(isinstance(b, ExtraFeatures) for b in blocks.values())
    assert list(blocks["face"].feature_names_) == ["face0", "face1"]
    assert Path(blocks["face"].file).name == "face_train.csv"


def test_score_takes_extra_files_too(model, tmp_path):
    pos, pos_face = _new_rows(["a", "b"], +1)
    neg, neg_face = _new_rows(["c"], -1)
    rows = pd.concat([pos.assign(label="anger"), neg.assign(label="sadness")])
    rows["text"] = "words"  # a manifest row needs audio or text
    pd.concat([pos_face, neg_face]).to_csv(tmp_path / "face.csv", index=False)
    rows.to_csv(tmp_path / "m.csv", index=False)
    r = _cli("score", "--model", model / "m.joblib", "--manifest", tmp_path / "m.csv",
             "--extra", f"face={tmp_path / 'face.csv'}", "--format", "json")
    assert r.code == 0, r.err
    import json

    report = json.loads(r.out)
    assert report["metrics"]["n"] == 3 and report["metrics"]["wa"] == 1.0
