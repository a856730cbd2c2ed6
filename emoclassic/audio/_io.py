"""Reading audio: any format soundfile (or, failing that, audioread) decodes, as mono float32.

Decoding is the first place a corpus goes wrong, so every failure becomes one
:class:`~emoclassic.exceptions.AudioError` line that names the file and the fix: a missing or
empty file, a header without samples, a corrupt header, something that is not audio, NaN or
infinite samples, a segment outside the file.

Valid but unusual input is handled, not refused: all-silent audio and clips shorter than one
analysis frame load as they are (feature code pads them to one frame); long recordings are read
in windows (:func:`load_windows` streams them block by block, so memory does not grow with the
file's length) and their per-window features are pooled by the extractors.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import AudioError, ConfigError

logger = logging.getLogger(__name__)

__all__ = ["AudioInfo", "audio_info", "load_audio", "iter_windows", "load_windows"]

#: Target RMS level of ``normalize="loudness"`` (dBFS; a plain RMS level, not BS.1770 LUFS).
LOUDNESS_TARGET_DBFS = -23.0
#: Seconds decoded per read when streaming a long file.
STREAM_BLOCK_SECONDS = 10.0


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, without decoding it."""

    path: str
    samplerate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise AudioError(
            f"{p}: file not found; check the path (relative paths start at {Path.cwd()})"
        ) from None
    except OSError as exc:
        raise AudioError(f"{p}: cannot be read ({exc.strerror}); check its permissions") from None
    if p.is_dir():
        raise AudioError(f"{p}: is a folder, not an audio file; point to a file inside it")
    if size == 0:
        raise AudioError(f"{p}: file is empty (0 bytes); re-export it or drop it from the corpus")
    return p


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header with soundfile (no decoding); AudioError if it is unreadable or empty."""
    import soundfile as sf

    p = _check_file(path)
    try:
        info = sf.info(str(p))
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        raise AudioError(
            f"{p}: not readable as audio ({_short(exc)}); the header is corrupt or it is not an "
            "audio file: re-encode it as WAV or FLAC"
        ) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(
            f"{p}: the header announces no samples ({info.frames} frames); the recording is "
            "empty or truncated: re-export it or drop it"
        )
    return AudioInfo(
        str(p), int(info.samplerate), int(info.channels), int(info.frames), str(info.format)
    )


def _short(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= 120 else msg[:117] + "..."


def _segment_frames(
    p: Path, sr_native: int, n_frames: int | None, start: float | None, end: float | None
) -> tuple[int, int | None]:
    """Validate ``start``/``end`` (seconds) and return them as native frames (end may be None)."""
    try:
        start = _as_seconds(start)
        end = _as_seconds(end)
    except AudioError as exc:
        raise AudioError(f"{p}: {exc}") from None
    if start is not None and start < 0:
        raise AudioError(f"{p}: segment start={start} s is negative; use start >= 0")
    if start is not None and end is not None and end <= start:
        raise AudioError(
            f"{p}: segment end={end} s is not after start={start} s; fix the manifest's start/end"
        )
    a = int(round((start or 0.0) * sr_native))
    b = None if end is None else int(round(end * sr_native))
    if n_frames is not None:
        if a >= n_frames:
            raise AudioError(
                f"{p}: segment starts at {start} s but the file lasts {n_frames / sr_native:.3f} "
                "s; fix the manifest's start/end"
            )
        if b is not None and b > n_frames:
            logger.debug("%s: segment end %.3f s is past the file's end; clipped", p, end)
            b = n_frames
    return a, b


def _as_seconds(value) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None if _is_missing(value) else _bad_time(value)
    return None if np.isnan(v) else v


def _is_missing(value) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError, ImportError):
        return False


def _bad_time(value) -> float:
    raise AudioError(f"segment time {value!r} is not a number of seconds; fix start/end")


class _TooLong(Exception):
    """Internal: the segment is longer than the caller's limit (nothing was decoded)."""


