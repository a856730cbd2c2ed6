"""Predictions over a stream of audio: one result per complete window, as soon as it is whole.

:func:`stream_predictions` takes a warm :class:`~emoclassic.Recognizer` and an iterable of
sample chunks (from :func:`~emoclassic.stream.open_stream`, the microphone, or anything else),
cuts the complete windows with :class:`emoclassic._windows.StreamWindows` (the bounds
``predict --window W --hop H`` gives a file, without the rest after the last complete window,
which a stream cannot know to be the last) and predicts each window on its own, so the
numbers are those ``predict`` prints for the same windows of the same audio.

How it keeps up: the chunks are read in a background thread, and the windows completed by
everything that has arrived are predicted together (at most :data:`MAX_BATCH` rows a call).
Live audio arrives slower than it is predicted, so each call holds the one window just
completed and it is emitted at once; audio piped from a file arrives faster, and the calls
grow, sharing the per-call work (the manifest, the model's steps, the detector) among their
windows.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .._windows import StreamWindows, check_windows
from ..audio._io import integer_pcm_to_float
from ..exceptions import DataError, EmoclassicError

__all__ = ["MAX_BATCH", "StreamPredictions", "check_stream_model", "stream_predictions"]

logger = logging.getLogger(__name__)

#: Most windows predicted in one call (calls of up to 64 rows run BLAS on one thread).
MAX_BATCH = 32
#: Chunks the reader thread may hold ahead of the predictions.
_AHEAD = 256


class _Prefetch:
    """Consume ``chunks`` in a daemon thread; hand over everything that has arrived at once."""

    _END = object()

    def __init__(self, chunks: Iterable[Any]) -> None:
        self._chunks = chunks
        self._queue: queue.Queue = queue.Queue(maxsize=_AHEAD)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emoclassic-stream-reader",
                                        daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        it = iter(self._chunks)
        try:
            for chunk in it:
                if not self._put(("chunk", chunk)):
                    break
            else:
                self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - raised again in the reading thread
            self._put(("error", exc))
        finally:
            close = getattr(it, "close", None)
            if callable(close):
                close()  # a generator's clean-up (a device stream) runs in its own thread

    def batches(self) -> Iterator[tuple[list[Any], BaseException | None, bool]]:
        """``(chunks, error, ended)``: all chunks that have arrived (waiting for one), the
        error the source raised after them, whether the source is done."""
        while True:
            items = [self._queue.get()]
            while items[-1][0] == "chunk":
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            chunks = [v for kind, v in items if kind == "chunk"]
            kind, value = items[-1]
            if kind == "chunk":
                yield chunks, None, False
            else:
                yield chunks, value if kind == "error" else None, True
                return

    def close(self) -> None:
        """Stop the reader; wait a little for it, so a device is closed before the process
        ends (a reader blocked on a pipe that sends nothing is left, a daemon)."""
        self.stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=0.5)


def _mono(chunk: Any) -> np.ndarray:
    """A chunk as mono float32: 1-D as it is, 2-D ``(frames, channels)`` averaged over the
    channels in float32 (as a decoded file's are); integer PCM scaled from its type's range."""
    y = np.asarray(chunk)
    if y.dtype.kind in "iu":
        y = integer_pcm_to_float(y)
    elif y.dtype.kind != "f":
        raise DataError(f"stream: a chunk of type {y.dtype} is not audio; give float or integer "
                        "samples")
    if y.ndim == 2:
        y = y.astype(np.float32, copy=False)
        return y[:, 0] if y.shape[1] == 1 else y.mean(axis=1)
    if y.ndim != 1:
        raise DataError(f"stream: a chunk of shape {y.shape} is not audio; give 1-D samples or "
                        "2-D (frames, channels)")
    return y.astype(np.float32, copy=False)


def _limited(chunks: Iterable[Any], frames: int) -> Iterator[Any]:
    """The first ``frames`` frames of ``chunks``."""
    left = frames
    it = iter(chunks)
    try:
        while left > 0:  # no read past the limit: a live source may not send more for a while
            chunk = next(it, None)
            if chunk is None:
                return
            n = int(np.shape(chunk)[0])
            yield chunk if n <= left else chunk[:left]
            left -= n
    finally:
        close = getattr(it, "close", None)
        if callable(close):
            close()  # a device stream stops recording


class _QuietOOD(logging.Filter):
    """Drops prediction's per-call out-of-distribution warning in the stream's thread (the
    stream says it once; every window carries its flag)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread == self.thread and "out_of_distribution" in str(record.msg))


