"""``emoclassic stream``: emotion per window of live audio from stdin or a microphone, one JSON
line per complete window, each as soon as the window is whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._app import EXIT_OK, EXIT_PARTIAL, _examples, app
from ._options import (
    LOW_CONFIDENCE,
    AbstainBelow,
    LowConfidence,
    ModelOpt,
    RunArgs,
    Trust,
    shared_options,
)
from ._output import _say


def _emit(line: dict) -> None:
    """One JSON line on stdout, flushed: a reader sees each window as soon as it is done."""
    out = sys.stdout
    out.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
    out.flush()


@app.command(
    epilog=_examples(
        "arecord -f S16_LE -r 16000 -c 1 -t raw | emoclassic stream --model model.joblib "
        "--window 2 --hop 0.5",
        "ffmpeg -i talk.mp3 -f s16le -ac 1 -ar 16000 - | emoclassic stream --model model.joblib",
        "ffmpeg -i talk.mp3 -f wav - | emoclassic stream --model model.joblib --smooth 3",
        "cat call.wav | emoclassic stream --model model.joblib --window 2 --hop 0.5",
        "emoclassic stream --model model.joblib --mic --duration 60",
    )
)
@shared_options()
def stream(
    model: ModelOpt,
    *,
    window: Annotated[float, typer.Option(help="Window length in seconds.",
                                          metavar="SECONDS")] = 2.0,
    hop: Annotated[float | None, typer.Option(help="Seconds from one window's start to the "
                                              "next (default: the window length; smaller "
                                              "overlaps windows).", metavar="SECONDS")] = None,
    smooth: Annotated[int | None, typer.Option(help="Average each window's probabilities "
                                               "with the K-1 windows before it (default: "
                                               "off).", metavar="K")] = None,
    input_format: Annotated[str, typer.Option(
        "--input-format", help="What stdin holds: auto (a WAV stream when it starts with a "
        "RIFF header, else raw PCM), raw or wav.", metavar="auto|raw|wav")] = "auto",
    rate: Annotated[int | None, typer.Option(help="Sample rate of raw PCM in Hz (default "
                                             "16000; a WAV stream says its own).",
                                             metavar="HZ")] = None,
    channels: Annotated[int | None, typer.Option(help="Interleaved channels of raw PCM "
                                                 "(default 1; averaged to mono).",
                                                 metavar="N")] = None,
    sample_format: Annotated[str | None, typer.Option(help="Samples of raw PCM: s16le "
                                                      "(default), s24le, s32le or f32le.",
                                                      metavar="FMT")] = None,
    text: Annotated[str | None, typer.Option(help="Transcript for a model that reads text, "
                                             "used for every window (live transcripts come "
                                             "from your speech recogniser).")] = None,
    text_file: Annotated[Path | None, typer.Option(help="File holding that transcript.",
                                                   metavar="F")] = None,
    mic: Annotated[bool, typer.Option("--mic", help="Record from a microphone instead of "
                                      "stdin (needs pip install 'emoclassic[mic]').")] = False,
    device: Annotated[str | None, typer.Option(help="With --mic: the input device's index or "
                                               "name (python -m sounddevice lists them).",
                                               metavar="DEVICE")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds of "
                                                   "audio (default: at the end of the input; "
                                                   "Ctrl-C ends --mic).",
                                                   metavar="SECONDS")] = None,
    low_confidence: LowConfidence = LOW_CONFIDENCE,
    abstain_below: AbstainBelow = None,
    trust: Trust = False,
    run: RunArgs,
) -> int:
    """Predict the emotion of live audio, window by window, from stdin or a microphone.

    Reads raw PCM (--rate, --channels, --sample-format) or a WAV stream (its length may be
    unknown, as ffmpeg writes to a pipe) and writes one JSON line per complete window to
    stdout as soon as it is whole: start, end, label, probabilities, out_of_distribution,
    ood_score, ood_threshold, low_confidence (attention for attention models); the numbers
    of `emoclassic predict --window W --hop H` for the same windows. The rest after the last
    complete window is not predicted. Logs go to stderr. Exits 0 at the end of the input
    (1: some windows could not be predicted, listed; 2: bad input, after the windows before
    it). See docs/streaming.md.
    """
    from .._windows import check_windows
    from ..exceptions import ConfigError
    from ._predict import _read_text_file

    check_windows(window, hop, smooth)  # bad options fail before the model is loaded
    if text is not None and text_file is not None:
        raise ConfigError("give the transcript once: --text or --text-file, not both")
    if text_file is not None:
        text = _read_text_file(text_file)
    if mic and (input_format != "auto" or sample_format is not None):
        raise ConfigError("--input-format and --sample-format describe stdin; --mic records "
                          "float samples itself (give --rate/--channels if needed)")
    if device is not None and not mic:
        raise ConfigError("--device chooses a microphone: give --mic too")
    if duration is not None and not duration > 0:
        raise ConfigError(f"--duration {duration:g}: give a positive number of seconds "
                          "(e.g. --duration 60)")

    from ..stream._pcm import check_format

    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    if not mic and (stdin is None or stdin.isatty()):
        raise ConfigError("stdin is a terminal, not audio: pipe audio in (e.g. arecord -f S16_LE "
                          "-r 16000 -c 1 -t raw | emoclassic stream --model M) or record with "
                          "--mic")
    if mic:
        from ..stream._mic import _sounddevice

        fmt = check_format(rate, channels, "f32le", name="--mic")
        _sounddevice()  # missing: one line naming the install, before the model is loaded
    from ..recognizer import Recognizer
    from ..stream import check_stream_model, microphone_chunks, open_stream, stream_predictions

    rec = Recognizer.load(model, trust=trust, low_confidence=low_confidence,
                          abstain_below=abstain_below)
    check_stream_model(rec, text)  # before waiting for audio
    if mic:
        chunks, sr = microphone_chunks(fmt.sr, fmt.channels, device=device), fmt.sr
        name = "the default input" if device is None else f"input {device}"
        what = f"from the microphone ({name}, {fmt.sr} Hz, {fmt.channels} channel(s))"
    else:
        audio = open_stream(stdin, container=input_format, rate=rate,
                            channels=channels, sample_format=sample_format)
        chunks, sr = audio, audio.sr
        what = f"stdin ({audio.format.describe()})"
    lines = stream_predictions(rec, chunks, sr, window=window, hop=hop, smooth=smooth,
                               text=text, duration=duration)
    step = f" every {lines.hop:g} s" if lines.hop != lines.window else ""
    _say(f"streaming {what}: {lines.window:g} s windows{step} with {model.name} ...")
    try:
        for line in lines:
            _emit(line)
    except KeyboardInterrupt:
        if not mic:
            raise
        lines.close()  # Ctrl-C is how a recording ends
    ood = (f", {lines.n_out_of_distribution} out of distribution"
           if lines.n_out_of_distribution else "")  # fmt: skip
    _say(f"{lines.n_windows} window(s) from {lines.seconds:.1f} s of audio{ood}")
    if lines.failures:  # each was logged when it happened
        typer.echo(f"{len(lines.failures)} window(s) could not be predicted (listed above)",
                   err=True)
        return EXIT_PARTIAL
    return EXIT_OK