def _read_soundfile(
    p: Path, start, end, max_seconds: float | None = None
) -> tuple[np.ndarray, int, float]:
    """Decode the segment as ``(frames, channels)`` float32 with one soundfile open.

    Returns the data, the native rate and the segment's offset in seconds.
    """
    import soundfile as sf

    with sf.SoundFile(str(p)) as f:
        sr_native, n_frames = int(f.samplerate), int(f.frames)
        if n_frames <= 0 or sr_native <= 0:
            raise AudioError(
                f"{p}: the header announces no samples; the recording is empty or truncated: "
                "re-export it or drop it"
            )
        a, b = _segment_frames(p, sr_native, n_frames, start, end)
        b = n_frames if b is None else b
        if max_seconds is not None and (b - a) / sr_native > max_seconds:
            raise _TooLong
        if a:
            if f.seekable():
                f.seek(a)
            else:  # pragma: no cover - non-seekable formats are rare
                f.read(a, dtype="float32", always_2d=True)
        data = f.read(max(b - a, 0), dtype="float32", always_2d=True)
    return data, sr_native, a / sr_native


def _read_fallback(
    p: Path, start: float | None, end: float | None, first_error: BaseException
) -> tuple[np.ndarray, int]:
    """Decode with librosa/audioread (formats libsndfile lacks) as ``(frames, channels)``."""
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, sr_native = librosa.load(
                str(p),
                sr=None,
                mono=False,
                offset=float(start or 0.0),
                duration=None if end is None else float(end) - float(start or 0.0),
                dtype=np.float32,
            )
    except Exception:  # noqa: BLE001 - audioread raises many types, none of them useful
        raise AudioError(
            f"{p}: cannot be decoded ({_short(first_error)}); the header is corrupt or it is not "
            "an audio file: re-encode it as WAV or FLAC"
        ) from None
    y = np.atleast_2d(y).T if y.ndim == 1 else y.T
    return np.ascontiguousarray(y, dtype=np.float32), int(sr_native)


def integer_pcm_to_float(y: np.ndarray) -> np.ndarray:
    """Integer PCM samples as float32 scaled by their type's range (full scale = 1, as
    libsndfile reads a file): the one rule for arrays (``Waveform``) and streams alike."""
    info = np.iinfo(y.dtype)
    return y.astype(np.float32) / float(-info.min if y.dtype.kind == "i" else info.max)


def _check_finite(p: Path, data: np.ndarray, offset_s: float, sr_native: int) -> None:
    if not np.isfinite(data).all():
        bad = int(np.argmin(np.isfinite(data).all(axis=-1)))
        raise AudioError(
            f"{p}: contains NaN or infinite samples (first at {offset_s + bad / sr_native:.3f} s);"
            " re-export the file from its source or drop it"
        )


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """soxr 'HQ' resampling of ``(frames,)`` or ``(frames, channels)`` float32."""
    if sr_in == sr_out:
        return y
    import soxr

    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def trim_silence(
    y: np.ndarray, sr: int, *, top_db: float = 40.0, frame: float = 0.025,
    hop: float | None = None,
) -> np.ndarray:
    """Cut leading and trailing silence: what lies ``top_db`` below the loudest frame.

    Two steps. The mean power of a ``frame``-second window starting at every sample (one
    cumulative sum, O(n)) gives the loudest frame; windows quieter than ``top_db`` below it
    are silence, so the kept region runs from the first louder window to the end of the last
    one (a click in the silence is a sample, not a frame: it does not stop the cut). Then the
    cut is moved to the sample: to the first and last samples, within a frame of that region,
    whose power reaches the same threshold. Both thresholds are relative to the clip's own
    loudest frame, so the cut does not depend on the gain; windows start at every sample, so
    there is no frame grid for padding to shift, and digital silence never reaches the
    threshold: a clip padded with any number of zeros is cut back to exactly the same samples
    (tested).

    Why not ``librosa.effects.trim``: it cuts on its frame grid (512-sample hops at its
    defaults), so zero padding leaves up to a hop of zeros (on EmoDB clips padded by 0.4 s, 347
    samples on average, up to 2 069), which shows as -100 dB frames in every minimum and low
    percentile of the pooled features; and importing it loads numba (over a second per
    worker process on a busy machine) for what is a cumulative sum here (2.4 ms per EmoDB
    clip, as librosa's call).

    All-silent audio and clips no longer than one frame are returned unchanged (there is
    nothing louder to keep). ``y`` is ``(n,)`` or ``(channels, n)`` (the power of the channel
    mean is used). ``hop`` is accepted for compatibility and ignored.
    """
    y = np.asarray(y)
    power = y * y if y.ndim == 1 else (y * y).mean(axis=0)
    n = power.shape[-1]
    fl = max(1, int(round(frame * sr)))
    if n <= fl:
        return y
    cs = np.empty(n + 1)
    cs[0] = 0.0
    np.cumsum(power, dtype=np.float64, out=cs[1:])
    energy = cs[fl:] - cs[:-fl]  # fl x the mean power of samples i .. i + fl - 1
    peak = energy.max() / fl
    if peak <= 0:
        return y
    floor = peak * 10 ** (-float(top_db) / 10)
    above = energy > floor * fl
    a = int(np.argmax(above))
    b = len(above) - int(np.argmax(above[::-1])) + fl - 1  # end of the last loud window
    lo, hi = max(0, a - fl), min(n, b + fl)
    loud = power[lo:hi] >= floor  # never all False: the loudest window is inside
    return y[..., lo + int(np.argmax(loud)) : hi - int(np.argmax(loud[::-1]))]