class StreamPredictions:
    """The iterator :func:`stream_predictions` returns: one dict per complete window, and
    counts of what went by (``seconds`` of audio read, ``n_windows`` emitted, ``failures``
    (:class:`~emoclassic.features.Failure` records of windows that could not be predicted),
    ``n_out_of_distribution``)."""

    def __init__(
        self,
        recognizer: Any,
        chunks: Iterable[Any],
        sr: int,
        *,
        window: float = 2.0,
        hop: float | None = None,
        smooth: int | None = None,
        text: str | None = None,
        duration: float | None = None,
        max_batch: int = MAX_BATCH,
        on_failure: Callable[[Any], None] | None = None,
    ) -> None:
        if window is None:
            raise DataError("window=None: a stream needs a window length (e.g. --window 2)")
        window, hop, smooth = check_windows(window, hop, smooth)
        check_stream_model(recognizer, text)
        self.recognizer = recognizer
        self.cutter = StreamWindows(sr, window, hop)  # checks sr
        self.sr, self.hop = self.cutter.sr, self.cutter.hop
        self.window, self.smooth = window, smooth
        self.text = text
        if duration is not None:
            if isinstance(duration, bool) or not (isinstance(duration, (int, float))
                                                  and duration > 0):  # fmt: skip
                raise DataError(f"duration={duration!r}: give a positive number of seconds "
                                "(e.g. --duration 60)")
            chunks = _limited(chunks, int(round(duration * self.sr)))
        self._chunks = chunks
        self.max_batch = max(1, int(max_batch))
        self.on_failure = on_failure or _log_failure
        self.seconds = 0.0
        self.n_windows = 0
        self.n_out_of_distribution = 0
        self.failures: list[Any] = []
        self._frames = 0
        self._recent: deque = deque(maxlen=smooth)
        self._gen: Iterator[dict] | None = None

    def __iter__(self) -> StreamPredictions:
        return self

    def __next__(self) -> dict:
        if self._gen is None:
            self._gen = self._run()
        return next(self._gen)

    def close(self) -> None:
        """Stop reading (the source's thread ends at its next chunk)."""
        if self._gen is not None:
            self._gen.close()

    # -- the loop ---------------------------------------------------------------------------
    def _run(self) -> Iterator[dict]:
        source = _Prefetch(self._chunks)
        try:
            for chunks, error, _ in source.batches():
                if chunks:
                    y = _mono(chunks[0]) if len(chunks) == 1 else np.concatenate(
                        [_mono(c) for c in chunks])
                    self._frames += len(y)
                    self.seconds = self._frames / self.sr
                    windows = self.cutter.push(y)
                    for k in range(0, len(windows), self.max_batch):
                        yield from self._predict(windows[k:k + self.max_batch])
                if error is not None:
                    raise error
        finally:
            source.close()

    def _predict(self, windows: list[tuple[float, float, np.ndarray]]) -> Iterator[dict]:
        from ..audio._base import Waveform
        from ..data._inputs import manifest_from_rows
        from ..features import Failure

        rows, bad = [], {}
        for a, b, samples in windows:
            name = f"{a:g}-{b:g}s"
            try:
                wave = Waveform.from_array(samples, self.sr, name=name)
            except EmoclassicError as exc:  # NaN samples: this window fails, not the stream
                bad[name] = Failure(id=name, path=None, block=None, message=str(exc))
                continue
            rows.append({"id": name, "path": None, "text": self.text, "waveform": wave})
        items = iter(())
        if rows:
            quiet = _QuietOOD()
            log = logging.getLogger("emoclassic.prediction")
            log.addFilter(quiet)
            try:
                items = iter(self.recognizer.predict_manifest(manifest_from_rows(rows)))
            finally:
                log.removeFilter(quiet)
        for a, b, _ in windows:
            name = f"{a:g}-{b:g}s"
            item = bad.get(name) or next(items)
            if isinstance(item, Failure):
                self.failures.append(item)
                self.on_failure(item)
                continue
            yield self._line(a, b, item)

    def _line(self, a: float, b: float, p: Any) -> dict:
        probs = p.probabilities
        label, low = p.label, p.low_confidence
        if self.smooth > 1:
            from ..prediction import top_label

            self._recent.append(np.fromiter(probs.values(), dtype=float, count=len(probs)))
            mean = np.mean(self._recent, axis=0)
            names = list(probs)
            probs = {k: round(float(v), 6) for k, v in zip(names, mean, strict=True)}
            label = top_label(names, mean, self.recognizer.abstain_below)
            low = bool(float(mean.max()) < self.recognizer.low_confidence)
        line = {"start": a, "end": b, "label": label, "probabilities": probs,
                "out_of_distribution": p.out_of_distribution, "ood_score": p.ood_score,
                "ood_threshold": p.ood_threshold, "low_confidence": low}
        if p.attention is not None:
            line["attention"] = dict(p.attention)
        self.n_windows += 1
        if p.out_of_distribution:
            if not self.n_out_of_distribution:
                logger.warning(
                    "window %g-%g s lies outside the model's training data (out_of_distribution:"
                    " ood_score %.2f above %.2f; e.g. silence, noise, music or audio unlike the "
                    "corpus), so its label is a guess; later ones are flagged in their lines "
                    "only", a, b, p.ood_score, p.ood_threshold)
            self.n_out_of_distribution += 1
        return line


