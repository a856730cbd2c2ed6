"""The command line end to end: every command, exit codes, and every bad input users bring.

Two tiny models are fitted once for the module on a small generated corpus: an audio-only one
(pooled spectrogram statistics) and a fused audio + TF-IDF text one (it needs transcripts).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from emoclassic.cli import app
from emoclassic.data import make_demo_corpus
from emoclassic.exceptions import DataError
from emoclassic.prediction import _window_bounds, collect_audio_files, predict_manifest

COMMANDS = ("demo", "pipelines", "features", "cv", "fit", "score", "predict", "info")

AUDIO_SPEC = """
name = "tiny_pooled"
[features.audio]
type = "pooled"
[classifier]
name = "logreg"
[cv]
scheme = "group"
n_splits = 2
"""

FUSED_SPEC = """
name = "tiny_fused"
[features.audio]
type = "pooled"
[features.words]
type = "tfidf"
[classifier]
name = "logreg"
[cv]
scheme = "group"
n_splits = 2
"""


def run(*args) -> SimpleNamespace:
    """Invoke the CLI in-process; stdout and stderr apart."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return SimpleNamespace(code=result.exit_code, out=result.stdout, err=result.stderr)


def _voice(seconds: float = 1.5, sr: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    y = 0.2 * y + 0.01 * rng.normal(size=t.size)
    y = y.astype(np.float32)
    return np.stack([y, 0.8 * y], axis=1) if channels == 2 else y


def _write(path: Path, y: np.ndarray, sr: int = 16000, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, **kw)
    return path


def _one_error_line(err: str) -> str:
    """The error must be one line (progress lines, which end in '...', aside)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not ln.endswith("...")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = make_demo_corpus(root / "corpus", n_speakers=4, n_per_class=4, seed=3)
    (root / "audio.toml").write_text(AUDIO_SPEC)
    (root / "fused.toml").write_text(FUSED_SPEC)
    manifest = root / "corpus" / "manifest.csv"
    cache = root / "cache"
    for name in ("audio", "fused"):
        res = run("fit", "--manifest", manifest, "--pipeline", root / f"{name}.toml",
                  "--out", root / f"{name}.joblib", "--cache", cache, "-q")
        assert res.code == 0, res.err
    return SimpleNamespace(
        root=root, corpus=corpus, manifest=manifest, cache=cache,
        audio_model=root / "audio.joblib", fused_model=root / "fused.joblib",
        audio_spec=root / "audio.toml", fused_spec=root / "fused.toml",
    )


@pytest.fixture()
def model_copy(env, tmp_path):
    """A private copy of the audio model (tests that damage it)."""
    dst = tmp_path / "model.joblib"
    shutil.copy(env.audio_model, dst)
    shutil.copy(env.audio_model.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


# --------------------------------------------------------------------------- help & usage
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    res = run(command, "--help")
    assert res.code == 0
    assert "Example" in res.out
    assert f"emoclassic {command}" in res.out


def test_top_level_help_lists_commands():
    res = run("--help")
    assert res.code == 0
    for command in COMMANDS:
        assert command in res.out
    res = run("--version")
    assert res.code == 0 and res.out.startswith("emoclassic ")


def test_usage_error_is_one_line_exit_2():
    res = run("predict", "--format", "json")  # --model missing
    assert res.code == 2
    assert "--model" in _one_error_line(res.err)
    res = run("no-such-command")
    assert res.code == 2
    _one_error_line(res.err)


def test_help_starts_fast_without_heavy_imports():
    code = (
        "import sys; from emoclassic.cli import app; "
        "heavy = [m for m in ('torch', 'sklearn', 'librosa', 'pandas', 'sentence_transformers') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "emoclassic.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "predict" in out.stdout


# --------------------------------------------------------------------------- fit & info
def test_info_shows_the_card_without_loading(env):
    res = run("info", env.fused_model)
    assert res.code == 0, res.err
    assert "sha256" in res.out and "(ok)" in res.out
    assert "audio, text" in res.out
    # the out-of-distribution detector: its method, the blocks it judges, its target rate
    (ood,) = [ln for ln in res.out.splitlines() if ln.startswith("out of distribution:")]
    assert "knn over audio (audio)" in ood and "flag 0.05 of out-of-fold" in ood
    res = run("info", env.fused_model, "--json")
    data = json.loads(res.out)
    assert data["sha256_ok"] is True
    assert sorted(data["labels"]) == ["anger", "happiness", "neutral", "sadness"]
    assert data["training_data"]["n_utterances"] == len(env.corpus)
    assert data["spec"]["name"] == "tiny_fused"
    assert data["modalities"] == ["audio", "text"]


def test_info_says_when_a_model_has_no_detector():
    from emoclassic.cli._info import _ood_text

    assert _ood_text(None).startswith("no detector")


def test_manifest_with_unknown_label_column(env):
    res = run("fit", "--manifest", env.manifest, "--pipeline", env.audio_spec,
              "--label-column", "emotion", "--out", env.root / "x.joblib")
    assert res.code == 2
    line = _one_error_line(res.err)
    assert "emotion" in line and "label_column" in line
    assert not (env.root / "x.joblib").exists()


def test_manifest_and_a_bad_corpus_together(env):
    """--manifest and --corpus combine (tests/test_multi_corpus.py); a folder that does not
    hold the corpus is still one error line."""
    res = run("fit", "--manifest", env.manifest, "--corpus", f"emodb:{env.root / 'nowhere'}",
              "--pipeline", env.audio_spec)
    assert res.code == 2
    assert "emodb folder not found" in _one_error_line(res.err)


# --------------------------------------------------------------------------- predict: good input
def test_predict_with_an_audio_model_imports_no_heavy_package(env):
    """A cold `predict` with an audio-only model pays for scikit-learn, SciPy and pandas (the
    model is a scikit-learn pipeline of DataFrames), never for torch, transformers, xgboost,
    librosa (numba), matplotlib, dask or scipy.signal (70-100 ms) (issue 16, fast start)."""
    wav = env.corpus["path"].iloc[0]
    code = (
        "import json, sys\n"
        "from emoclassic.cli import main\n"
        f"sys.argv = ['emoclassic', 'predict', '--model', {str(env.audio_model)!r}, "
        f"{str(wav)!r}, '--format', 'json', '-q']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'xgboost', "
        "'librosa', 'numba', 'matplotlib', 'dask', 'opensmile', 'scipy.signal') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["predictions"][0]["label"]


def test_predict_json_schema(env):
    wav = env.corpus["path"].iloc[0]
    res = run("predict", "--model", env.audio_model, wav, "--format", "json", "-q")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert set(data) >= {"model", "predictions", "failures"}
    assert data["failures"] == []
    (pred,) = data["predictions"]
    assert set(pred) >= {"id", "path", "label", "probabilities", "windows"}
    assert pred["label"] in pred["probabilities"]
    assert math.isclose(sum(pred["probabilities"].values()), 1.0, abs_tol=1e-3)
    assert data["model"]["sha256"] == json.loads(env.audio_model.with_suffix(".json")
                                                 .read_text())["sha256"]


def test_predict_any_rate_and_channels_table_and_csv(env, tmp_path):
    wav = _write(tmp_path / "phone.wav", _voice(sr=44100, channels=2), sr=44100)
    flac = _write(tmp_path / "low.flac", _voice(sr=8000), sr=8000)
    res = run("predict", "--model", env.audio_model, wav, flac)
    assert res.code == 0, res.err
    assert "phone.wav" in res.out and "low.flac" in res.out
    res = run("predict", "--model", env.audio_model, wav, "--format", "csv", "-q")
    frame = pd.read_csv(pd.io.common.StringIO(res.out))
    assert list(frame.columns[:6]) == ["id", "path", "window", "start", "end", "label"]
    assert {f"p_{c}" for c in ("anger", "happiness", "neutral", "sadness")} <= set(frame.columns)


def test_predict_windows_and_whole_file_mean(env, tmp_path):
    wav = _write(tmp_path / "long.wav", _voice(seconds=3.2))
    res = run("predict", "--model", env.audio_model, wav, "--window", "1", "--format", "json")
    assert res.code == 0, res.err
    (pred,) = json.loads(res.out)["predictions"]
    assert [(w["start"], w["end"]) for w in pred["windows"]] == [
        (0.0, 1.0), (1.0, 2.0), (2.0, 3.2)
    ]
    for label, p in pred["probabilities"].items():
        mean = np.mean([w["probabilities"][label] for w in pred["windows"]])
        assert p == pytest.approx(mean, abs=1e-5)


def test_long_files_are_windowed_automatically(env, tmp_path):
    wav = _write(tmp_path / "call.wav", _voice(seconds=31.0, sr=8000), sr=8000)
    res = run("predict", "--model", env.audio_model, wav, "--format", "json", "-q")
    assert res.code == 0, res.err
    (pred,) = json.loads(res.out)["predictions"]
    assert len(pred["windows"]) == 3


def test_fused_model_uses_text_and_requires_it(env):
    row = env.corpus.iloc[0]
    res = run("predict", "--model", env.fused_model, row["path"], "--text", row["text"],
              "--format", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["predictions"][0]["label"]
    res = run("predict", "--model", env.fused_model, row["path"], "-q")
    assert res.code == 2
    line = _one_error_line(res.err)
    assert "--text" in line and "--text-file" in line and "'text' column" in line


def test_text_file_and_manifest_input(env, tmp_path):
    row = env.corpus.iloc[1]
    tf = tmp_path / "t.txt"
    tf.write_text(row["text"] + "\n")
    res = run("predict", "--model", env.fused_model, row["path"], "--text-file", tf, "-q")
    assert res.code == 0, res.err
    res = run("predict", "--model", env.fused_model, "--manifest", env.manifest,
              "--format", "json", "-q")
    assert res.code == 0, res.err
    assert len(json.loads(res.out)["predictions"]) == len(env.corpus)


# --------------------------------------------------------------------------- predict: bad input
def test_missing_file(env, tmp_path):
    res = run("predict", "--model", env.audio_model, tmp_path / "nope.wav")
    assert res.code == 2
    assert "nope.wav" in _one_error_line(res.err)


@pytest.mark.parametrize("kind", ["text_as_wav", "empty", "header_only", "nan"])
def test_bad_single_file_is_one_line_exit_2(env, tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "text_as_wav":
        path.write_text("this is a text file, not audio\n" * 20)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        _write(path, np.zeros(0, dtype=np.float32))
    else:
        _write(path, np.full(16000, np.nan, dtype=np.float32), subtype="FLOAT")
    res = run("predict", "--model", env.audio_model, path, "-q")
    assert res.code == 2
    assert f"{kind}.wav" in _one_error_line(res.err)
    assert res.out.strip() == ""


def test_folder_mixing_good_and_bad_files(env, tmp_path):
    folder = tmp_path / "clips"
    _write(folder / "a_good.wav", _voice(seed=1))
    _write(folder / "sub" / "b_good.wav", _voice(seed=2, sr=22050), sr=22050)
    (folder / "c_text.wav").write_text("not audio at all\n" * 10)
    (folder / "d_empty.wav").write_bytes(b"")
    _write(folder / "e_nan.wav", np.full(8000, np.nan, dtype=np.float32), subtype="FLOAT")
    (folder / "notes.txt").write_text("ignored: not an audio extension")
    res = run("predict", "--model", env.audio_model, folder, "--format", "json")
    assert res.code == 1
    data = json.loads(res.out)
    assert sorted(Path(p["id"]).name for p in data["predictions"]) == ["a_good.wav", "b_good.wav"]
    assert sorted(Path(f["id"]).name for f in data["failures"]) == [
        "c_text.wav", "d_empty.wav", "e_nan.wav"
    ]
    assert all(f["error"] for f in data["failures"])
    for name in ("c_text.wav", "d_empty.wav", "e_nan.wav"):
        assert name in res.err
    assert "Traceback" not in res.err


def test_text_only_input_for_an_audio_model_is_refused(env):
    res = run("predict", "--model", env.audio_model, "--text", "hello")
    assert res.code == 2
    assert "audio" in _one_error_line(res.err)


# --------------------------------------------------------------------------- damaged models
def test_corrupt_model_file(env, model_copy):
    model_copy.write_bytes(b"\x80\x04 definitely not a pickle" * 10)
    res = run("predict", "--model", model_copy, env.corpus["path"].iloc[0], "-q")
    assert res.code == 2
    assert "sha256" in _one_error_line(res.err)
    # corrupt but with a matching checksum: the unpickling error is reported as such
    manifest = json.loads(model_copy.with_suffix(".json").read_text())
    from emoclassic.artifacts import file_sha256

    manifest["sha256"] = file_sha256(model_copy)
    model_copy.with_suffix(".json").write_text(json.dumps(manifest))
    res = run("predict", "--model", model_copy, env.corpus["path"].iloc[0], "-q")
    assert res.code == 2
    assert "truncated or corrupt" in _one_error_line(res.err)


def test_model_altered_after_saving(env, model_copy):
    data = bytearray(model_copy.read_bytes())
    data[-100] ^= 0x01  # one bit: only the checksum can tell
    model_copy.write_bytes(bytes(data))
    res = run("predict", "--model", model_copy, env.corpus["path"].iloc[0], "-q")
    assert res.code == 2
    assert "altered or is corrupt" in _one_error_line(res.err)
    res = run("info", model_copy)
    assert res.code == 2
    assert "MISMATCH" in res.out


def test_model_without_manifest_needs_trust(env, model_copy):
    model_copy.with_suffix(".json").unlink()
    wav = env.corpus["path"].iloc[0]
    res = run("predict", "--model", model_copy, wav, "-q")
    assert res.code == 2
    assert "--trust" in _one_error_line(res.err)
    res = run("predict", "--model", model_copy, wav, "--trust", "--format", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["predictions"][0]["label"]


def test_other_scikit_learn_release_is_refused_with_the_fix(env, model_copy):
    manifest_file = model_copy.with_suffix(".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["versions"]["scikit-learn"] = "1.2.2"
    manifest_file.write_text(json.dumps(manifest))
    wav = env.corpus["path"].iloc[0]
    res = run("predict", "--model", model_copy, wav, "-q")
    assert res.code == 2
    assert "pip install 'scikit-learn==1.2.*'" in _one_error_line(res.err)
    res = run("predict", "--model", model_copy, wav, "--trust", "--format", "json")
    assert res.code == 0, res.err
    assert "scikit-learn 1.2.2" in res.err  # loaded, with a warning


def test_debug_shows_the_traceback(env, model_copy):
    model_copy.with_suffix(".json").unlink()
    res = run("--debug", "predict", "--model", model_copy, env.corpus["path"].iloc[0])
    assert res.code == 2
    assert "Traceback" in res.err and "ModelError" in res.err


# --------------------------------------------------------------------------- speaker norm
def test_speaker_normalised_model_refuses_a_lone_file(env):
    from emoclassic.artifacts import load_model
    from emoclassic.exceptions import DataError

    model, info = load_model(env.audio_model)
    info = {**info, "speaker_normalization": True}
    one = env.corpus.iloc[[0]][["id", "path"]]
    with pytest.raises(DataError, match="several utterances per speaker"):
        predict_manifest(model, one, info=info)
    two = env.corpus[env.corpus["speaker"] == env.corpus["speaker"].iloc[0]].iloc[:3]
    result = predict_manifest(model, two[["id", "path", "speaker"]], info=info)
    assert len(result.predictions) == 3


# --------------------------------------------------------------------------- features, cv, score
def test_features_npz_keeps_good_rows_and_lists_bad(env, tmp_path):
    frame = pd.read_csv(env.manifest).iloc[:6].copy()
    frame["path"] = [str(env.root / "corpus" / p) for p in frame["path"]]
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    frame.loc[len(frame)] = {**frame.iloc[0].to_dict(), "id": "bad", "path": str(bad)}
    manifest = tmp_path / "m.csv"
    frame.to_csv(manifest, index=False)
    out = tmp_path / "f.npz"
    res = run("features", "--manifest", manifest, "--set", "pooled", "--out", out,
              "--cache", env.cache, "--spectrogram-png", tmp_path / "png", "-q")
    assert res.code == 1, res.err
    assert "bad" in res.err
    with np.load(out) as z:
        assert z["X"].shape[0] == 6 and z["X"].shape[1] == len(z["feature_names"])
        assert list(z["ids"]) == list(frame["id"].iloc[:6])
        assert np.isfinite(z["X"]).all()
    assert len(list((tmp_path / "png").glob("*.png"))) == 6
    res = run("features", "--manifest", manifest, "--set", "pooled", "--out",
              tmp_path / "f.csv", "--cache", "none", "-q")
    assert res.code == 1
    assert pd.read_csv(tmp_path / "f.csv").columns[0] == "id"


def test_cv_writes_reports(env, tmp_path):
    res = run("cv", "--manifest", env.manifest, "--pipeline", env.audio_spec, "--out",
              tmp_path / "cv", "--cache", env.cache, "-q")
    assert res.code == 0, res.err
    report = json.loads((tmp_path / "cv" / "cv_report.json").read_text())
    assert {"ua", "wa", "macro_f1", "weighted_f1"} <= set(report["metrics"])
    assert (tmp_path / "cv" / "cv_report.md").exists()
    assert (tmp_path / "cv" / "cv_report.html").exists()
    assert "ua=" in res.out
    # the final model takes the report's best parameters and keeps its metrics
    model = tmp_path / "m.joblib"
    res = run("fit", "--manifest", env.manifest, "--pipeline", env.audio_spec, "--params-from",
              tmp_path / "cv" / "cv_report.json", "--out", model, "--cache", env.cache, "-q")
    assert res.code == 0, res.err
    manifest = json.loads(model.with_suffix(".json").read_text())
    assert manifest["cv_metrics"]["ua"] == pytest.approx(report["metrics"]["ua"])


def test_score_same_keys_and_cross_corpus_drops(env, tmp_path):
    out = tmp_path / "score.json"
    res = run("score", "--model", env.audio_model, "--manifest", env.manifest, "--split", "test",
              "--out", out, "--cache", env.cache, "-q")
    assert res.code == 0, res.err
    report = json.loads(out.read_text())
    assert {"ua", "wa", "macro_f1", "weighted_f1"} <= set(report["metrics"])
    assert 0.0 <= report["calibration"]["ece"] <= 1.0
    assert f"ece={report['calibration']['ece']:.3f}" in res.out
    # another corpus's vocabulary: 'angry' maps onto 'anger', 'fear' is unknown to the model
    frame = pd.read_csv(env.manifest)
    frame["path"] = [str(env.root / "corpus" / p) for p in frame["path"]]
    frame["label"] = frame["label"].replace({"anger": "angry", "neutral": "fear"})
    other = tmp_path / "other.csv"
    frame.to_csv(other, index=False)
    res = run("score", "--model", env.audio_model, "--manifest", other, "--out", out,
              "--cache", env.cache, "-q")
    assert res.code == 0, res.err
    report = json.loads(out.read_text())
    assert report["data"]["dropped_labels"] == {"fear": int((frame["label"] == "fear").sum())}
    assert "fear" in res.out


def test_text_only_model_predicts_from_text_alone(env, tmp_path):
    spec = tmp_path / "words.toml"
    spec.write_text('name = "words"\n[features.words]\ntype = "tfidf"\n'
                    '[classifier]\nname = "logreg"\n')
    model = tmp_path / "words.joblib"
    res = run("fit", "--manifest", env.manifest, "--pipeline", spec, "--out", model, "-q",
              "--cache", "none")
    assert res.code == 0, res.err
    res = run("predict", "--model", model, "--text", env.corpus["text"].iloc[0],
              "--format", "json", "-q")
    assert res.code == 0, res.err
    (pred,) = json.loads(res.out)["predictions"]
    assert pred["path"] is None and pred["label"]


# --------------------------------------------------------------------------- helpers
def test_window_bounds():
    assert _window_bounds(2.0, 5.0) == [(0.0, 2.0)]
    assert _window_bounds(10.0, 5.0) == [(0.0, 5.0), (5.0, 10.0)]
    assert _window_bounds(11.0, 5.0) == [(0.0, 5.0), (5.0, 11.0)]  # short tail joins
    assert _window_bounds(13.0, 5.0) == [(0.0, 5.0), (5.0, 10.0), (10.0, 13.0)]


def test_collect_audio_files(tmp_path):
    _write(tmp_path / "a.wav", _voice(seconds=0.2))
    (tmp_path / "b.txt").write_text("x")
    explicit = tmp_path / "c.weird"
    explicit.write_bytes(b"x")
    files = collect_audio_files([tmp_path, explicit])
    assert [f.name for f in files] == ["a.wav", "c.weird"]
    with pytest.raises(DataError, match="no such file"):
        collect_audio_files([tmp_path / "missing.wav"])


# --------------------------------------------------------------------------- demo
@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    res = run("demo", "--out", out, "--speakers", "8", "--per-class", "6", "-q")
    assert res.code == 0, res.err
    report = json.loads((out / "cv" / "cv_report.json").read_text())
    ablation = report["ablation"]
    assert set(ablation) >= {"audio", "text", "fused"}
    fused = ablation["fused"]["metrics"]["ua"]
    assert fused > ablation["audio"]["metrics"]["ua"]
    assert fused > ablation["text"]["metrics"]["ua"]
    for name in ("model.joblib", "model.json", "spectrogram_example.png",
                 "prediction_example.json"):
        assert (out / name).is_file(), name
    pred = json.loads((out / "prediction_example.json").read_text())
    assert pred["predictions"] and not pred["failures"]
    assert run("info", out / "model.joblib").code == 0
    assert os.listdir(out / "corpus")


def test_the_cli_default_of_low_confidence_is_the_library_one():
    from emoclassic.cli._options import LOW_CONFIDENCE as CLI_DEFAULT
    from emoclassic.prediction import LOW_CONFIDENCE

    assert CLI_DEFAULT == LOW_CONFIDENCE
