"""Loading audio: formats, rates, channels, segments, trimming, windows and every bad file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emoclassic.audio import (
    audio_info,
    audio_items,
    iter_windows,
    load_audio,
    load_windows,
    trim_silence,
)
from emoclassic.exceptions import AudioError, ConfigError, DataError


def _peak_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * sr / len(y))


def test_resampling_keeps_the_tone(write_tone):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = write_tone(Path(d) / "a.wav", freq=1000.0, sr=44100, seconds=0.5)
        y = load_audio(p, sr=16000)
        native = load_audio(p, sr=None)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 8000 and len(native) == 22050
    assert abs(_peak_hz(y, 16000) - 1000.0) < 4
    assert 0.45 < np.abs(y[100:-100]).max() < 0.55  # HQ resampling keeps the level


def test_stereo_is_averaged_and_mono_false_keeps_channels(tmp_path):
    t = np.arange(16000) / 16000
    left = 0.5 * np.sin(2 * np.pi * 300 * t)
    sf.write(tmp_path / "s.wav", np.stack([left, -left], 1), 16000, subtype="FLOAT")
    sf.write(tmp_path / "h.wav", np.stack([left, np.zeros_like(left)], 1), 16000, subtype="FLOAT")
    assert np.abs(load_audio(tmp_path / "s.wav")).max() < 1e-6  # opposite channels cancel
    np.testing.assert_allclose(load_audio(tmp_path / "h.wav"), left / 2, atol=1e-6)
    both = load_audio(tmp_path / "s.wav", mono=False)
    assert both.shape == (2, 16000)
    np.testing.assert_allclose(both[0], left, atol=1e-6)


def test_segments_read_the_right_samples(tmp_path):
    ramp = (np.arange(16000) / 16000).astype(np.float32)
    sf.write(tmp_path / "r.wav", ramp, 16000, subtype="FLOAT")
    seg = load_audio(tmp_path / "r.wav", start=0.25, end=0.5)
    np.testing.assert_allclose(seg, ramp[4000:8000])
    assert len(load_audio(tmp_path / "r.wav", start=0.75)) == 4000
    assert len(load_audio(tmp_path / "r.wav", end=9.0)) == 16000  # clipped at the end
    assert len(load_audio(tmp_path / "r.wav", start=np.nan, end=pd.NA)) == 16000  # missing
    for start, end, match in [(2.0, None, "lasts"), (0.5, 0.2, "not after"), (-1, None, "neg"),
                              ("abc", None, "not a number")]:
        with pytest.raises(AudioError, match=match) as info:
            load_audio(tmp_path / "r.wav", start=start, end=end)
        assert "r.wav" in str(info.value)


def _bad_files(tmp) -> dict:
    good = tmp / "good.wav"
    sf.write(good, 0.1 * np.ones(1600, np.float32), 16000)
    (tmp / "empty.wav").write_bytes(b"")
    sf.write(tmp / "nosamples.wav", np.zeros(0, np.float32), 16000)
    raw = bytearray(good.read_bytes())
    raw[8:16] = b"XXXXXXXX"  # the 'WAVEfmt ' tags
    (tmp / "corrupt.wav").write_bytes(bytes(raw))
    (tmp / "text.wav").write_text("this is not audio at all\n" * 20)
    nan = np.zeros(1600, np.float32)
    nan[100] = np.nan
    sf.write(tmp / "nan.wav", nan, 16000, subtype="FLOAT")
    inf = np.zeros(1600, np.float32)
    inf[800] = np.inf
    sf.write(tmp / "inf.wav", inf, 16000, subtype="FLOAT")
    return {
        "missing.wav": "not found",
        "empty.wav": "empty",
        "nosamples.wav": "no samples",
        "corrupt.wav": "corrupt",
        "text.wav": "not an audio file",
        "nan.wav": "NaN",
        "inf.wav": "infinite",
    }


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    return tmp, _bad_files(tmp)


@pytest.mark.parametrize(
    "name", ["missing.wav", "empty.wav", "nosamples.wav", "corrupt.wav", "text.wav", "nan.wav",
             "inf.wav"]
)
def test_bad_audio_is_refused_naming_the_file(bad_dir, name):
    tmp, expected = bad_dir
    with pytest.raises(AudioError, match=expected[name]) as info:
        load_audio(tmp / name)
    msg = str(info.value)
    assert name in msg and "\n" not in msg
    assert isinstance(info.value, DataError)


def test_header_only_file_is_refused_by_audio_info(bad_dir):
    tmp, _ = bad_dir
    with pytest.raises(AudioError, match="no samples"):
        audio_info(tmp / "nosamples.wav")
    info = audio_info(tmp / "good.wav")
    assert info.samplerate == 16000 and info.frames == 1600 and info.duration == 0.1


def test_silence_and_tiny_clips_load(tmp_path):
    sf.write(tmp_path / "z.wav", np.zeros(4000, np.float32), 16000)
    sf.write(tmp_path / "t.wav", 0.1 * np.ones(3, np.float32), 16000)
    assert not load_audio(tmp_path / "z.wav").any()
    assert len(load_audio(tmp_path / "t.wav")) == 3
    assert len(load_audio(tmp_path / "z.wav", trim=True, normalize="peak")) == 4000


def test_trim_and_normalize():
    sr = 16000
    tone = 0.2 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)
    y = np.concatenate([np.zeros(sr), tone, np.zeros(sr)]).astype(np.float32)
    cut = trim_silence(y, sr, top_db=40)
    assert abs(len(cut) - sr) < 0.05 * sr
    from emoclassic.audio._io import _normalize

    assert np.isclose(np.abs(_normalize(tone, "peak", "x")).max(), 1.0)
    rms = np.sqrt(np.mean(_normalize(tone, "loudness", "x") ** 2))
    assert np.isclose(20 * np.log10(rms), -23.0, atol=0.01)
    assert _normalize(tone, "none", "x") is tone  # "none" is None (TOML has no null)
    with pytest.raises(ConfigError, match="normalize"):
        load_audio("whatever.wav", normalize="loud")


def test_flac_and_mp3_when_the_backend_writes_it(tmp_path, write_tone):
    y = load_audio(write_tone(tmp_path / "a.flac", freq=500, sr=22050, seconds=0.4))
    assert abs(_peak_hz(y, 16000) - 500) < 5
    try:
        write_tone(tmp_path / "a.mp3", freq=500, sr=16000, seconds=0.4)
    except Exception:  # noqa: BLE001 - libsndfile built without MP3
        pytest.skip("this libsndfile cannot write MP3")
    y = load_audio(tmp_path / "a.mp3")
    assert abs(_peak_hz(y, 16000) - 500) < 5


def test_iter_windows_covers_the_signal():
    y = np.arange(100.0)
    wins = list(iter_windows(y, 10, window=4.0, hop=2.0))
    assert [t for t, _ in wins] == [0.0, 2.0, 4.0, 6.0]
    assert wins[-1][1][-1] == 99 and all(len(w) == 40 for _, w in wins)
    tail = list(iter_windows(y, 10, window=3.0))
    assert [len(w) for _, w in tail] == [30, 30, 30, 10]
    assert len(list(iter_windows(y[:5], 10, window=3.0))) == 1
    with pytest.raises(ConfigError):
        list(iter_windows(y, 10, window=0))


def test_load_windows_streams_what_load_audio_reads(tmp_path):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=16000 * 5)).astype(np.float32)
    sf.write(tmp_path / "long.wav", x, 16000, subtype="FLOAT")
    wins = list(load_windows(tmp_path / "long.wav", sr=16000, window=2.0))
    assert [t for t, _ in wins] == [0.0, 2.0, 4.0]
    np.testing.assert_allclose(np.concatenate([w for _, w in wins]), x, atol=1e-7)
    seg = list(load_windows(tmp_path / "long.wav", sr=16000, window=1.0, start=1.0, end=2.5))
    np.testing.assert_allclose(np.concatenate([w for _, w in seg]), x[16000:40000], atol=1e-7)
    # resampled while streaming: the same as resampling in one go, away from the edges
    sf.write(tmp_path / "l44.wav", np.sin(2 * np.pi * 300 * np.arange(44100 * 3) / 44100) / 2,
             44100, subtype="FLOAT")
    streamed = np.concatenate([w for _, w in load_windows(tmp_path / "l44.wav", window=1.0)])
    whole = load_audio(tmp_path / "l44.wav")
    assert abs(len(streamed) - len(whole)) <= 2
    np.testing.assert_allclose(streamed[1000:-1000], whole[1000:-1000], atol=1e-3)


def test_audio_items_reads_every_input_form(tmp_path, write_tone):
    p = str(write_tone(tmp_path / "a.wav"))
    frame = pd.DataFrame({
        "id": pd.array(["u1", None], dtype="string"),
        "path": pd.array([p, p], dtype="string"),
        "start": [0.1, None],
        "end": pd.array([0.3, pd.NA], dtype="Float64"),
    }, index=[7, 8])
    items = audio_items(None, frame)
    assert [it.id for it in items] == ["u1", "8"]
    assert items[0].payload == ("file", p, 0.1, 0.3)
    assert items[1].payload == ("file", p, None, None)
    assert items[0].key_parts != items[1].key_parts
    only_path = audio_items(None, frame[["path"]])
    assert [it.id for it in only_path] == ["7", "8"]
    assert [it.id for it in audio_items(None, [p, p])] == [p, p]
    assert len(audio_items(None, pd.Series([p]))) == 1 and len(audio_items(None, p)) == 1
    assert audio_items(None, np.array([p], dtype=object))[0].payload[0] == "file"
    waves = audio_items(None, np.zeros((3, 50)))
    assert [it.payload[0] for it in waves] == ["wave"] * 3 and waves[0].key_parts is None
    ragged = audio_items(None, [np.zeros(10), np.zeros(20)])
    assert [len(it.payload[1]) for it in ragged] == [10, 20]
    missing = audio_items(None, pd.DataFrame({"path": [None, tmp_path / "nope.wav"]}))
    assert missing[0].payload[0] == "missing" and missing[1].key_parts is None
    with pytest.raises(DataError, match="'path'"):
        audio_items(None, pd.DataFrame({"text": ["hi"]}))
