"""Emotion over a stream of audio: a pipe, stdin, a microphone; one result per window.

* :func:`open_stream` (``_pcm``): raw PCM (s16le, s24le, s32le, f32le; rate and channels
  given) or a WAV stream (its header read, an unknown length allowed) from a binary file
  object, as float32 chunks;
* :func:`microphone_chunks` (``_mic``): the same from a microphone, through the optional
  ``sounddevice`` package (``pip install 'emoclassic[mic]'``);
* :func:`stream_predictions` (``_run``): a warm :class:`~emoclassic.Recognizer` over the
  chunks, one dict per complete window as soon as it is whole, the numbers of
  ``predict --window W --hop H`` for the same windows.

``emoclassic stream`` is the command-line face (docs/streaming.md):

>>> import sys                                                            # doctest: +SKIP
>>> from emoclassic import Recognizer
>>> from emoclassic.stream import open_stream, stream_predictions
>>> audio = open_stream(sys.stdin.buffer, rate=16000, sample_format="s16le")
>>> for line in stream_predictions(Recognizer.load("model.joblib"), audio, audio.sr,
...                                window=2, hop=0.5):
...     print(line["start"], line["label"])
"""

from __future__ import annotations

from ._mic import microphone_chunks
from ._pcm import (
    CONTAINERS,
    RAW_DEFAULTS,
    SAMPLE_FORMATS,
    AudioFormat,
    AudioStream,
    PCMDecoder,
    open_stream,
)
from ._run import MAX_BATCH, StreamPredictions, check_stream_model, stream_predictions

__all__ = [
    "CONTAINERS",
    "MAX_BATCH",
    "RAW_DEFAULTS",
    "SAMPLE_FORMATS",
    "AudioFormat",
    "AudioStream",
    "PCMDecoder",
    "StreamPredictions",
    "check_stream_model",
    "microphone_chunks",
    "open_stream",
    "stream_predictions",
]
