"""``emoclassic stream`` and :mod:`emoclassic.stream`: audio from stdin (raw PCM, WAV streams
of unknown length) or a (fake) microphone, one JSON line per complete window, as soon as it is
whole, with the numbers ``predict --window W --hop H`` gives the same windows.

Two tiny models are fitted once for the module on the session's demo corpus: audio only
(pooled compact preset, logistic regression) and attention fusion of audio and TF-IDF text.
"""

from __future__ import annotations

import json
import selectors
import struct
import subprocess
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from emoclassic import Recognizer
from emoclassic._windows import window_bounds
from emoclassic.artifacts import save_model
from emoclassic.cli import app
from emoclassic.evaluation import fit_final
from emoclassic.exceptions import AudioError, DataError
from emoclassic.stream import PCMDecoder, check_stream_model, open_stream, stream_predictions
from emoclassic.stream._pcm import AudioFormat

CV = {"scheme": "group", "n_splits": 2}
AUDIO = {"type": "pooled", "preset": "compact"}
SPECS = {
    "audio": {"name": "stream_audio", "features": {"audio": AUDIO},
              "classifier": {"name": "logreg"}, "cv": CV},
    "attention": {"name": "stream_attention", "fusion": "attention",
                  "features": {"audio": AUDIO, "text": {"type": "tfidf"}},
                  "classifier": {"name": "attention", "projection_dim": 4, "hidden_size": 4,
                                 "epochs": 3, "n_threads": 1}, "cv": CV},
}
W, H = 1.0, 0.5  # short windows keep the tests fast
KEYS = ["start", "end", "label", "probabilities", "out_of_distribution", "ood_score",
        "ood_threshold", "low_confidence"]


