"""A saved model kept warm for applications: :class:`Recognizer`.

``emoclassic predict`` is a cold process: it imports the libraries, loads and checks the model,
predicts, and exits. An application (a call-centre dashboard, a tutoring system, the
``stream`` command, a web server) predicts many clips with one model, so it wants the loading
and the inspection of the model done once, and each call to do only the clip's own work:

>>> rec = Recognizer.load("model.joblib")                          # doctest: +SKIP
>>> p = rec.predict_file("clip.wav", text="I can't believe it")     # doctest: +SKIP
>>> p.label, p.probabilities["anger"], p.top_k(2)                   # doctest: +SKIP

The results are the same objects ``predict --format json`` prints: :meth:`Prediction.to_dict`
is exactly one element of its ``predictions`` list, and :meth:`PredictionBatch.to_dict` the
whole document; everything goes through :func:`emoclassic.prediction.predict_manifest`'s code,
so the flags (``out_of_distribution``, ``low_confidence``), windows and attention weights are
those of the command line.

Single-item calls (:meth:`Recognizer.predict_file`, :meth:`~Recognizer.predict_array`,
:meth:`~Recognizer.predict_text`) raise one error (:class:`~emoclassic.exceptions.AudioError`
for audio that cannot be used, :class:`~emoclassic.exceptions.DataError` otherwise, one
line); batch calls (:meth:`~Recognizer.predict_files`, :meth:`~Recognizer.predict_manifest`)
report failures per item and predict the others, as the command line does.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from .audio._base import Waveform
from .data._inputs import manifest_from_rows
from .exceptions import AudioError, DataError
from .features import Failure
from .prediction import (
    AUTO_WINDOW_SECONDS,
    FLAG_KEYS,
    LOW_CONFIDENCE,
    PredictionResult,
    PreparedModel,
    _check_options,
    _predict,
)

__all__ = ["Prediction", "PredictionBatch", "Recognizer", "WindowPrediction"]

#: Calls with at most this many rows run BLAS and OpenMP on one thread: their matrix products
#: and neighbour searches are too small to share, and idle threads only wait on each other
#: (on a busy 2-core machine the detector's one-row neighbour search took 60 ms, not 1.5 ms).
ONE_THREAD_ROWS = 64
_LOCK = threading.Lock()
_ACTIVE: dict[str, Any] = {"calls": 0, "limit": None, "controller": None, "modules": 0}


def _take_blas_control() -> None:
    """Let the calling thread set OpenBLAS's pool (call under ``_LOCK``).

    threadpoolctl >= 3.8 lets only one thread set the process-wide pool of a pthreads
    OpenBLAS, the first one that did while alive, and silently ignores the others: once the
    main thread has set a limit (a warm-up, a batch), every call from a worker thread (a
    server's thread pool) ran BLAS on all cores, 3x slower on a loaded 2-core machine. The
    limit here is shared by all threads, so whichever sets or restores it takes control first.
    """
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:  # older threadpoolctl: any thread sets the pool
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """BLAS and OpenMP pools held to one thread while a call runs (threadpoolctl).

    BLAS limits are process-wide, so calls from several threads share one: the first call in
    sets it and the last one out restores it (nested limits left in another order than
    entered would leave the process at one thread for good). OpenMP limits belong to the
    calling thread, so each call sets and restores its own.
    """
    with _LOCK:
        # finding the pools costs milliseconds: again only when modules were imported since
        # (a model's first call may load torch and its own OpenMP)
        if _ACTIVE["controller"] is None or _ACTIVE["modules"] != len(sys.modules):
            import scipy.fft  # noqa: F401 - load every native pool before it looks
            from threadpoolctl import ThreadpoolController

            _ACTIVE["controller"] = ThreadpoolController()
            _ACTIVE["modules"] = len(sys.modules)
        controller = _ACTIVE["controller"]
        if _ACTIVE["calls"] == 0:
            _take_blas_control()
            _ACTIVE["limit"] = controller.limit(limits=1, user_api="blas")
        _ACTIVE["calls"] += 1
    own = controller.limit(limits=1, user_api="openmp")
    try:
        yield
    finally:
        own.restore_original_limits()
        with _LOCK:
            _ACTIVE["calls"] -= 1
            if _ACTIVE["calls"] == 0:
                _take_blas_control()
                _ACTIVE["limit"].restore_original_limits()
                _ACTIVE["limit"] = None


def _file_ids(path: str | os.PathLike) -> dict[str, str]:
    """``id`` (the path as given) and ``path`` (absolute), as the command line names a file."""
    p = Path(path).expanduser()
    return {"id": str(p), "path": str(p.resolve())}


def _top(probabilities: Mapping[str, float], k: int) -> list[tuple[str, float]]:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k={k!r}: give a whole number of classes >= 1 (e.g. top_k(3))")
    ranked = sorted(probabilities.items(), key=lambda kv: kv[1], reverse=True)
    return ranked[: int(k)]


@dataclass(frozen=True)
class WindowPrediction:
    """One window of a recording: its span in seconds, label, probabilities and trust flags
    (see :class:`Prediction`)."""

    start: float
    end: float
    label: str
    probabilities: dict[str, float]
    out_of_distribution: bool | None
    ood_score: float | None
    ood_threshold: float | None
    low_confidence: bool

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WindowPrediction:
        return cls(start=d["start"], end=d["end"], label=d["label"],
                   probabilities=dict(d["probabilities"]), **{k: d[k] for k in FLAG_KEYS})

    def to_dict(self) -> dict[str, Any]:
        """The window as in ``predict --format json`` (one element of a prediction's
        ``windows``)."""
        return {"start": self.start, "end": self.end, "label": self.label,
                "probabilities": dict(self.probabilities),
                **{k: getattr(self, k) for k in FLAG_KEYS}}

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable labels with their probabilities, most probable first."""
        return _top(self.probabilities, k)


@dataclass(frozen=True)
class Prediction:
    """The emotion of one recording (or text), with how far to trust it.

    ``label`` is the most probable class and ``probabilities`` every class's probability
    (rounded to 6 decimals, as printed). ``out_of_distribution`` (with ``ood_score`` and
    ``ood_threshold``) says the item lies outside the model's training data (None: the model
    has no detector); ``low_confidence`` that the top probability is below the recognizer's
    ``low_confidence``. ``windows`` holds the per-window results of a windowed recording
    (empty otherwise; the whole-recording result is then their mean), ``attention`` the weight
    each feature block got in an attention-fusion model (None for other models).
    ``window_failures`` lists windows that could not be computed (the others were used); it
    is not part of :meth:`to_dict`, which is exactly one element of ``predictions`` in
    ``emoclassic predict --format json``.
    """

    id: str
    path: str | None
    label: str
    probabilities: dict[str, float]
    out_of_distribution: bool | None
    ood_score: float | None
    ood_threshold: float | None
    low_confidence: bool
    windows: tuple[WindowPrediction, ...] = ()
    attention: dict[str, float] | None = None
    window_failures: tuple[Failure, ...] = field(default=(), repr=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], failures: Sequence[Failure] = ()) -> Prediction:
        """From one element of ``predictions`` (what :func:`predict_manifest` returns)."""
        return cls(
            id=d["id"], path=d["path"], label=d["label"],
            probabilities=dict(d["probabilities"]),
            **{k: d[k] for k in FLAG_KEYS},
            windows=tuple(WindowPrediction.from_dict(w) for w in d.get("windows") or ()),
            attention=None if d.get("attention") is None else dict(d["attention"]),
            window_failures=tuple(failures),
        )

    def to_dict(self) -> dict[str, Any]:
        """The same object as one element of ``predictions`` in ``predict --format json``."""
        out = {"id": self.id, "path": self.path, "label": self.label,
               "probabilities": dict(self.probabilities),
               **{k: getattr(self, k) for k in FLAG_KEYS},
               "windows": [w.to_dict() for w in self.windows]}
        if self.attention is not None:
            out["attention"] = dict(self.attention)
        return out

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable labels with their probabilities, most probable first."""
        return _top(self.probabilities, k)


class PredictionBatch(Sequence):
    """The results of several items, one per input item in input order: a
    :class:`Prediction`, or the :class:`~emoclassic.features.Failure` record (id, path,
    block, message) of an item that could not be used.

    ``predictions`` and ``failures`` list them apart (``failures`` also holds the windows
    that failed in otherwise predicted recordings), ``result`` is the underlying
    :class:`~emoclassic.prediction.PredictionResult`, and :meth:`to_dict` the document
    ``emoclassic predict --format json`` prints.
    """

    def __init__(self, result: PredictionResult, model: Mapping[str, Any] | None = None):
        self.result = result
        self._model = dict(model or {})
        self._items: list[Prediction | Failure] = [
            Prediction.from_dict(entry, fails) if entry is not None else fails[0]
            for entry, fails in result.outcomes
        ]

    @overload
    def __getitem__(self, i: int) -> Prediction | Failure: ...
    @overload
    def __getitem__(self, i: slice) -> list[Prediction | Failure]: ...
    def __getitem__(self, i):
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Prediction | Failure]:
        return iter(self._items)

    def __repr__(self) -> str:
        return (f"PredictionBatch({len(self.predictions)} predicted, "
                f"{len(self) - len(self.predictions)} failed)")

    @property
    def predictions(self) -> list[Prediction]:
        return [p for p in self._items if isinstance(p, Prediction)]

    @property
    def failures(self) -> list[Failure]:
        return list(self.result.failures)

    def to_dict(self) -> dict[str, Any]:
        """The whole ``emoclassic predict --format json`` document for these items."""
        return copy.deepcopy(self.result.to_dict(self._model))


class Recognizer:
    """A saved emoclassic model loaded once, for many predictions.

    Build it with :meth:`load` (the model file's sha256 and library versions checked against
    its model card, as ``emoclassic predict`` does) or from an estimator already in memory.
    What every prediction needs to know about the model (its feature blocks, whether it
    normalises speakers, reads extra blocks or has attention weights, its out-of-distribution
    detector) is found here once, so a call does only its clip's work: decoding, features, the
    classifier. Keyword options of the predict methods:

    * ``window``, ``hop``, ``smooth``: per-window results of long recordings (see
      :func:`emoclassic.prediction.predict_manifest`; recordings over 30 s are windowed by
      10 s anyway, as on the command line);
    * ``speaker``: the speaker of the recordings, for speaker-normalised models (which need
      several recordings per new speaker: use :meth:`predict_files`).

    ``low_confidence`` is the probability under which a result is flagged; with
    ``abstain_below`` a result whose top probability is below it is labelled "uncertain"
    (:data:`emoclassic.prediction.ABSTAIN_LABEL`, probabilities unchanged); ``cache`` and
    ``n_jobs`` are runtime settings for every call (None: those of
    :func:`emoclassic.config_context`, by default no feature cache: distinct clips gain
    nothing from one, and in-memory arrays are never cached).

    A text-only model predicts from :meth:`predict_text` (``predict_file`` needs a file).
    One Recognizer may be used from several threads one call at a time per thread; a
    prediction holds no state between calls.
    """

    def __init__(
        self,
        estimator: Any,
        info: Mapping[str, Any] | None = None,
        *,
        path: str | os.PathLike | None = None,
        low_confidence: float = LOW_CONFIDENCE,
        abstain_below: float | None = None,
        cache: Any = None,
        n_jobs: int | None = None,
    ) -> None:
        _check_options(None, None, None, low_confidence, abstain_below)
        self.estimator = estimator
        self.info: dict[str, Any] = dict(info or {})
        self.path = None if path is None else str(path)
        self.low_confidence = float(low_confidence)
        self.abstain_below = None if abstain_below is None else float(abstain_below)
        self.cache = cache
        self.n_jobs = n_jobs
        self._model = PreparedModel.of(estimator, self.info)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        trust: bool = False,
        low_confidence: float = LOW_CONFIDENCE,
        abstain_below: float | None = None,
        cache: Any = None,
        n_jobs: int | None = None,
    ) -> Recognizer:
        """Load a model saved by ``emoclassic fit`` (or :func:`emoclassic.artifacts.save_model`).

        **Loading a .joblib runs code**: load only models you trust. The checks are those of
        :func:`emoclassic.artifacts.load_model` (the model card must be there unless
        ``trust``; the sha256 must match; a scikit-learn of another major.minor is refused
        unless ``trust``); a failed check raises :class:`~emoclassic.exceptions.ModelError`.
        """
        from .artifacts import load_model

        estimator, info = load_model(path, trust=trust)
        return cls(estimator, info, path=path, low_confidence=low_confidence,
                   abstain_below=abstain_below, cache=cache, n_jobs=n_jobs)

    def __repr__(self) -> str:
        name = (self.info.get("name") or (Path(self.path).name if self.path else None)
                or type(self.estimator).__name__)
        return f"Recognizer({name!r}, labels={self.labels})"

    # -- what the model is ------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The classes, in the order of the model's probabilities."""
        return list(self._model.labels)

    @property
    def modalities(self) -> list[str]:
        """What the model reads (``audio``, ``text``), from its card (empty when unknown)."""
        return sorted(self._model.modalities)

    @property
    def model_info(self) -> dict[str, Any]:
        """The ``model`` entry of ``predict --format json``: path, name, sha256, labels,
        modalities and how probabilities are made."""
        return {
            "path": self.path,
            "name": self.info.get("name"),
            "sha256": self.info.get("sha256"),
            "labels": self.labels,
            "modalities": self.info.get("modalities"),
            "probabilities": self._model.source,
        }

    # -- single items -----------------------------------------------------------------------
    def predict_file(
        self,
        path: str | os.PathLike,
        text: str | None = None,
        *,
        speaker: str | None = None,
        window: float | None = None,
        hop: float | None = None,
        smooth: int | None = None,
    ) -> Prediction:
        """The emotion of one audio file (any format soundfile or librosa reads, any rate and
        channels), with its transcript ``text`` for a model that reads text.

        ``id`` is the path as given and ``path`` the absolute path, as on the command line.
        Raises :class:`AudioError` (one line naming the file and the fix) when the file
        cannot be used, :class:`DataError` when the input does not suit the model.
        """
        if path is None or not isinstance(path, (str, os.PathLike)):
            raise DataError(f"path={path!r}: give the path of an audio file (for text alone, "
                            "use predict_text)")
        row = {**_file_ids(path), "text": text, "speaker": speaker}
        return self._one(row, window=window, hop=hop, smooth=smooth)

    def predict_array(
        self,
        waveform: np.ndarray,
        sr: int,
        text: str | None = None,
        *,
        id: str = "array",
        speaker: str | None = None,
        window: float | None = None,
        hop: float | None = None,
        smooth: int | None = None,
    ) -> Prediction:
        """The emotion of audio already in memory: ``waveform`` at ``sr`` Hz.

        ``waveform`` is 1-D, or 2-D with channels on the shorter axis; float samples in
        [-1, 1] (integer PCM is scaled from its type's range). It goes to the extractors as
        an array (no temporary file, never cached), mixed to mono and resampled as a decoded
        file is, so the samples of a file give the file's prediction. ``id`` names the item
        in the result and in errors; ``path`` is None.
        """
        wave = Waveform.from_array(waveform, sr, name=str(id))
        row = {"id": str(id), "path": None, "text": text, "speaker": speaker,
               "waveform": wave}
        return self._one(row, window=window, hop=hop, smooth=smooth)

    def predict_text(self, text: str, *, id: str = "text", speaker: str | None = None
                     ) -> Prediction:  # fmt: skip
        """The emotion of a transcript alone, for a model that reads only text (an audio
        model needs :meth:`predict_file` or :meth:`predict_array`)."""
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"text={text!r}: give the transcript as a non-empty string")
        return self._one({"id": str(id), "path": None, "text": text, "speaker": speaker})

    # -- batches ----------------------------------------------------------------------------
    def predict_files(
        self,
        paths: Sequence[str | os.PathLike],
        texts: Sequence[str | None] | None = None,
        *,
        speaker: str | None = None,
        window: float | None = None,
        hop: float | None = None,
        smooth: int | None = None,
    ) -> PredictionBatch:
        """Several audio files (``texts``: one transcript per file, for models that read
        text); a file that cannot be used is a :class:`Failure` in its place, the others are
        predicted. For folders, expand them first with
        :func:`emoclassic.data.collect_audio_files`."""
        if isinstance(paths, (str, os.PathLike)):
            raise DataError("paths: give a list of files (for one file, use predict_file)")
        paths = list(paths)
        if texts is None:
            texts = [None] * len(paths)
        elif isinstance(texts, str) or len(texts) != len(paths):
            raise DataError(f"texts: give one transcript per file ({len(paths)} files)")
        rows = [{**_file_ids(p), "text": t, "speaker": speaker}
                for p, t in zip(paths, texts, strict=True)]
        return self._batch(manifest_from_rows(rows), window=window, hop=hop, smooth=smooth,
                           complete=False)

    def predict_manifest(
        self,
        manifest: pd.DataFrame,
        *,
        window: float | None = None,
        hop: float | None = None,
        smooth: int | None = None,
        extra: Mapping[str, str | os.PathLike] | None = None,
    ) -> PredictionBatch:
        """Every row of a manifest (``path`` or a ``waveform`` cell, ``text``, ``speaker``,
        ``start``/``end``; missing schema columns are filled in), with per-row failures.
        ``extra`` gives the vectors of the model's extra blocks (``--extra NAME=FILE``)."""
        if not isinstance(manifest, pd.DataFrame):
            raise DataError(f"manifest: give a pandas DataFrame, not {type(manifest).__name__}")
        return self._batch(manifest, window=window, hop=hop, smooth=smooth, extra=extra)

    # -- the one route ------------------------------------------------------------------------
    def _batch(self, frame: pd.DataFrame, *, window=None, hop=None, smooth=None, extra=None,
               complete: bool = True) -> PredictionBatch:  # fmt: skip
        few = len(frame) <= ONE_THREAD_ROWS
        with _one_thread() if few else contextlib.nullcontext():
            result = _predict(
                self._model, frame, window=window, hop=hop, smooth=smooth,
                auto_window=AUTO_WINDOW_SECONDS, cache=self.cache, n_jobs=self.n_jobs,
                extra=extra, low_confidence=self.low_confidence,
                abstain_below=self.abstain_below, complete=complete,
            )
        return PredictionBatch(result, self.model_info)

    def _one(self, row: dict[str, Any], **options: Any) -> Prediction:
        needs = self._model.modalities
        if "text" in needs and (not isinstance(row.get("text"), str) or not row["text"].strip()):
            raise DataError(f"{row['id']}: the model reads transcripts (modalities: "
                            f"{', '.join(sorted(needs))}); pass text=\"...\" with the audio")
        if "audio" in needs and row.get("path") is None and row.get("waveform") is None:
            raise DataError(f"{row['id']}: the model reads audio (modalities: "
                            f"{', '.join(sorted(needs))}); use predict_file or predict_array")
        batch = self._batch(manifest_from_rows([row]), complete=False, **options)
        item = batch[0]
        if isinstance(item, Failure):
            raise self._error(item)
        return item

    def _error(self, failure: Failure) -> DataError:
        """The one exception for a single item's failure: AudioError from an audio block."""
        msg = " ".join(failure.message.split())
        if not any(p and msg.startswith(f"{p}:") for p in (failure.id, failure.path)):
            msg = f"{failure.path or failure.id}: {msg}"
        cls = AudioError if failure.block in self._model.audio_blocks else DataError
        return cls(msg)
