"""emoclassic.Recognizer: a saved model kept warm. Its results are the command line's JSON
objects, arrays predict as their files do (without a file or the feature cache), repeated
calls do not redo the loading, errors are one line, windows overlap and smooth.

Three tiny models are fitted once for the module on the session's demo corpus: audio only
(pooled compact preset), audio + TF-IDF text, and TF-IDF text only.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

import emoclassic
from emoclassic import Prediction, PredictionBatch, Recognizer, WindowPrediction
from emoclassic._windows import smooth_probabilities, window_bounds
from emoclassic.artifacts import save_model
from emoclassic.cli import app
from emoclassic.evaluation import fit_final
from emoclassic.exceptions import AudioError, DataError, EmoclassicError, ModelError
from emoclassic.features import Failure
from emoclassic.prediction import Waveform

CV = {"scheme": "group", "n_splits": 2}
AUDIO = {"type": "pooled", "preset": "compact"}
WORDS = {"type": "tfidf"}
SPECS = {
    "audio": {"name": "rec_audio", "features": {"audio": AUDIO},
              "classifier": {"name": "logreg"}, "cv": CV},
    "fused": {"name": "rec_fused", "features": {"audio": AUDIO, "words": WORDS},
              "classifier": {"name": "logreg"}, "cv": CV},
    "text": {"name": "rec_text", "features": {"words": WORDS},
             "classifier": {"name": "logreg"}, "cv": CV},
}


def _cli(*args) -> SimpleNamespace:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return SimpleNamespace(code=result.exit_code, out=result.stdout, err=result.stderr)


def _cli_json(*args, code: int = 0) -> dict:
    res = _cli("predict", *args, "--format", "json", "-q")
    assert res.code == code, res.err
    return json.loads(res.out)


@pytest.fixture(scope="module")
def env(demo_corpus, tmp_path_factory):
    folder, manifest = demo_corpus
    root = tmp_path_factory.mktemp("recognizer")
    models = {}
    for name, spec in SPECS.items():
        est = fit_final(spec, manifest, cache=root / "cache")
        models[name] = root / f"{name}.joblib"
        save_model(est, models[name], train_manifest=manifest)
    clips = manifest["path"].tolist()
    ys = [sf.read(p, dtype="float32") for p in clips[:3]]
    sr = ys[0][1]
    long = root / "long.wav"  # about 4.5 s: three demo clips end to end
    sf.write(long, np.concatenate([y for y, _ in ys]), sr)
    bad = root / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00 this is not audio at all" * 10)
    return SimpleNamespace(root=root, manifest=manifest, models=models, clip=clips[0],
                           text=manifest["text"].iloc[0], long=long, bad=bad,
                           rec={name: Recognizer.load(path) for name, path in models.items()})


# --------------------------------------------------------------------------- same as the CLI
def test_to_dict_is_the_cli_json_element(env):
    rec = env.rec["audio"]
    p = rec.predict_file(env.clip)
    (element,) = _cli_json("--model", env.models["audio"], env.clip)["predictions"]
    assert p.to_dict() == element
    assert isinstance(p, Prediction) and p.label == element["label"]
    assert p.probabilities == element["probabilities"]
    assert p.top_k(2) == sorted(element["probabilities"].items(), key=lambda kv: -kv[1])[:2]
    assert p.out_of_distribution in (True, False) and p.ood_threshold is not None
    assert p.windows == () and p.attention is None


def test_fused_and_windowed_results_are_the_cli_json_too(env):
    rec = env.rec["fused"]
    p = rec.predict_file(env.clip, env.text)
    (element,) = _cli_json("--model", env.models["fused"], env.clip, "--text",
                           env.text)["predictions"]
    assert p.to_dict() == element
    opts = {"window": 1.0, "hop": 0.5, "smooth": 2}
    p = env.rec["audio"].predict_file(env.long, **opts)
    doc = _cli_json("--model", env.models["audio"], env.long, "--window", "1", "--hop",
                    "0.5", "--smooth", "2")
    assert p.to_dict() == doc["predictions"][0]
    assert all(isinstance(w, WindowPrediction) for w in p.windows)


def test_batch_to_dict_is_the_cli_document(env):
    paths = [env.clip, env.bad, env.manifest["path"].iloc[5]]
    batch = env.rec["audio"].predict_files(paths)
    doc = _cli_json("--model", env.models["audio"], *paths, code=1)  # 1: an item failed
    assert batch.to_dict() == doc
    assert isinstance(batch, PredictionBatch) and len(batch) == 3
    assert isinstance(batch[0], Prediction) and isinstance(batch[2], Prediction)
    assert isinstance(batch[1], Failure) and batch[1].path == str(Path(env.bad).resolve())
    assert [p.id for p in batch.predictions] == [paths[0], paths[2]]
    assert len(batch.failures) == 1 and "re-encode" in batch.failures[0].message


# --------------------------------------------------------------------------- arrays
def test_predict_array_equals_predict_file(env):
    rec = env.rec["audio"]
    y, sr = sf.read(env.clip, dtype="float32")
    a, f = rec.predict_array(y, sr, id="mine"), rec.predict_file(env.clip)
    assert a.id == "mine" and a.path is None
    assert a.probabilities == pytest.approx(f.probabilities, abs=1e-6)
    assert a.ood_score == pytest.approx(f.ood_score, abs=1e-4)


def test_arrays_at_any_rate_and_layout_predict_as_their_file(env, tmp_path):
    y, sr = sf.read(env.clip, dtype="float32")
    stereo = np.stack([y, 0.5 * y], axis=1)
    path = tmp_path / "stereo22k.wav"
    sf.write(path, stereo, 22050)  # the same samples stored at another rate, two channels
    rec = env.rec["audio"]
    f = rec.predict_file(path)
    frames_channels, rate = sf.read(path)  # float64, (frames, channels)
    for layout in (frames_channels, frames_channels.T):  # soundfile's and librosa's
        a = rec.predict_array(layout, rate)
        assert a.probabilities == pytest.approx(f.probabilities, abs=1e-6)
    pcm, _ = sf.read(path, dtype="int16")
    assert rec.predict_array(pcm, rate).probabilities == pytest.approx(f.probabilities,
                                                                         abs=1e-6)


def test_arrays_write_no_file_and_never_touch_the_cache(env, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    rec = Recognizer.load(env.models["audio"], cache=cache)
    y, sr = sf.read(env.clip, dtype="float32")

    def stored() -> list[Path]:
        return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []

    def refuse(*args, **kwargs):
        raise AssertionError("an array prediction touched a file")

    import tempfile

    with monkeypatch.context() as m:
        for mod, name in ((sf, "SoundFile"), (sf, "info"), (sf, "write"),
                          (tempfile, "mkstemp"), (tempfile, "NamedTemporaryFile")):
            m.setattr(mod, name, refuse)
        p = rec.predict_array(y, sr)
        p = rec.predict_array(y, sr, window=0.5)
    assert p.windows and stored() == []
    rec.predict_file(env.clip)  # a file has an identity: its vector is stored
    assert stored()


def test_extractors_read_waveform_cells_as_files(env):
    from emoclassic.audio import PooledFeatures

    y, sr = sf.read(env.clip, dtype="float32")
    ext = PooledFeatures(preset="compact")
    files = pd.DataFrame({"id": ["a", "b"], "path": [env.clip, env.clip],
                          "start": [np.nan, 0.25], "end": [np.nan, 1.0]})
    waves = files.assign(path=None, waveform=[Waveform.from_array(y, sr)] * 2)
    np.testing.assert_allclose(ext.transform(waves), ext.transform(files), atol=1e-5)
    outside = waves.assign(start=[50.0, 0.0], end=[60.0, 1.0])
    res = emoclassic.extract(ext, outside)
    assert res.ids == ["b"] and "outside the waveform" in res.failures[0].message


@pytest.mark.parametrize("waveform,sr,words", [
    (np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, ["NaN", "0.000 s"]),
    (np.zeros(0, dtype=np.float32), 16000, ["no samples"]),
    (np.zeros((2, 2, 100), dtype=np.float32), 16000, ["shape (2, 2, 100)"]),
    (np.array(["a", "b"]), 16000, ["type <U1"]),
    (np.zeros(100, dtype=np.float32), 0, ["sr=0"]),
    (np.zeros(100, dtype=np.float32), 16000.5, ["sr=16000.5"]),
])
def test_bad_arrays_raise_one_audio_error(env, waveform, sr, words):
    with pytest.raises(AudioError) as err:
        env.rec["audio"].predict_array(waveform, sr, id="clip7")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("clip7: ")
    for w in words:
        assert w in msg


# --------------------------------------------------------------------------- warm and errors
def test_repeated_calls_do_not_load_or_inspect_the_model_again(env, monkeypatch):
    import emoclassic.artifacts
    import emoclassic.features._precompute as pre
    import emoclassic.prediction as prediction

    rec = Recognizer.load(env.models["audio"])

    def refuse(*args, **kwargs):
        raise AssertionError("a warm call redid per-model work")

    monkeypatch.setattr(emoclassic.artifacts, "load_model", refuse)
    monkeypatch.setattr(pre, "block_extractors", refuse)
    monkeypatch.setattr(emoclassic.artifacts, "find_speaker_normalizers", refuse)
    monkeypatch.setattr(prediction.PreparedModel, "of", refuse)
    y, sr = sf.read(env.clip, dtype="float32")
    first = rec.predict_file(env.clip)
    for _ in range(3):
        assert rec.predict_file(env.clip) == first
        assert rec.predict_array(y, sr).label == first.label
    assert rec.predict_files([env.clip, env.clip])[1] == first


def test_bad_files_raise_one_line_audio_errors(env, tmp_path):
    rec = env.rec["audio"]
    for path, words in ((env.bad, ["broken.wav", "re-encode it"]),
                        (tmp_path / "nowhere.wav", ["nowhere.wav", "not found"]),
                        (tmp_path, ["folder"])):
        with pytest.raises(AudioError) as err:
            rec.predict_file(path)
        msg = str(err.value)
        assert "\n" not in msg
        for w in words:
            assert w in msg


def test_text_models_predict_text_alone(env):
    rec = env.rec["text"]
    assert rec.modalities == ["text"]
    p = rec.predict_text(env.text)
    (element,) = _cli_json("--model", env.models["text"], "--text", env.text)["predictions"]
    assert p.to_dict() == element and p.path is None and p.id == "text"
    for call in (lambda: rec.predict_text("  "), lambda: rec.predict_file(None, text="hi")):
        with pytest.raises(DataError) as err:
            call()
        assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="predict_text"):
        rec.predict_file(None, text="hi")


def test_inputs_that_do_not_suit_the_model_are_one_line_data_errors(env):
    with pytest.raises(DataError, match="reads transcripts") as err:
        env.rec["fused"].predict_file(env.clip)  # no text for a model that reads it
    assert not isinstance(err.value, AudioError) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="reads audio"):
        env.rec["audio"].predict_text("hello there")
    with pytest.raises(DataError, match="one transcript per file"):
        env.rec["fused"].predict_files([env.clip, env.clip], texts=["just one"])
    with pytest.raises(DataError, match="list of files"):
        env.rec["audio"].predict_files(env.clip)
    with pytest.raises(DataError, match="DataFrame"):
        env.rec["audio"].predict_manifest([env.clip])


def test_options_are_checked_and_keyword_only(env):
    rec = env.rec["audio"]
    with pytest.raises(DataError, match="low_confidence=2"):
        Recognizer(rec.estimator, rec.info, low_confidence=2)
    for kwargs, word in (({"window": -1}, "window=-1"), ({"window": 1, "hop": 2}, "hop=2"),
                         ({"hop": 0.5}, "needs a window"), ({"window": 1, "smooth": 0},
                                                             "smooth=0")):  # fmt: skip
        with pytest.raises(DataError, match=word):
            rec.predict_file(env.clip, **kwargs)
    with pytest.raises(DataError, match="k=0"):
        rec.predict_file(env.clip).top_k(0)
    for method, positional in ((rec.predict_file, 2), (rec.predict_array, 3),
                               (rec.predict_text, 1), (rec.predict_files, 2),
                               (rec.predict_manifest, 1)):
        params = list(inspect.signature(method).parameters.values())
        assert all(p.kind is p.KEYWORD_ONLY for p in params[positional:]), method.__name__
    for method, positional in (("load", 1), ("__init__", 3)):  # load(path), (self, est, info)
        params = list(inspect.signature(getattr(Recognizer, method)).parameters.values())
        assert all(p.kind is p.KEYWORD_ONLY for p in params[positional:]), method


def test_load_keeps_the_model_checks(env, tmp_path):
    copy = tmp_path / "m.joblib"
    copy.write_bytes(Path(env.models["audio"]).read_bytes() + b"x")
    (tmp_path / "m.json").write_text(Path(env.models["audio"]).with_suffix(".json").read_text())
    with pytest.raises(ModelError, match="sha256"):
        Recognizer.load(copy)
    (tmp_path / "m.json").unlink()
    with pytest.raises(ModelError, match="model card"):
        Recognizer.load(copy)
    rec = env.rec["audio"]
    assert rec.labels == sorted(env.manifest["label"].unique())
    assert rec.model_info["sha256"] == rec.info["sha256"] and rec.model_info["path"]
    assert isinstance(AudioError("x"), EmoclassicError)


# --------------------------------------------------------------------------- batches
def test_predict_manifest_mixes_files_arrays_and_failures(env):
    y, sr = sf.read(env.clip, dtype="float32")
    frame = pd.DataFrame({
        "id": ["file", "array", "broken", "empty"],
        "path": [env.clip, None, str(env.bad), None],
        "waveform": [None, Waveform.from_array(y, sr), None, None],
    })
    batch = env.rec["audio"].predict_manifest(frame)
    assert [type(x).__name__ for x in batch] == ["Prediction", "Prediction", "Failure",
                                                  "Failure"]
    assert batch[0].probabilities == pytest.approx(batch[1].probabilities, abs=1e-6)
    assert batch[3].message.startswith("no audio path")
    assert repr(batch) == "PredictionBatch(2 predicted, 2 failed)"
    fused = env.rec["fused"].predict_files([env.clip, env.bad], texts=[env.text, env.text])
    assert isinstance(fused[0], Prediction) and isinstance(fused[1], Failure)


def test_result_objects_round_trip_with_attention():
    flags = {"out_of_distribution": None, "ood_score": None, "ood_threshold": None,
             "low_confidence": False}
    d = {"id": "x", "path": None, "label": "a", "probabilities": {"a": 0.7, "b": 0.3},
         **flags, "windows": [{"start": 0.0, "end": 1.0, "label": "b",
                               "probabilities": {"a": 0.2, "b": 0.8}, **flags}],
         "attention": {"audio": 0.6, "words": 0.4}}
    p = Prediction.from_dict(d)
    assert p.to_dict() == d and p.attention == {"audio": 0.6, "words": 0.4}
    assert p.windows[0].top_k(1) == [("b", 0.8)]
    del d["attention"]
    assert Prediction.from_dict(d).to_dict() == d


# --------------------------------------------------------------------------- windows
def test_overlapping_windows_in_the_api(env):
    rec = env.rec["audio"]
    duration = sf.info(env.long).duration
    plain = rec.predict_file(env.long, window=1.0, hop=0.5)
    bounds = window_bounds(duration, 1.0, 0.5)
    assert [(w.start, w.end) for w in plain.windows] == bounds
    assert len(bounds) == int((duration - 1.0) // 0.5) + 1 + (
        (duration - 1.0) % 0.5 >= 0.25)  # fmt: skip
    raw = np.array([[w.probabilities[c] for c in rec.labels] for w in plain.windows])
    whole = np.array([plain.probabilities[c] for c in rec.labels])
    np.testing.assert_allclose(whole, raw.mean(axis=0), atol=1e-5)
    smoothed = rec.predict_file(env.long, window=1.0, hop=0.5, smooth=3)
    got = np.array([[w.probabilities[c] for c in rec.labels] for w in smoothed.windows])
    np.testing.assert_allclose(got, smooth_probabilities(raw, 3), atol=1e-5)
    assert smoothed.probabilities == plain.probabilities  # the whole file: unsmoothed mean
    assert [w.label for w in smoothed.windows] == [rec.labels[i] for i in got.argmax(axis=1)]
    y, sr = sf.read(env.long, dtype="float32")
    arr = rec.predict_array(y, sr, window=1.0, hop=0.5)
    assert [(w.start, w.end) for w in arr.windows] == bounds
    for wa, wf in zip(arr.windows, plain.windows, strict=True):
        assert wa.probabilities == pytest.approx(wf.probabilities, abs=1e-6)
    # windows that touch: the default hop; a clip shorter than a window is one window
    assert [(w.start, w.end) for w in rec.predict_file(env.long, window=2).windows] == \
        window_bounds(duration, 2.0)
    assert len(rec.predict_file(env.clip, window=30).windows) == 1


def test_cli_hop_and_smooth(env):
    doc = _cli_json("--model", env.models["audio"], env.long, "--window", "1", "--hop",
                    "0.5")
    (pred,) = doc["predictions"]
    assert [(w["start"], w["end"]) for w in pred["windows"]] == window_bounds(
        sf.info(env.long).duration, 1.0, 0.5)
    res = _cli("predict", "--model", env.models["audio"], env.long, "--window", "1",
               "--hop", "0.5", "--smooth", "3", "--format", "csv", "-q")
    frame = pd.read_csv(pd.io.common.StringIO(res.out))
    assert len(frame) == 1 + len(pred["windows"])
    for args, word in ((("--window", "1", "--hop", "2"), "--hop"),
                       (("--hop", "0.5"), "--window"),
                       (("--window", "1", "--smooth", "0"), "--smooth")):
        res = _cli("predict", "--model", env.models["audio"], env.long, *args)
        assert res.code == 2
        lines = [ln for ln in res.err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and word in lines[0]


def test_import_stays_light():
    code = ("import sys, emoclassic; assert 'emoclassic.recognizer' not in sys.modules; "
            "assert 'pandas' not in sys.modules; "
            "assert emoclassic.Recognizer.__name__ == 'Recognizer'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_thread_limit_is_restored_after_calls_from_several_threads():
    import threading

    from threadpoolctl import threadpool_info

    from emoclassic.recognizer import _one_thread

    def pools() -> list[int]:
        return [i["num_threads"] for i in threadpool_info()]

    before = pools()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def first():
        with _one_thread():
            a_in.set()
            b_in.wait(5)
            seen.append(pools())
        a_out.set()

    def second():
        a_in.wait(5)
        with _one_thread():  # entered after the first, left after it
            b_in.set()
            a_out.wait(5)
            seen.append(pools())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(n == 1 for p in seen for n in p), (seen, before)
    assert pools() == before


def test_abstain_below_answers_uncertain_and_keeps_the_probabilities(env):
    """--abstain-below / abstain_below (issue 18): a top probability under P gives the label
    "uncertain"; the probabilities, the flags and the other items are those of no abstention."""
    from emoclassic.prediction import ABSTAIN_LABEL

    plain = Recognizer.load(env.models["audio"]).predict_file(env.long, window=1.0, hop=0.5)
    tops = [max(w.probabilities.values()) for w in plain.windows]
    ranked = sorted(set(tops))  # some windows above, some below; none at the cut itself
    cut = (ranked[len(ranked) // 2 - 1] + ranked[len(ranked) // 2]) / 2
    rec = Recognizer.load(env.models["audio"], abstain_below=cut)
    got = rec.predict_file(env.long, window=1.0, hop=0.5)
    assert got.probabilities == plain.probabilities
    for w, p, top in zip(got.windows, plain.windows, tops, strict=True):
        assert w.probabilities == p.probabilities
        assert w.label == (ABSTAIN_LABEL if top < cut else p.label)
    assert {w.label for w in got.windows} >= {ABSTAIN_LABEL}
    assert Recognizer.load(env.models["audio"], abstain_below=1.0).predict_file(
        env.clip).label == ABSTAIN_LABEL
    assert Recognizer.load(env.models["audio"], abstain_below=0.0).predict_file(
        env.clip).label in rec.labels
    with pytest.raises(DataError, match="abstain_below=1.5"):
        Recognizer.load(env.models["audio"], abstain_below=1.5)


def test_cli_abstain_below(env):
    doc = _cli_json("--model", env.models["audio"], env.clip, "--abstain-below", "1")
    assert doc["flags"]["abstain_below"] == 1.0
    (pred,) = doc["predictions"]
    assert pred["label"] == "uncertain" and len(pred["probabilities"]) == len(doc["labels"])
    doc = _cli_json("--model", env.models["audio"], env.clip)
    assert doc["flags"]["abstain_below"] is None
    assert doc["predictions"][0]["label"] in doc["labels"]
    res = _cli("predict", "--model", env.models["audio"], env.clip, "--abstain-below", "2")
    assert res.code == 2 and "--abstain-below" in res.err
