"""Audio arriving on a byte stream (a pipe, stdin, a socket file): raw PCM or a WAV stream.

:func:`open_stream` reads the start of a binary file object, decides what it holds (a WAV
header, or raw PCM as described by the caller) and returns an :class:`AudioStream`: its
:class:`AudioFormat` and an iterator of float32 chunks of shape ``(frames, channels)``, each
as soon as the bytes are there (``read1``: whatever the pipe holds, without waiting for a full
buffer), so live audio is not held back.

Samples are scaled as libsndfile scales a decoded file's (integers divided by their type's full
range, in float32; float samples as they are), so the samples of a stream are those of the same
audio read from a file, bit for bit.

A WAV stream written to a pipe (``ffmpeg ... -f wav -``) cannot say its length: its RIFF and data
sizes are 0 or 0xFFFFFFFF (or the RF64 form), and the data then runs to the end of the stream. A
stated data length is honoured (what follows it is not audio). Errors are one-line
:class:`~emoclassic.exceptions.AudioError`: a header that is not WAV or holds an encoding this
module does not decode, a stream that ends inside a sample frame (an odd byte count for s16le),
a sample rate or channel count out of range.

A leaf beside the library: numpy and :mod:`emoclassic.exceptions` only.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ..exceptions import AudioError

__all__ = [
    "CONTAINERS",
    "SAMPLE_FORMATS",
    "AudioFormat",
    "AudioStream",
    "PCMDecoder",
    "open_stream",
]

logger = logging.getLogger(__name__)

#: What ``container`` may be: decide from the first bytes, raw PCM, or a WAV stream.
CONTAINERS = ("auto", "raw", "wav")
#: Raw PCM sample formats: little-endian signed 16/24/32-bit integers, 32-bit float.
SAMPLE_FORMATS = ("s16le", "s24le", "s32le", "f32le")
#: Defaults for raw PCM when the caller says nothing (what ``arecord -f S16_LE -r 16000`` gives).
RAW_DEFAULTS = {"rate": 16000, "channels": 1, "sample_format": "s16le"}
#: Sample rates and channel counts accepted (outside them the numbers are surely wrong).
MIN_RATE, MAX_RATE, MAX_CHANNELS = 1000, 768000, 64
#: Bytes asked of the stream per read (``read1`` returns sooner with what is there).
CHUNK_BYTES = 1 << 16

_BYTES = {"s16le": 2, "s24le": 3, "s32le": 4, "f32le": 4}
_UNKNOWN_LENGTHS = (0, 0xFFFFFFFF)
# WAVE_FORMAT_EXTENSIBLE's sub-format GUIDs start with the plain format tag
_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE


def _s16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) * np.float32(1 / 32768)


def _s24(data: bytes) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
    v = ((b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)).view(np.int32)
    return v.astype(np.float32) * np.float32(1 / 2147483648)  # as libsndfile: left-justified


def _s32(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i4").astype(np.float32) * np.float32(1 / 2147483648)


def _f32(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)  # a copy: the bytes are freed


_DECODERS: dict[str, Callable[[bytes], np.ndarray]] = {
    "s16le": _s16, "s24le": _s24, "s32le": _s32, "f32le": _f32}


@dataclass(frozen=True)
class AudioFormat:
    """What a stream holds: ``sr`` Hz, ``channels`` interleaved, ``sample_format`` (one of
    :data:`SAMPLE_FORMATS`), in a ``container`` (``raw`` or ``wav``)."""

    sr: int
    channels: int
    sample_format: str
    container: str = "raw"

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame (one sample of every channel)."""
        return _BYTES[self.sample_format] * self.channels

    def describe(self) -> str:
        kind = "a WAV stream" if self.container == "wav" else "raw PCM"
        return (f"{kind}: {self.sample_format}, {self.sr} Hz, {self.channels} "
                f"channel{'s' if self.channels != 1 else ''}")


def check_format(rate, channels, sample_format, *, name: str = "stdin") -> AudioFormat:
    """Validate raw PCM parameters (None: the defaults of :data:`RAW_DEFAULTS`)."""
    rate = RAW_DEFAULTS["rate"] if rate is None else rate
    channels = RAW_DEFAULTS["channels"] if channels is None else channels
    sample_format = RAW_DEFAULTS["sample_format"] if sample_format is None else sample_format
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) \
            or not MIN_RATE <= rate <= MAX_RATE:  # fmt: skip
        raise AudioError(f"{name}: rate={rate!r} is not a sample rate; give the rate of the "
                         f"audio in Hz, {MIN_RATE}..{MAX_RATE} (e.g. --rate 16000)")
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) \
            or not 1 <= channels <= MAX_CHANNELS:  # fmt: skip
        raise AudioError(f"{name}: channels={channels!r}: give the number of interleaved "
                         f"channels, 1..{MAX_CHANNELS} (e.g. --channels 1)")
    if sample_format not in _BYTES:
        raise AudioError(f"{name}: sample format {sample_format!r} is not one of "
                         f"{', '.join(SAMPLE_FORMATS)}; e.g. --sample-format s16le")
    return AudioFormat(int(rate), int(channels), str(sample_format))