#: the values of ``normalize`` ("none" is None, for TOML specs, which have no null)
NORMALIZE_CHOICES = (None, "none", "peak", "loudness")


def _normalize(y: np.ndarray, how: str | None, p: Path) -> np.ndarray:
    if how is None or how == "none":
        return y
    if how == "peak":
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        return y / peak if peak > 0 else y
    if how == "loudness":
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
        return y * (10 ** (LOUDNESS_TARGET_DBFS / 20) / rms) if rms > 0 else y
    raise ConfigError(f"normalize={how!r} is not valid; use None ('none'), 'peak' or 'loudness'")


def load_audio(
    path: str | os.PathLike,
    *,
    sr: int | None = 16000,
    mono: bool = True,
    start: float | None = None,
    end: float | None = None,
    trim: bool = False,
    top_db: float = 40.0,
    normalize: str | None = None,
    dtype=np.float32,
) -> np.ndarray:
    """Decode ``path`` (or its ``[start, end)`` segment, in seconds) at ``sr`` Hz.

    soundfile reads only the segment's frames (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1, ...);
    other formats go through librosa/audioread when a backend exists. Channels are averaged
    (``mono=False`` returns ``(channels, n)``), the rate converted with soxr 'HQ' (``sr=None``
    keeps the native rate), leading/trailing silence cut with ``trim`` (frames ``top_db`` below
    the loudest: :func:`trim_silence`), and the level scaled with ``normalize`` (``"peak"``:
    max |y| = 1; ``"loudness"``: RMS at -23 dBFS; None or ``"none"``: as decoded), in that
    order, so the level is that of what is kept. ``end`` past the file's end is clipped.

    Raises AudioError (one line naming the file) for anything that is not usable audio.
    """
    if normalize not in NORMALIZE_CHOICES:
        raise ConfigError(
            f"normalize={normalize!r} is not valid; use None ('none'), 'peak' or 'loudness'")
    if sr is not None and int(sr) <= 0:
        raise ConfigError(f"sr={sr} must be a positive sample rate (e.g. 16000) or None")
    y = _load(path, sr=sr, mono=mono, start=start, end=end, trim=trim, top_db=top_db,
              normalize=normalize)
    return np.asarray(y, dtype=dtype)