def _log_failure(failure: Any) -> None:
    logger.warning("window %s could not be predicted: %s", failure.id, failure.message)


def check_stream_model(recognizer: Any, text: str | None) -> None:
    """Refuse a model a stream cannot feed (one-line :class:`DataError`): text only, text
    without a transcript, speaker normalisation."""
    modalities = set(recognizer.modalities)
    if modalities and "audio" not in modalities:
        raise DataError("the model reads only transcripts (modalities: "
                        f"{', '.join(sorted(modalities))}); a stream needs a model that reads "
                        "audio")
    if "text" in modalities and (not isinstance(text, str) or not text.strip()):
        raise DataError("the model reads transcripts too (modalities: "
                        f"{', '.join(sorted(modalities))}); give the transcript with --text or "
                        "--text-file (the same text for every window; live transcripts come "
                        "from your speech recogniser)")
    if recognizer.info.get("speaker_normalization"):
        raise DataError("the model normalises features per speaker (speaker_normalization=true),"
                        " which needs several recordings of each new speaker; a stream cannot "
                        "give them: use a model fitted without it, or emoclassic predict "
                        "--speaker on recordings")


def stream_predictions(
    recognizer: Any,
    chunks: Iterable[Any],
    sr: int,
    *,
    window: float = 2.0,
    hop: float | None = None,
    smooth: int | None = None,
    text: str | None = None,
    duration: float | None = None,
    max_batch: int = MAX_BATCH,
    on_failure: Callable[[Any], None] | None = None,
) -> StreamPredictions:
    """Predict every complete window of a stream of audio, each as soon as it is whole.

    ``chunks``: sample arrays at ``sr`` Hz, in order, of any length: 1-D mono, or 2-D
    ``(frames, channels)`` (averaged to mono in float32, as a decoded file's channels are);
    float in [-1, 1], integer PCM scaled from its type's range. ``window`` and ``hop`` (default:
    ``window``) in seconds follow :func:`emoclassic._windows.window_bounds`; the rest after the
    last complete window is not predicted. ``smooth=K`` averages each window's probabilities
    with the ``K - 1`` windows before it (label and ``low_confidence`` follow; the
    out-of-distribution keys stay the window's own), as ``predict --smooth K`` does.
    ``text``: the transcript for a model that reads text, the same for every window.
    ``duration``: stop after this many seconds of audio.

    Yields, per window, ``{"start", "end", "label", "probabilities", "out_of_distribution",
    "ood_score", "ood_threshold", "low_confidence"}`` (and ``"attention"`` for an attention
    model): the keys and numbers of a window of ``predict --format json``. A window that cannot
    be predicted (NaN samples) is handed to ``on_failure`` (default: a logged warning) and the
    stream goes on; an error of the source (a malformed stream) is raised after the windows
    before it. A model the stream cannot feed (text only, text without ``text``, speaker
    normalisation) raises :class:`DataError` here, before anything is read.
    """
    return StreamPredictions(recognizer, chunks, sr, window=window, hop=hop, smooth=smooth,
                             text=text, duration=duration, max_batch=max_batch,
                             on_failure=on_failure)