@pytest.fixture(scope="module")
def env(demo_corpus, tmp_path_factory):
    folder, manifest = demo_corpus
    root = tmp_path_factory.mktemp("stream")
    models = {}
    for name, spec in SPECS.items():
        est = fit_final(spec, manifest, cache=root / "cache")
        models[name] = root / f"{name}.joblib"
        save_model(est, models[name], train_manifest=manifest)
    clips = [sf.read(p, dtype="int16")[0] for p in manifest["path"].tolist()[:4]]
    y = np.concatenate(clips)[:84800]  # 5.3 s of speech, 16 kHz int16: complete windows
    assert len(y) == 84800  # end at 5 s, and the rest (0.3 s) is a window of predict's only
    wav = root / "long.wav"
    sf.write(wav, y, 16000, subtype="PCM_16")
    stereo = np.stack([y, (y // 2).astype(np.int16)], axis=1)
    return SimpleNamespace(root=root, models=models, y=y, wav=wav, stereo=stereo,
                           text=manifest["text"].iloc[0], sr=16000)


def _stream(*args, input: bytes, code: int = 0) -> SimpleNamespace:
    res = CliRunner().invoke(app, ["stream", *map(str, args)], input=input)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == code, (res.exit_code, res.stderr)
    lines = [json.loads(line) for line in res.stdout.splitlines()]  # only JSON lines
    return SimpleNamespace(lines=lines, err=res.stderr)


def _predict_windows(model, path, *args) -> list[dict]:
    res = CliRunner().invoke(app, ["predict", "--model", str(model), str(path), "--window",
                                   str(W), "--hop", str(H), *args, "--format", "json", "-q"])
    assert res.exit_code == 0, res.stderr
    (p,) = json.loads(res.stdout)["predictions"]
    return p["windows"]


def _complete(n_frames: int, sr: int = 16000) -> int:
    return len(window_bounds(n_frames / sr, W, H, complete_only=True))


def _wav_stream(data: bytes, sr: int, channels: int, bits: int, tag: int = 1,
                known: bool = False) -> bytes:
    """A WAV stream as ffmpeg writes one to a pipe: unknown sizes (0xFFFFFFFF), a LIST
    chunk (odd length: padded) before the data."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, sr, sr * block, block, bits)
    size = len(data) if known else 0xFFFFFFFF
    info = b"INFOISFT\x07\x00\x00\x00Lavf61\x00"  # 19 bytes
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"LIST" + struct.pack("<I", len(info)) + info + b"\x00"
            + b"data" + struct.pack("<I", size) + data)


# --------------------------------------------------------------------------- same as predict
def test_raw_s16le_equals_predict_on_the_complete_windows(env):
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H,
                  input=env.y.tobytes())
    windows = _predict_windows(env.models["audio"], env.wav)
    n = _complete(len(env.y))
    assert len(out.lines) == n and len(windows) == n + 1  # predict keeps the rest; stream not
    assert out.lines == windows[:n]  # the same keys, order and numbers
    assert all(list(line) == KEYS for line in out.lines)
    assert [line["start"] for line in out.lines] == [k * H for k in range(n)]
    assert "windows" in out.err and "raw PCM: s16le, 16000 Hz, 1 channel" in out.err


def test_stereo_24_bit_wav_stream_of_unknown_length_equals_predict(env):
    wav = env.root / "stereo24.wav"
    sf.write(wav, env.stereo, env.sr, subtype="PCM_24")  # int16 values, 24-bit container
    y24 = env.stereo.astype(np.int32) << 8
    data = np.stack([(y24 >> s) & 0xFF for s in (0, 8, 16)], axis=-1).astype(np.uint8)
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H,
                  input=_wav_stream(data.tobytes(), env.sr, 2, 24))
    n = _complete(len(env.y))
    assert out.lines == _predict_windows(env.models["audio"], wav)[:n]
    assert "a WAV stream: s24le, 16000 Hz, 2 channels" in out.err


def test_f32le_and_s32le_stereo_equal_predict_on_their_files(env):
    y = env.stereo.astype(np.float32) / 32768
    wav = env.root / "stereo_float.wav"
    sf.write(wav, y, env.sr, subtype="FLOAT")
    windows = _predict_windows(env.models["audio"], wav)[:_complete(len(y))]
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H, "--channels", 2,
                  "--sample-format", "f32le", "--input-format", "raw", input=y.tobytes())
    assert out.lines == windows
    s32 = env.stereo.astype("<i4") << 16  # the same values at 32 bits
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H, "--channels", 2,
                  "--sample-format", "s32le", input=s32.tobytes())
    assert out.lines == windows


def test_another_rate_is_resampled_as_its_file_is(env):
    y = env.y[:int(3.3 * env.sr)]  # its samples taken as 22.05 kHz: 2.39 s
    wav = env.root / "at22k.wav"
    sf.write(wav, y, 22050, subtype="PCM_16")
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H, "--rate", 22050,
                  input=y.tobytes())
    n = _complete(len(y), 22050)
    assert n == 3 and out.lines == _predict_windows(env.models["audio"], wav)[:n]


def test_smoothing_equals_predict_smooth(env):
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H, "--smooth", 3,
                  input=_wav_stream(env.y.tobytes(), env.sr, 1, 16, known=True))
    windows = _predict_windows(env.models["audio"], env.wav, "--smooth", "3")
    assert len(out.lines) == _complete(len(env.y))
    for got, want in zip(out.lines, windows, strict=False):
        assert got["label"] == want["label"] and got["start"] == want["start"]
        assert got["low_confidence"] == want["low_confidence"]
        assert got["ood_score"] == want["ood_score"]
        np.testing.assert_allclose(list(got["probabilities"].values()),
                                   list(want["probabilities"].values()), atol=2e-6)


def test_smoothed_lines_abstain_as_predict_does(env):
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H, "--smooth", 3,
                  "--abstain-below", "0.9",
                  input=_wav_stream(env.y.tobytes(), env.sr, 1, 16, known=True))
    windows = _predict_windows(env.models["audio"], env.wav, "--smooth", "3",
                               "--abstain-below", "0.9")
    assert [g["label"] for g in out.lines] == [w["label"] for w in windows[:len(out.lines)]]
    assert all((g["label"] == "uncertain") == (max(g["probabilities"].values()) < 0.9)
               for g in out.lines)


def test_chunking_does_not_change_the_windows_and_duration_stops(env):
    rec = Recognizer.load(env.models["audio"])
    y = env.y.astype(np.float32) / 32768
    whole = list(stream_predictions(rec, [y], env.sr, window=W, hop=H))
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(len(y), 40, replace=False))
    pieces = stream_predictions(rec, np.split(y, cuts), env.sr, window=W, hop=H, max_batch=3)
    assert list(pieces) == whole and pieces.n_windows == len(whole)
    assert pieces.seconds == pytest.approx(len(y) / env.sr)
    short = list(stream_predictions(rec, np.split(y, cuts), env.sr, window=W, hop=H,
                                    duration=2.2))
    assert short == whole[:len(window_bounds(2.2, W, H, complete_only=True))]
    assert list(stream_predictions(rec, [y[:15000]], env.sr, window=W, hop=H)) == []


# --------------------------------------------------------------------------- a real pipe
def test_a_pipe_gets_each_window_as_soon_as_it_is_whole(env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "emoclassic.cli", "stream", "--model", str(env.models["audio"]),
         "--window", str(W), "--hop", str(H)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    data = _wav_stream(env.y.tobytes(), env.sr, 1, 16)
    cut = len(_wav_stream(b"", env.sr, 1, 16)) + 2 * 17000  # the header and 1.06 s: a window
    try:
        proc.stdin.write(data[:cut])
        proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout=60), "no line while the stream stays open"
        first = json.loads(proc.stdout.readline())
        assert (first["start"], first["end"]) == (0.0, W)
        proc.stdin.write(data[cut:])
        proc.stdin.close()
        rest = proc.stdout.read().decode().splitlines()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(rest) + 1 == _complete(len(env.y))
    assert all(set(json.loads(line)) == set(KEYS) for line in rest)
    assert "Traceback" not in err and "window(s) from" in err


# --------------------------------------------------------------------------- bad input
def test_a_stream_ending_inside_a_frame_keeps_its_windows_and_fails_in_one_line(env):
    data = env.y.tobytes() + b"\x01"  # an odd byte count for s16le
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H, input=data,
                  code=2)
    assert len(out.lines) == _complete(len(env.y))  # emitted before the error stay emitted
    (line,) = [e for e in out.err.splitlines() if e.startswith("error:")]
    assert "ended inside a sample frame" in line and "1 byte(s) left over" in line
    assert "Traceback" not in out.err


@pytest.mark.parametrize(("args", "data", "message"), [
    (["--rate", "5"], b"\x00" * 64, "rate=5 is not a sample rate"),
    (["--sample-format", "u8"], b"\x00" * 64, "sample format 'u8' is not one of"),
    (["--channels", "0"], b"\x00" * 64, "channels=0"),
    (["--input-format", "wav"], b"\x00" * 64, "not a WAV stream"),
    (["--input-format", "flac"], b"\x00" * 64, "input format 'flac' is not one of"),
    (["--rate", "8000"], "wav16k", "the WAV stream's rate is 16000, not 8000"),
    ([], "mulaw", "encoding (mu-law, 8 bits) is not supported"),
    ([], b"RIFF\xff\xff\xff\xffWAVEfmt ", "ended inside the WAV header"),
    (["--window", "1", "--hop", "2"], b"", "hop=2 is longer than window=1"),
    (["--duration", "0"], b"", "--duration 0: give a positive number"),
], ids=["rate", "sample-format", "channels", "not-wav", "input-format", "wav-rate", "mu-law",
        "cut-header", "hop", "duration"])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(env, args, data, message):
    if data == "wav16k":
        data = _wav_stream(env.y[:100].tobytes(), 16000, 1, 16)
    elif data == "mulaw":
        data = _wav_stream(b"\x00" * 100, 8000, 1, 8, tag=7)
    out = _stream("--model", env.models["audio"], *args, input=data, code=2)
    assert out.lines == []
    (line,) = [e for e in out.err.splitlines() if e.startswith("error:")]
    assert message in line, line
    assert "Traceback" not in out.err


def test_nan_samples_fail_their_windows_only(env):
    y = env.y.astype(np.float32) / 32768
    y[int(2.7 * env.sr)] = np.nan  # in the windows 2-3 s and 2.5-3.5 s only
    out = _stream("--model", env.models["audio"], "--window", W, "--hop", H,
                  "--sample-format", "f32le", input=y.tobytes(), code=1)
    starts = [line["start"] for line in out.lines]
    assert 2.0 not in starts and 2.5 not in starts and 1.5 in starts and 3.0 in starts
    assert len(out.lines) == _complete(len(y)) - 2
    assert "NaN" in out.err and "2 window(s) could not be predicted" in out.err


# --------------------------------------------------------------------------- text, attention
def test_a_fused_model_needs_the_text_and_gives_attention_per_window(env, tmp_path):
    out = _stream("--model", env.models["attention"], input=env.y.tobytes(), code=2)
    assert "--text or --text-file" in out.err and out.lines == []
    text_file = tmp_path / "t.txt"
    text_file.write_text(env.text, encoding="utf-8")
    out = _stream("--model", env.models["attention"], "--window", W, "--hop", H,
                  "--text-file", text_file, input=env.y.tobytes())
    assert len(out.lines) == _complete(len(env.y))
    assert all(list(line) == [*KEYS, "attention"] for line in out.lines)
    assert all(abs(sum(line["attention"].values()) - 1) < 1e-3 for line in out.lines)
    rec = Recognizer.load(env.models["attention"])
    y = env.y.astype(np.float32) / 32768
    first = rec.predict_array(y[:int(W * env.sr)], env.sr, env.text)
    assert out.lines[0]["probabilities"] == first.probabilities
    assert out.lines[0]["attention"] == first.attention


def test_models_a_stream_cannot_feed_are_refused_before_reading():
    text_only = SimpleNamespace(modalities=["text"], info={})
    with pytest.raises(DataError, match="needs a model that reads audio"):
        check_stream_model(text_only, "hello")
    normalised = SimpleNamespace(modalities=["audio"], info={"speaker_normalization": True})
    with pytest.raises(DataError, match="speaker_normalization"):
        check_stream_model(normalised, None)
    check_stream_model(SimpleNamespace(modalities=["audio"], info={}), None)


# --------------------------------------------------------------------------- the microphone
class _FakeInputStream:
    """sounddevice.InputStream's blocking API over a generated signal."""

    signal: np.ndarray = np.zeros(1, dtype=np.float32)
    interrupt_after: int | None = None
    opened: list = []

    def __init__(self, *, samplerate, channels, dtype, device=None, blocksize=None):
        self.kw = {"samplerate": samplerate, "channels": channels, "dtype": dtype,
                   "device": device, "blocksize": blocksize}
        self.pos, self.reads, self.closed = 0, 0, False
        type(self).opened.append(self)

    def start(self):
        pass

    def read(self, frames):
        self.reads += 1
        if self.interrupt_after is not None and self.reads > self.interrupt_after:
            raise KeyboardInterrupt
        y = np.resize(self.signal, self.pos + frames)[self.pos:]  # loops over the signal
        self.pos += frames
        return np.repeat(y[:, None], self.kw["channels"], axis=1), False

    def stop(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def fake_mic(monkeypatch, env):
    fake = types.ModuleType("sounddevice")

    class Stream(_FakeInputStream):
        signal = env.y.astype(np.float32) / 32768
        opened: list = []

    fake.InputStream = Stream
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return Stream


def test_the_microphone_streams_until_duration(env, fake_mic):
    out = _stream("--model", env.models["audio"], "--mic", "--duration", 2.2, "--window", W,
                  "--hop", H, "--device", "3", input=b"")
    (stream,) = fake_mic.opened
    assert stream.kw["samplerate"] == 16000 and stream.kw["channels"] == 1
    assert stream.kw["dtype"] == "float32" and stream.kw["device"] == 3 and stream.closed
    y = env.y[:int(2.2 * env.sr)]
    assert out.lines == _stream("--model", env.models["audio"], "--window", W, "--hop", H,
                                input=y.tobytes()).lines  # the same samples from stdin
    assert len(out.lines) == 3 and "from the microphone (input 3" in out.err


def test_ctrl_c_ends_a_recording_with_exit_0(env, fake_mic):
    fake_mic.interrupt_after = 25  # 2.5 s of 0.1 s blocks, then Ctrl-C
    out = _stream("--model", env.models["audio"], "--mic", "--window", W, "--hop", H,
                  "--channels", 2, input=b"")
    assert len(out.lines) == 4 and "window(s) from 2.5 s of audio" in out.err
    assert fake_mic.opened[0].closed and fake_mic.opened[0].kw["channels"] == 2


def test_a_missing_sounddevice_is_one_line_naming_the_extra(env, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    out = _stream("--model", env.models["audio"], "--mic", input=b"", code=2)
    (line,) = out.err.strip().splitlines()
    assert "pip install 'emoclassic[mic]'" in line and "PortAudio" in line


# --------------------------------------------------------------------------- decoding
def test_pcm_frames_split_across_reads_decode_as_a_file_does(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(-2**15, 2**15, size=(500, 2), dtype=np.int16)
    path = tmp_path / "x.wav"
    sf.write(path, y, 8000, subtype="PCM_16")
    want = sf.read(path, dtype="float32")[0]
    dec = PCMDecoder(AudioFormat(8000, 2, "s16le"))
    raw = y.tobytes()
    got = np.concatenate([dec.decode(raw[a:a + 7]) for a in range(0, len(raw), 7)])
    dec.finish()
    np.testing.assert_array_equal(got, want)
    dec.decode(b"\x00\x00\x00")
    with pytest.raises(AudioError, match="3 byte"):
        dec.finish()


def test_open_stream_reads_the_wav_header_and_stops_at_a_stated_length(tmp_path):
    import io

    y = np.arange(-400, 400, dtype=np.int16)
    data = _wav_stream(y.tobytes(), 22050, 1, 16, known=True) + b"LIST\x04\x00\x00\x00abcd"
    audio = open_stream(io.BytesIO(data))
    assert (audio.sr, audio.channels, audio.format.container) == (22050, 1, "wav")
    got = np.concatenate(list(audio))
    np.testing.assert_array_equal(got[:, 0], y / np.float32(32768))
    raw = open_stream(io.BytesIO(y.tobytes()), rate=22050)
    assert raw.format == AudioFormat(22050, 1, "s16le", "raw")
