"""The out-of-distribution flag: the detector, its out-of-fold calibration, the model card, and
the trust keys of every prediction and window (Python, JSON, CSV, table), on generated audio."""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.utils.estimator_checks import parametrize_with_checks
from typer.testing import CliRunner

from emoclassic.artifacts import load_model, save_model
from emoclassic.cli import app
from emoclassic.data import files_to_manifest
from emoclassic.evaluation import fit_final
from emoclassic.exceptions import ConfigError, DataError
from emoclassic.ood import ModelOOD, OODDetector
from emoclassic.prediction import FLAG_KEYS, LOW_CONFIDENCE, predict_manifest

SR = 16000
AUDIO_SPEC = {
    "name": "tiny_ood",
    "features": {"audio": {"type": "pooled", "preset": "compact"}},
    "classifier": {"name": "logreg"},
    "cv": {"scheme": "group", "n_splits": 2},
}


def _write(path: Path, y: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(y, dtype=np.float32), sr)
    return path


def _non_speech(folder: Path, seconds: float = 1.5) -> dict[str, Path]:
    """Silence, a steady 440 Hz tone and white noise: decodable files without speech."""
    t = np.arange(int(seconds * SR)) / SR
    noise = 0.1 * np.random.default_rng(0).standard_normal(t.size)
    return {
        "silence": _write(folder / "silence.wav", np.zeros(t.size)),
        "tone": _write(folder / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t)),
        "noise": _write(folder / "noise.wav", noise),
    }


def _run(*args) -> SimpleNamespace:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return SimpleNamespace(code=result.exit_code, out=result.stdout, err=result.stderr)


@pytest.fixture(scope="module")
def fitted(demo_corpus, tmp_path_factory):
    """A tiny audio model fitted on the demo corpus, saved with its card; non-speech files."""
    folder, manifest = demo_corpus
    root = tmp_path_factory.mktemp("ood")
    est = fit_final(AUDIO_SPEC, manifest, cache=root / "cache")
    model = root / "model.joblib"
    card = save_model(est, model, train_manifest=manifest)
    return SimpleNamespace(est=est, model=model, card=card, manifest=manifest, root=root,
                           files=_non_speech(root / "nonspeech"), cache=root / "cache")