class PCMDecoder:
    """Bytes of interleaved PCM in, float32 ``(frames, channels)`` out; a frame split across
    two pieces is kept until its rest arrives, and :meth:`finish` refuses a stream that ends
    inside one."""

    def __init__(self, fmt: AudioFormat, *, name: str = "stdin") -> None:
        self.format = fmt
        self.name = name
        self._decode = _DECODERS[fmt.sample_format]
        self._frame = fmt.frame_bytes
        self._rest = b""
        self.frames = 0  # frames decoded so far

    def decode(self, data: bytes) -> np.ndarray:
        if self._rest:
            data = self._rest + data
        cut = len(data) - len(data) % self._frame
        self._rest = bytes(data[cut:]) if cut < len(data) else b""
        if not cut:
            return np.empty((0, self.format.channels), dtype=np.float32)
        y = self._decode(data[:cut] if cut < len(data) else data)
        self.frames += len(y) // self.format.channels
        return y.reshape(-1, self.format.channels)

    def finish(self) -> None:
        """The stream ended: refuse bytes left over that make no whole frame."""
        if self._rest:
            f = self.format
            raise AudioError(
                f"{self.name}: the stream ended inside a sample frame ({len(self._rest)} byte(s) "
                f"left over after {self.frames / f.sr:.3f} s; a frame of {f.sample_format} x "
                f"{f.channels} channel(s) is {self._frame} bytes): the audio was cut off, or "
                "--sample-format/--channels do not match it"
            )


