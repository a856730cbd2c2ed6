"""Audio from a microphone, through the optional ``sounddevice`` package (PortAudio).

``pip install 'emoclassic[mic]'`` installs sounddevice; it also needs the system's PortAudio
library (``apt install libportaudio2``, ``brew install portaudio``; the Windows and macOS wheels
bring their own). Without it, :func:`microphone_chunks` raises one-line
:class:`~emoclassic.exceptions.ConfigError` naming the install command.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import numpy as np

from ..exceptions import AudioError, ConfigError

__all__ = ["microphone_chunks"]

logger = logging.getLogger(__name__)

#: Seconds of audio per read from the device: how often a chunk reaches the windows.
BLOCK_SECONDS = 0.1

_INSTALL = ("--mic needs the sounddevice package and the system's PortAudio library: "
            "pip install 'emoclassic[mic]' (and e.g. apt install libportaudio2); or pipe the "
            "audio in: arecord -f S16_LE -r 16000 -c 1 -t raw | emoclassic stream ...")


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the module is there, PortAudio is not
        why = "" if isinstance(exc, ImportError) else f" ({' '.join(str(exc).split())})"
        raise ConfigError(f"{_INSTALL}{why}") from None
    return sounddevice


def _device(device: str | int | None) -> str | int | None:
    """A device index given as text ("3") is an index; anything else a name (part of one)."""
    if isinstance(device, str) and device.strip().isdigit():
        return int(device)
    return device


def microphone_chunks(
    rate: int = 16000,
    channels: int = 1,
    *,
    device: str | int | None = None,
    block_seconds: float = BLOCK_SECONDS,
    stop: threading.Event | None = None,
) -> Iterator[np.ndarray]:
    """Record from ``device`` (None: the system's default input; an index or a name) at
    ``rate`` Hz with ``channels`` channels and yield float32 ``(frames, channels)`` chunks of
    ``block_seconds``, until ``stop`` is set or the generator is closed.

    Samples the machine did not take in time are lost (PortAudio's input overflow): one
    warning says so. A device that cannot be opened raises one-line
    :class:`~emoclassic.exceptions.AudioError`.
    """
    sd = _sounddevice()
    blocksize = max(1, int(round(rate * block_seconds)))
    try:
        stream = sd.InputStream(samplerate=rate, channels=channels, dtype="float32",
                                device=_device(device), blocksize=blocksize)
        stream.start()
    except Exception as exc:  # noqa: BLE001 - PortAudioError, ValueError: one line each
        where = "the default input device" if device is None else f"input device {device!r}"
        raise AudioError(f"--mic: cannot record from {where} at {rate} Hz, {channels} "
                         f"channel(s): {' '.join(str(exc).split())}; list the devices with "
                         "python -m sounddevice and pick one with --device") from None
    warned = False
    try:
        while stop is None or not stop.is_set():
            data, overflowed = stream.read(blocksize)
            if overflowed and not warned:
                logger.warning("--mic: input overflow, some samples were lost (the machine "
                               "predicts slower than real time: a longer --hop helps)")
                warned = True
            y = np.asarray(data, dtype=np.float32)
            if y.ndim == 1:
                y = y[:, None]
            if len(y):
                yield y
    finally:
        try:
            stream.stop()
        finally:
            stream.close()