# --------------------------------------------------------------------------- the detector
@parametrize_with_checks([OODDetector(), OODDetector(n_components=3, n_neighbors=3),
                          OODDetector(method="mahalanobis", n_components=3)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("method", ["knn", "mahalanobis"])
def test_out_of_fold_threshold_flags_about_the_rate_on_new_groups(method):
    rng = np.random.default_rng(0)
    cov = rng.normal(size=(30, 30)) / 6

    def draw(n, shift):  # each group (speaker) is shifted a little
        return rng.normal(size=(n, 30)) @ cov + shift

    shifts = rng.normal(scale=0.3, size=(12, 30)) @ cov
    X = np.vstack([draw(40, s) for s in shifts[:10]])
    groups = np.repeat(np.arange(10), 40)
    det = OODDetector(method=method, n_components=8).fit(X, groups=groups)
    assert det.n_splits_ == 5 and det.oof_distances_.shape == (400,)
    assert np.mean(det.oof_distances_ > det.threshold_) == pytest.approx(0.05, abs=0.01)
    new = np.vstack([draw(200, s) for s in shifts[10:]])  # speakers it never saw
    assert 0.0 < np.mean(det.predict(new) == -1) < 0.15
    far = draw(20, 0) * 8
    assert (det.ood_score(far) > 1).all()
    np.testing.assert_allclose(det.ood_score(new), det.distance(new) / det.threshold_)


def test_detector_checks_its_parameters():
    X = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ConfigError, match="method"):
        OODDetector(method="forest").fit(X)
    with pytest.raises(ConfigError, match="rate"):
        OODDetector(rate=0.0).fit(X)
    with pytest.raises(DataError, match="groups"):
        OODDetector().fit(X, groups=[0, 1])


# --------------------------------------------------------------------------- the fitted model
def test_fit_final_stores_a_calibrated_detector_and_the_card_summarises_it(fitted):
    ood = fitted.est.emoclassic_ood_
    assert isinstance(ood, ModelOOD) and list(ood.detectors) == ["audio"]
    summary = fitted.card["out_of_distribution"]
    assert summary["method"] == "knn" and summary["threshold"] == 1.0
    assert summary["target_rate"] == 0.05
    calib = summary["calibration"]
    assert calib["out_of_fold"] and calib["groups"] == "speaker" and calib["folds"] == 4
    # out of fold, by speaker: about the target rate of genuine training items is flagged
    assert 0.02 <= calib["flag_rate"] <= 0.10
    audio = summary["modalities"]["audio"]
    assert audio["blocks"] == ["audio"] and audio["distance_threshold"] > 0
    card = json.loads(fitted.model.with_suffix(".json").read_text())
    assert card["out_of_distribution"] == summary


def test_non_speech_is_a_flagged_prediction_not_a_failure(fitted):
    est, info = load_model(fitted.model)
    files = list(fitted.files.values())
    res = predict_manifest(est, files_to_manifest(files), info=info)
    assert res.failures == []
    assert [Path(p["id"]).stem for p in res.predictions] == ["silence", "tone", "noise"]
    for p in res.predictions:
        assert p["out_of_distribution"] is True, p
        assert p["ood_score"] > p["ood_threshold"] == 1.0
    assert sorted(res.out_of_distribution) == sorted(p["id"] for p in res.predictions)


def test_genuine_speech_of_the_corpus_is_mostly_not_flagged(fitted):
    res = predict_manifest(fitted.est, fitted.manifest[["id", "path"]].iloc[::4])
    flagged = np.mean([p["out_of_distribution"] for p in res.predictions])
    assert flagged <= 0.15


def test_held_out_speakers_are_flagged_at_most_loosely_the_target(demo_corpus, fitted):
    _, manifest = demo_corpus
    speakers = sorted(manifest["speaker"].unique())
    train = manifest[manifest["speaker"] != speakers[-1]].reset_index(drop=True)
    est = fit_final(AUDIO_SPEC, train, cache=fitted.cache)
    held = manifest[manifest["speaker"] == speakers[-1]]
    res = predict_manifest(est, held[["id", "path"]])
    assert np.mean([p["out_of_distribution"] for p in res.predictions]) <= 0.35


def test_both_modalities_are_judged_and_silence_is_an_audio_outlier(demo_corpus, fitted):
    _, manifest = demo_corpus
    spec = {"name": "fused_ood",
            "features": {"audio": {"type": "pooled", "preset": "compact"},
                         "text": {"type": "text"}},
            "classifier": {"name": "logreg"}, "cv": {"scheme": "group", "n_splits": 2}}
    est = fit_final(spec, manifest, cache=fitted.cache)
    ood = est.emoclassic_ood_
    assert sorted(ood.detectors) == ["audio", "text"]
    rows = files_to_manifest([fitted.files["silence"]], text=manifest["text"].iloc[0])
    from emoclassic.features import precompute

    pre = precompute(est, rows)
    scores = ood.score(pre.tables, rows)
    assert scores.by_modality["audio"][0] > 1 >= scores.by_modality["text"][0]
    assert scores.score[0] == scores.by_modality["audio"][0]


# --------------------------------------------------------------------------- prediction keys
def test_windows_carry_the_keys_and_the_file_score_is_their_median(fitted, tmp_path):
    rng = np.random.default_rng(1)
    speech = sf.read(fitted.manifest["path"].iloc[0])[0]
    y = np.concatenate([speech[: SR], np.zeros(SR), 0.1 * rng.standard_normal(SR)])
    wav = _write(tmp_path / "mixed.wav", y)
    res = predict_manifest(fitted.est, files_to_manifest([wav]), window=1.0)
    (p,) = res.predictions
    assert len(p["windows"]) == 3
    for w in p["windows"]:
        assert set(FLAG_KEYS) <= set(w)
        assert w["out_of_distribution"] == (w["ood_score"] > w["ood_threshold"])
    assert p["windows"][1]["out_of_distribution"] and p["windows"][2]["out_of_distribution"]
    assert p["ood_score"] == pytest.approx(np.median([w["ood_score"] for w in p["windows"]]),
                                           abs=1e-3)


def test_low_confidence_follows_its_threshold(fitted):
    rows = fitted.manifest[["id", "path"]].iloc[:12]
    assert LOW_CONFIDENCE == 0.5
    for low in (0.0, 0.6, 1.0):
        res = predict_manifest(fitted.est, rows, low_confidence=low)
        assert res.low_confidence_below == low
        for p in res.predictions:
            assert p["low_confidence"] == (max(p["probabilities"].values()) < low)
        if low == 0.0:
            assert res.low_confidence == []
        if low == 1.0:
            assert len(res.low_confidence) == len(rows)
    with pytest.raises(DataError, match="low_confidence"):
        predict_manifest(fitted.est, rows, low_confidence=1.5)


def test_a_model_without_a_detector_predicts_with_null_keys(fitted, tmp_path, caplog):
    est = joblib.load(fitted.model)
    del est.emoclassic_ood_  # as saved before the detector existed
    old = tmp_path / "old.joblib"
    card = save_model(est, old)
    assert card["out_of_distribution"] is None
    est, info = load_model(old)
    with caplog.at_level(logging.WARNING, logger="emoclassic.prediction"):
        res = predict_manifest(est, files_to_manifest([fitted.files["silence"]]), info=info)
    (p,) = res.predictions
    assert p["out_of_distribution"] is None and p["ood_score"] is None
    assert p["ood_threshold"] is None and isinstance(p["low_confidence"], bool)
    assert res.ood is None and res.to_dict()["flags"]["out_of_distribution"] is None
    assert not [r for r in caplog.records if "training data" in r.getMessage()]


def test_one_warning_however_many_items_are_flagged(fitted, caplog):
    files = [*fitted.files.values(), *fitted.files.values()]
    rows = files_to_manifest(files)
    rows["id"] = [f"{k}_{i}" for k, i in enumerate(rows["id"])]
    with caplog.at_level(logging.WARNING, logger="emoclassic.prediction"):
        predict_manifest(fitted.est, rows, window=0.5)
    lines = [r for r in caplog.records if "outside the model's training data" in r.getMessage()]
    assert len(lines) == 1 and "6 of 6" in lines[0].getMessage()


# --------------------------------------------------------------------------- the CLI
def test_cli_json_csv_and_table_show_the_flags(fitted, tmp_path):
    wav = fitted.manifest["path"].iloc[0]
    files = [wav, fitted.files["silence"]]
    res = _run("predict", "--model", fitted.model, *files, "--format", "json")
    assert res.code == 0, res.err
    assert res.err.count("outside the model's training data") == 1
    data = json.loads(res.out)
    assert data["flags"]["low_confidence_below"] == 0.5
    assert data["flags"]["out_of_distribution"]["method"] == "knn"
    speech, silence = data["predictions"]
    for p in (speech, silence):
        assert set(FLAG_KEYS) <= set(p)
        assert isinstance(p["out_of_distribution"], bool) and p["ood_threshold"] == 1.0
    assert silence["out_of_distribution"] is True

    # a threshold well away from both top probabilities (printed values are rounded)
    tops = sorted(max(p["probabilities"].values()) for p in (speech, silence))
    cut = (tops[0] + tops[1]) / 2 if tops[1] - tops[0] > 1e-3 else tops[0] / 2
    res = _run("predict", "--model", fitted.model, *files, "--format", "csv", "-q",
               "--low-confidence", f"{cut:.6f}")
    frame = pd.read_csv(io.StringIO(res.out))
    assert list(frame.columns[-4:]) == list(FLAG_KEYS)
    assert frame["out_of_distribution"].tolist() == [speech["out_of_distribution"], True]
    top = frame[[c for c in frame.columns if c.startswith("p_")]].max(axis=1)
    assert frame["low_confidence"].tolist() == (top < cut).tolist()
    assert frame["ood_threshold"].tolist() == [1.0, 1.0]

    res = _run("predict", "--model", fitted.model, *files, "--window", "0.5")
    head, *lines = res.out.strip().splitlines()
    assert head.split()[-2:] == ["ood", "flags"]
    assert any(ln.rstrip().endswith("OOD") or "OOD," in ln for ln in lines)
    assert any(ln.lstrip().startswith("[") for ln in lines)  # the windows' rows


def test_cli_rejects_a_bad_low_confidence(fitted):
    res = _run("predict", "--model", fitted.model, fitted.files["tone"], "--low-confidence", "2")
    assert res.code == 2


def test_cli_old_model_keeps_working_with_empty_flag_cells(fitted, tmp_path):
    est = joblib.load(fitted.model)
    est.emoclassic_ood_ = None
    old = tmp_path / "old.joblib"
    save_model(est, old)
    res = _run("predict", "--model", old, fitted.files["tone"], "--format", "csv", "-q")
    assert res.code == 0, res.err
    frame = pd.read_csv(io.StringIO(res.out))
    assert frame["out_of_distribution"].isna().all() and frame["ood_score"].isna().all()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_wide_blocks_are_averaged_down_to_a_bounded_width():
    from emoclassic.ood._model import MAX_BLOCK_FEATURES, _narrow

    X = np.arange(20.0).reshape(2, 10)
    np.testing.assert_allclose(_narrow(X, 4), [[1, 4, 7, 9], [11, 14, 17, 19]])
    assert _narrow(X, 10) is X
    assert _narrow(np.ones((2, 3 * MAX_BLOCK_FEATURES + 5))).shape[1] <= MAX_BLOCK_FEATURES


def test_a_large_corpus_is_represented_by_a_sample(fitted):
    from emoclassic.features import precompute
    from emoclassic.ood import fit_model_ood

    rows = fitted.manifest
    pre = precompute(fitted.est, rows)
    ood = fit_model_ood(fitted.est, pre.tables, rows, rows["speaker"].to_numpy(), max_rows=40)
    assert ood.n_items == 40 and ood.summary()["calibration"]["folds"] == 4
    assert ood.detectors["audio"].n_features_in_ == fitted.est.emoclassic_ood_.detectors[
        "audio"].n_features_in_


def test_a_model_keeps_its_flags_after_a_feature_definition_upgrade(fitted, tmp_path, caplog):
    """The detector's stored table keys carry the feature definition's version; after an
    upgrade the blocks are looked up by name, and loading says the features changed."""
    est = joblib.load(fitted.model)
    ood = est.emoclassic_ood_
    ood.blocks = {m: [(name, key.replace('"class"', '"definition": -1, "class"'))
                      for name, key in pairs] for m, pairs in ood.blocks.items()}  # fmt: skip
    old = tmp_path / "upgraded.joblib"
    save_model(est, old)
    card = json.loads(old.with_suffix(".json").read_text())
    for config in card["features"]:
        if config.get("class") == "PooledFeatures":
            config["definition"] = 3  # as fitted by the code before the upgrade
    old.with_suffix(".json").write_text(json.dumps(card))
    est, info = load_model(old)
    (note,) = [w for w in info["warnings"] if "computed differently" in w]
    assert "PooledFeatures" in note and "definition 3 -> " in note and "emoclassic fit" in note
    res = predict_manifest(est, files_to_manifest([fitted.files["silence"]]), info=info)
    (p,) = res.predictions
    assert p["out_of_distribution"] is True and p["ood_score"] > 1.0


def test_an_extractor_pickled_before_a_parameter_existed_gets_its_default():
    import pickle

    from emoclassic.audio import PooledFeatures

    ext = PooledFeatures("compact")
    del ext.trim_db  # as pickled by a version without the parameter
    back = pickle.loads(pickle.dumps(ext))
    assert back.trim_db == PooledFeatures().trim_db
    assert back.get_params()["preset"] == "compact" and back._config()["class"] == "PooledFeatures"