class _Source:
    """A binary file object read in pieces as they come, with bytes put back in front."""

    def __init__(self, file: BinaryIO, name: str) -> None:
        self.name = name
        self._read = getattr(file, "read1", None) or file.read
        self._ahead = b""

    def read_some(self, n: int = CHUNK_BYTES) -> bytes:
        """Up to ``n`` bytes, as soon as some are there; b"" at the end of the stream."""
        if self._ahead:
            data, self._ahead = self._ahead[:n], self._ahead[n:]
            return data
        return self._read(n) or b""

    def read_exact(self, n: int) -> bytes:
        """``n`` bytes, or fewer only at the end of the stream."""
        parts, got = [], 0
        while got < n:
            data = self.read_some(n - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        self._ahead = data + self._ahead


@dataclass
class AudioStream:
    """An audio stream being read: its :class:`AudioFormat` and, on iteration, float32 chunks
    of shape ``(frames, channels)`` (never empty), until the stream ends; a stream that ends
    inside a frame raises :class:`AudioError` after the last whole chunk."""

    format: AudioFormat
    source: _Source
    data_bytes: int | None = None  # the WAV header's data length (None: to the end)

    @property
    def sr(self) -> int:
        return self.format.sr

    @property
    def channels(self) -> int:
        return self.format.channels

    def __iter__(self) -> Iterator[np.ndarray]:
        decoder = PCMDecoder(self.format, name=self.source.name)
        left = self.data_bytes
        while left is None or left > 0:
            data = self.source.read_some(CHUNK_BYTES if left is None else min(CHUNK_BYTES, left))
            if not data:
                break
            if left is not None:
                left -= len(data)
            y = decoder.decode(data)
            if len(y):
                yield y
        if left:
            logger.warning("%s: the WAV stream ended %d byte(s) before the data length its header "
                           "states; using the audio that came", self.source.name, left)
        decoder.finish()


def open_stream(
    file: BinaryIO,
    *,
    container: str = "auto",
    rate: int | None = None,
    channels: int | None = None,
    sample_format: str | None = None,
    name: str = "stdin",
) -> AudioStream:
    """Start reading audio from the binary file object ``file`` (e.g. ``sys.stdin.buffer``).

    ``container``: ``"wav"`` (a WAV header, read here; it gives the rate, channels and
    encoding), ``"raw"`` (interleaved PCM of ``rate`` Hz, ``channels`` and ``sample_format``;
    defaults :data:`RAW_DEFAULTS`) or ``"auto"`` (a stream that starts with ``RIFF``/``RF64`` is
    WAV, anything else raw). For a WAV stream, ``rate``/``channels``/``sample_format`` may be
    left None; when given they must match the header. Blocks until the header (or the first
    bytes, for ``auto``) has arrived. ``name`` names the stream in errors.
    """
    if container not in CONTAINERS:
        raise AudioError(f"{name}: input format {container!r} is not one of "
                         f"{', '.join(CONTAINERS)} (e.g. --input-format wav)")
    source = _Source(file, name)
    head = source.read_exact(4)
    source.unread(head)
    is_wav = head in (b"RIFF", b"RF64")
    if container == "auto":
        container = "wav" if is_wav else "raw"
    if container == "raw":
        fmt = check_format(rate, channels, sample_format, name=name)
        if is_wav:
            logger.warning("%s starts with a WAV header, but raw PCM was asked for: its header is "
                           "read as samples (leave --input-format out to read it as WAV)", name)
        return AudioStream(fmt, source)
    if not is_wav:
        shown = head.decode("latin-1").encode("unicode_escape").decode() if head else "nothing"
        raise AudioError(f"{name}: not a WAV stream (it starts with {shown!r}, not RIFF); for raw "
                         "PCM give --input-format raw with --rate/--channels/--sample-format")
    fmt, length = _read_wav_header(source)
    for asked, got, what in ((rate, fmt.sr, "rate"), (channels, fmt.channels, "channels"),
                             (sample_format, fmt.sample_format, "sample format")):
        if asked is not None and asked != got:
            option = "--sample-format" if what == "sample format" else f"--{what}"
            raise AudioError(f"{name}: the WAV stream's {what} is {got}, not {asked} as given "
                             f"({option}); leave {option} out for WAV input (the header says "
                             "it) or convert the audio")
    return AudioStream(fmt, source, length)


def _read_wav_header(source: _Source) -> tuple[AudioFormat, int | None]:
    """Read up to the start of the data chunk; return the format and the data length (None:
    unknown, read to the end of the stream)."""
    name = source.name

    def need(n: int, what: str) -> bytes:
        data = source.read_exact(n)
        if len(data) < n:
            raise AudioError(f"{name}: the stream ended inside the WAV header ({what}); send "
                             "the whole stream (e.g. ffmpeg -i IN -f wav -)")
        return data

    riff = need(12, "RIFF chunk")
    if riff[8:12] != b"WAVE":
        raise AudioError(f"{name}: a RIFF stream that is not WAVE ({riff[8:12]!r}); send a WAV "
                         "stream or raw PCM (--input-format raw)")
    rf64 = riff[:4] == b"RF64"
    fmt: AudioFormat | None = None
    ds64_data: int | None = None
    while True:
        head = need(8, "chunk header")
        chunk, size = head[:4], struct.unpack("<I", head[4:])[0]
        if chunk == b"data":
            if fmt is None:
                raise AudioError(f"{name}: the WAV stream has no 'fmt ' chunk before its data; "
                                 "re-export it")
            if rf64:
                length = ds64_data if ds64_data else None
            else:
                length = None if size in _UNKNOWN_LENGTHS else size
            return fmt, length
        if size == 0xFFFFFFFF:
            raise AudioError(f"{name}: WAV chunk {chunk!r} of unknown length before the data; "
                             "re-export the stream")
        body = need(size + (size & 1), f"{chunk.decode('latin-1')!r} chunk")  # padded to even
        if chunk == b"fmt ":
            fmt = _wav_format(body[:size], name)
        elif chunk == b"ds64" and size >= 16:
            ds64_data = struct.unpack("<Q", body[8:16])[0]


def _wav_format(body: bytes, name: str) -> AudioFormat:
    if len(body) < 16:
        raise AudioError(f"{name}: the WAV stream's 'fmt ' chunk is {len(body)} bytes, too short; "
                         "re-export it")
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID's first two bytes
    sample_format = {(_PCM, 16): "s16le", (_PCM, 24): "s24le", (_PCM, 32): "s32le",
                     (_FLOAT, 32): "f32le"}.get((tag, bits))  # fmt: skip
    if sample_format is None:
        what = {_PCM: "PCM", _FLOAT: "float", 0x0006: "A-law", 0x0007: "mu-law",
                0x0011: "IMA ADPCM", 0x0002: "MS ADPCM"}.get(tag, f"format tag 0x{tag:04x}")
        raise AudioError(
            f"{name}: the WAV stream's encoding ({what}, {bits} bits) is not supported; send "
            "16-, 24- or 32-bit PCM or 32-bit float (e.g. ffmpeg -i IN -c:a pcm_s16le -f wav -)")
    try:
        fmt = check_format(rate, channels, sample_format, name=name)
    except AudioError as exc:
        raise AudioError(f"{exc} (from the WAV header)") from None
    fmt = AudioFormat(fmt.sr, fmt.channels, fmt.sample_format, "wav")
    if block != fmt.frame_bytes:
        raise AudioError(f"{name}: the WAV header's block size ({block} bytes) does not match "
                         f"{channels} channel(s) of {bits} bits; re-export the stream")
    return fmt