def _load(
    path, *, sr, mono=True, start=None, end=None, trim=False, top_db=40.0, normalize=None,
    max_seconds: float | None = None,
) -> np.ndarray | None:
    """:func:`load_audio`'s work; None (nothing decoded) if the segment exceeds ``max_seconds``.

    Formats soundfile cannot open are decoded whole, whatever their length.
    """
    p = _check_file(path)
    try:
        data, sr_native, offset_s = _read_soundfile(p, start, end, max_seconds)
    except _TooLong:
        return None
    except AudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - not a libsndfile format: try audioread
        logger.debug("%s: soundfile failed (%s); trying librosa/audioread", p, exc)
        _segment_frames(p, 1, None, start, end)  # validate the times only
        data, sr_native = _read_fallback(p, _as_seconds(start), _as_seconds(end), exc)
        offset_s = _as_seconds(start) or 0.0
    if data.shape[0] == 0:
        raise AudioError(
            f"{p}: no samples could be decoded from the requested segment; the file is truncated"
            " or start/end are wrong: re-export it or fix the manifest"
        )
    _check_finite(p, data, offset_s, sr_native)
    y = data
    if mono:  # one channel: the column itself (a mean over one column costs 40 us a clip)
        y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    target = sr_native if sr is None else int(sr)
    y = _resample(np.ascontiguousarray(y), sr_native, target)
    if not mono:
        y = np.ascontiguousarray(y.T)
    if trim:
        y = trim_silence(y, target, top_db=top_db)
    return _normalize(y, normalize, p)


def iter_windows(
    y: np.ndarray, sr: int, *, window: float = 30.0, hop: float | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start_seconds, view)`` windows of ``window`` s every ``hop`` s (default: window).

    The last window holds the remainder and may be shorter; a signal shorter than one window is
    one window. Views, not copies.
    """
    w = int(round(float(window) * sr))
    h = w if hop is None else int(round(float(hop) * sr))
    if w < 1 or h < 1:
        raise ConfigError(f"window={window} and hop={hop} must be positive durations in seconds")
    n = y.shape[-1]
    s = 0
    while True:
        yield s / sr, y[..., s : s + w]
        if s + w >= n:
            return
        s += h


def load_windows(
    path: str | os.PathLike,
    *,
    sr: int = 16000,
    window: float = 30.0,
    hop: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Stream a long file as mono float32 windows ``(start_seconds, y)`` at ``sr`` Hz.

    Decodes ``STREAM_BLOCK_SECONDS`` at a time with soundfile and resamples with a streaming
    soxr resampler, so memory stays at a few windows whatever the file's length (hours are fine).
    Times are relative to ``start``. Formats soundfile cannot read are loaded whole and cut.
    """
    import soundfile as sf
    import soxr

    w = int(round(float(window) * sr))
    h = w if hop is None else int(round(float(hop) * sr))
    if w < 1 or h < 1:
        raise ConfigError(f"window={window} and hop={hop} must be positive durations in seconds")
    if h > w:
        raise ConfigError(f"hop={hop} must not exceed window={window} (no gaps when streaming)")
    p = _check_file(path)
    try:
        info = audio_info(p)
    except AudioError:
        y = load_audio(p, sr=sr, start=start, end=end)
        yield from iter_windows(y, sr, window=window, hop=hop)
        return
    a, b = _segment_frames(p, info.samplerate, info.frames, start, end)
    b = info.frames if b is None else b
    block = max(1, int(STREAM_BLOCK_SECONDS * info.samplerate))
    stream = (
        None
        if info.samplerate == sr
        else soxr.ResampleStream(info.samplerate, sr, 1, dtype="float32", quality="HQ")
    )
    buf = np.zeros(0, dtype=np.float32)
    emitted = 0  # samples (at sr) before buf[0]
    got_any = False
    with sf.SoundFile(str(p)) as f:
        f.seek(a)
        pos = a
        while pos < b:
            n = min(block, b - pos)
            data = f.read(n, dtype="float32", always_2d=True)
            if data.shape[0] == 0:
                break
            _check_finite(p, data, pos / info.samplerate, info.samplerate)
            pos += data.shape[0]
            x = data.mean(axis=1)
            last = pos >= b or data.shape[0] < n
            if stream is not None:
                x = stream.resample_chunk(np.ascontiguousarray(x), last=last)
            buf = np.concatenate([buf, x]) if buf.size else x
            got_any = True
            while buf.size >= w:
                yield emitted / sr, buf[:w]
                buf = buf[h:]
                emitted += h
            if last:
                break
    if not got_any:
        raise AudioError(f"{p}: no samples could be decoded; the file is truncated: re-export it")
    # the remainder (shorter than a window) is yielded unless the windows already covered it
    covered = emitted - h + w if emitted else 0
    if buf.size and (emitted == 0 or emitted + buf.size > covered):
        yield emitted / sr, buf
