"""Prediction on new recordings with a saved model: files, folders, manifests, arrays, long files.

A fitted emoclassic pipeline takes a manifest (one row per utterance) and extracts its own
features, so predicting on new audio means building that table: one row per file (or per
in-memory waveform, a :class:`Waveform` in a ``waveform`` column), or one row per window of a
long recording (``start``/``end`` seconds), with the transcript when the model reads text.
Items that cannot be read (undecodable, empty or NaN-filled audio) are reported per item and
the others are still predicted, so one broken file never sinks a batch of ten thousand.

Windows (``window``, ``hop``, ``smooth``) follow the one set of rules in
:mod:`emoclassic._windows` (:func:`window_bounds`), which a stream reuses: windows every
``hop`` seconds, the rest after the last complete window kept, the whole-file result the mean
of the windows' probabilities.

Every prediction and window also says whether it can be trusted: ``out_of_distribution`` (the
item lies outside the model's training data, judged by the detector stored with the model,
:mod:`emoclassic.ood`; a decodable file without speech, such as silence, a tone or noise, is
predicted and flagged here, not failed) with its ``ood_score`` and ``ood_threshold``, and
``low_confidence`` (the top probability is below a stated value, :data:`LOW_CONFIDENCE`).

For many predictions with one model (an application, a server, a stream), use
:class:`emoclassic.Recognizer`: it loads the model once and finds what this module needs to
know about it (:class:`PreparedModel`) once, not on every call.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._config import config_context
from ._windows import check_windows, smooth_probabilities, window_bounds
from .audio._base import Waveform
from .data._inputs import AUDIO_EXTENSIONS, collect_audio_files, files_to_manifest
from .data._inputs import complete_manifest as _complete
from .exceptions import DataError, EmoclassicError
from .features import Failure, precompute, use_tables
from .fusion._grouped import said_once

logger = logging.getLogger(__name__)

__all__ = [
    "ABSTAIN_LABEL",
    "AUDIO_EXTENSIONS",
    "AUTO_WINDOW_SECONDS",
    "LOW_CONFIDENCE",
    "PredictionResult",
    "PreparedModel",
    "Waveform",
    "collect_audio_files",
    "files_to_manifest",
    "predict_manifest",
    "probability_source",
    "smooth_probabilities",
    "top_label",
    "window_bounds",
]

#: Files longer than this are windowed even without an explicit window length.
AUTO_WINDOW_SECONDS = 30.0
#: Window length used for automatically windowed files.
DEFAULT_WINDOW_SECONDS = 10.0
#: A prediction whose top probability is below this is ``low_confidence`` (default of
#: ``predict_manifest(low_confidence=)`` and ``--low-confidence``): the model leans towards no
#: class more than towards all the others together. A 2-class model's top probability is never
#: below 0.5, so give such a model a higher value (e.g. 0.7).
LOW_CONFIDENCE = 0.5
#: The keys every prediction and window carries about trust (null: the model has no detector).
FLAG_KEYS = ("out_of_distribution", "ood_score", "ood_threshold", "low_confidence")
#: The label of a prediction whose top probability is below ``abstain_below``
#: (``--abstain-below``): the model abstains; the probabilities stay as they are.
ABSTAIN_LABEL = "uncertain"


@dataclass
class PredictionResult:
    """Per-item predictions and failures, in the JSON layout documented in docs/cli.md.

    Each prediction (and each of its windows) is a dict with ``label``, ``probabilities`` and
    the trust keys ``out_of_distribution``, ``ood_score``, ``ood_threshold`` (all None for a
    model saved without an out-of-distribution detector) and ``low_confidence``.
    ``low_confidence_below`` is the probability used for the latter; ``abstain_below`` the one
    under which ``label`` is :data:`ABSTAIN_LABEL` (None: never); ``ood`` the detector's
    summary as in the model card (None without one). ``outcomes`` has one entry per input
    row, in input order: ``(its prediction dict or None, its failures)`` (the row's own
    failure when it has no prediction, else the failures of some of its windows), so a
    caller can pair results with what it passed (ids may repeat); it is not part of the JSON.
    """

    labels: list[str]
    predictions: list[dict] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    low_confidence_below: float = LOW_CONFIDENCE
    ood: dict | None = None
    abstain_below: float | None = None
    outcomes: list[tuple[dict | None, list[Failure]]] = field(default_factory=list, repr=False)
    #: the precomputed feature tables of the rows, kept only when asked (``keep_tables``):
    #: :func:`emoclassic.active.suggest` places the pool in the model's feature space from
    #: them instead of extracting again; not part of the JSON
    tables: Any = field(default=None, repr=False)

    @property
    def out_of_distribution(self) -> list[str]:
        """Ids of the predictions flagged out of distribution."""
        return [p["id"] for p in self.predictions if p.get("out_of_distribution")]

    @property
    def low_confidence(self) -> list[str]:
        """Ids of the predictions whose top probability is below ``low_confidence_below``."""
        return [p["id"] for p in self.predictions if p.get("low_confidence")]

    def to_dict(self, model: dict | None = None) -> dict:
        return {
            "version": 1,
            "model": model or {},
            "labels": list(self.labels),
            "flags": {"low_confidence_below": self.low_confidence_below,
                      "abstain_below": self.abstain_below,
                      "out_of_distribution": self.ood},
            "predictions": self.predictions,
            # the Failure record, plus "error" (= message): the key of schema version 1
            "failures": [{**f.to_dict(), "error": f.message} for f in self.failures],
        }


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _duration(path: str) -> float | None:
    """Seconds of audio without decoding it (None when the header cannot be read)."""
    try:
        import soundfile as sf

        info = sf.info(path)
        return float(info.frames) / float(info.samplerate) if info.samplerate else None
    except Exception:  # noqa: BLE001 - decoding errors surface later, per item
        return None


def _window_bounds(duration: float, window: float) -> list[tuple[float, float]]:
    """Windows that touch (no hop): :func:`window_bounds` ``(duration, window)``."""
    return window_bounds(duration, window)


def _expand_windows(
    frame: pd.DataFrame, *, window: float | None, hop: float | None = None,
    auto_window: float | None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows to extract: long recordings replaced by one row per window.

    Returns ``(X, source, index)``: ``source`` is each row's position in ``frame``, ``index``
    its window number (-1: the whole item). ``frame`` itself is returned when no row is
    windowed (nothing is copied on the common path).
    """
    n = len(frame)
    if window is None and auto_window is None:
        return frame, np.arange(n), np.full(n, -1)
    cols = frame.columns
    paths = frame["path"].tolist()
    waves = frame["waveform"].tolist() if "waveform" in cols else [None] * n
    starts = frame["start"].tolist() if "start" in cols else [None] * n
    ends = frame["end"].tolist() if "end" in cols else [None] * n
    plans: list[list[tuple[float, float]] | None] = []
    for path, wave, a, b in zip(paths, waves, starts, ends, strict=True):
        bounds = None
        wave = wave if isinstance(wave, Waveform) else None
        segment = not _missing(a) or not _missing(b)  # a segment of its own: never windowed
        if (wave is not None or not _missing(path)) and not segment:
            dur = wave.duration if wave is not None else _duration(str(path))
            length, step = window, hop
            if length is None and dur is not None and dur > auto_window:
                length, step = DEFAULT_WINDOW_SECONDS, None
            if dur is not None and dur > 0 and length is not None:
                bounds = window_bounds(dur, float(length), step)
                if len(bounds) == 1 and window is None:
                    bounds = None
        plans.append(bounds)
    if all(b is None for b in plans):
        return frame, np.arange(n), np.full(n, -1)
    rows: list[dict] = []
    source: list[int] = []
    index: list[int] = []
    for k, (row, bounds) in enumerate(zip(frame.to_dict("records"), plans, strict=True)):
        if bounds is None:
            rows.append(row)
            source.append(k)
            index.append(-1)
            continue
        for w, (a, b) in enumerate(bounds):
            rows.append({**row, "id": f"{row['id']}#w{w}", "start": a, "end": b})
            source.append(k)
            index.append(w)
    X = pd.DataFrame(rows, columns=cols).reset_index(drop=True)
    return X, np.asarray(source), np.asarray(index)


# --------------------------------------------------------------------------- the model
@dataclass
class PreparedModel:
    """What prediction needs to know about a fitted model, found once.

    Walking a fitted pipeline (its feature blocks, speaker normalisers, extra blocks, attention
    step, the detector's summary) costs milliseconds; a warm application predicts one clip in
    tens of milliseconds, so :class:`emoclassic.Recognizer` finds all of it once at load
    (:meth:`of`) and :func:`predict_manifest` does it on every call. ``said`` holds the
    adaptation steps' fallback messages already logged for this model (each is said once:
    per call of :func:`predict_manifest`, per loaded model for a Recognizer).
    """

    estimator: Any
    info: dict
    classes: list
    labels: list[str]
    extractors: list
    audio_blocks: frozenset
    normalizers: list
    source: str
    has_extra: bool
    has_attention: bool
    ood: Any = None
    ood_summary: dict | None = None
    ood_keys: dict | None = None
    said: set = field(default_factory=set)

    @classmethod
    def of(cls, estimator: Any, info: dict | None = None) -> PreparedModel:
        """Inspect ``estimator`` (a fitted pipeline) with its model card ``info``."""
        from .artifacts import find_speaker_normalizers
        from .audio._base import AudioExtractor
        from .features._precompute import block_extractors
        from .fusion._attention import _attention_step
        from .fusion._extra import _extra_blocks
        from .ood import block_keys

        classes = list(getattr(estimator, "classes_", None) if hasattr(estimator, "classes_")
                       else [])  # fmt: skip
        if not classes:
            raise DataError("the model has no classes_; is it fitted? re-create it with "
                            "emoclassic fit")
        extractors = block_extractors(estimator)
        ood = getattr(estimator, "emoclassic_ood_", None)
        return cls(
            estimator=estimator,
            info=dict(info or {}),
            classes=classes,
            labels=[str(c) for c in classes],
            extractors=extractors,
            audio_blocks=frozenset(b for b, e in extractors if isinstance(e, AudioExtractor)),
            normalizers=find_speaker_normalizers(estimator),
            source=probability_source(estimator),
            has_extra=bool(_extra_blocks(estimator)),
            has_attention=_attention_step(estimator) is not None,
            ood=ood,
            ood_summary=None if ood is None else ood.summary(),
            ood_keys=None if ood is None else block_keys(estimator),
        )

    @property
    def modalities(self) -> set[str]:
        """What the model reads, from its card (``audio``, ``text``; empty when unknown)."""
        return set(self.info.get("modalities") or [])


# --------------------------------------------------------------------------- checks
def _check_inputs(frame: pd.DataFrame, model: PreparedModel
                  ) -> tuple[pd.DataFrame, np.ndarray, list[Failure | None]]:  # fmt: skip
    """Set apart rows that lack what the model needs, before extracting.

    Returns the rows to predict, their positions in ``frame``, and per row of ``frame`` its
    failure (None: kept).
    """
    modalities = model.modalities
    n = len(frame)
    no_text = [_missing(t) for t in frame["text"].tolist()]
    waves = frame["waveform"].tolist() if "waveform" in frame.columns else [None] * n
    paths = frame["path"].tolist()
    no_audio = [_missing(p) and not isinstance(w, Waveform) for p, w in zip(paths, waves,
                                                                             strict=True)]
    if "text" in modalities and all(no_text):
        raise DataError(
            "the model reads transcripts (modalities: "
            f"{', '.join(sorted(modalities))}) but none was given; pass --text \"...\" or "
            "--text-file FILE for one recording, or a manifest with a 'text' column"
        )
    if "audio" in modalities and all(no_audio):
        raise DataError(
            "the model reads audio but no audio file was given; pass FILE|DIR arguments or a "
            "manifest with a 'path' column"
        )
    failures: list[Failure | None] = [None] * n
    ids = frame["id"].tolist()
    for k in range(n):
        if "text" in modalities and no_text[k]:
            failures[k] = _failure(ids[k], paths[k], "no transcript (the model reads text); "
                                   "add it in the manifest's 'text' column")
        elif "audio" in modalities and no_audio[k]:
            failures[k] = _failure(ids[k], paths[k], "no audio path (the model reads audio)")
    keep = np.flatnonzero([f is None for f in failures])
    if len(keep) < n:
        frame = frame.iloc[keep].reset_index(drop=True)
    return frame, keep, failures


def _check_speakers(frame: pd.DataFrame, model: PreparedModel) -> None:
    """A speaker-normalised model needs several utterances of every speaker it has not seen."""
    if not model.normalizers and not model.info.get("speaker_normalization"):
        return
    known: set[str] = set()
    min_rows = 2
    for norm in model.normalizers:
        known |= {str(k) for k in (getattr(norm, "group_stats_", None) or {})}
        min_rows = max(min_rows, norm._min_rows())
    speakers = frame["speaker"]
    if speakers.map(_missing).any():
        raise DataError(
            "the model's spec uses speaker_normalization=true, which needs several utterances "
            "per speaker, but no speaker was given; pass --speaker ID with several recordings "
            "of that speaker, or a manifest with a 'speaker' column"
        )
    counts = speakers.astype(str).value_counts()
    few = [s for s, c in counts.items() if c < min_rows and s not in known]
    if few:
        raise DataError(
            f"the model's spec uses speaker_normalization=true, which needs at least {min_rows} "
            f"utterances per new speaker; speaker(s) {', '.join(few[:5])} have fewer; predict "
            "all of a speaker's recordings together (--speaker ID or a manifest 'speaker' column)"
        )


def _failure(item_id: Any, path: Any, error: str, block: str | None = None) -> Failure:
    return Failure(id=str(item_id), path=None if _missing(path) else str(path), block=block,
                   message=str(error))


# --------------------------------------------------------------------------- predicting
def probability_source(estimator: Any) -> str:
    """How :func:`predict_manifest` turns the model's output into per-class scores.

    ``"predict_proba"`` (real probabilities), ``"softmax(decision_function)"`` (an SVM without
    probability calibration: scores that rank like probabilities but are not calibrated) or
    ``"one-hot"`` (1 for the predicted class). Every shipped spec's model gives
    ``"predict_proba"`` (its classifiers are calibrated inside the pipeline, see
    :func:`emoclassic.models.calibration_method`); the other two remain for user models
    without ``predict_proba``.
    """
    for attr, name in (("predict_proba", "predict_proba"),
                       ("decision_function", "softmax(decision_function)")):
        try:
            if callable(getattr(estimator, attr, None)):
                return name
        except AttributeError:  # available_if: the final step lacks it
            continue
    return "one-hot"


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _proba(estimator: Any, X: pd.DataFrame, classes: list, source: str | None = None
           ) -> np.ndarray:  # fmt: skip
    source = probability_source(estimator) if source is None else source
    if source == "predict_proba":
        return np.asarray(estimator.predict_proba(X), dtype=float)
    if source.startswith("softmax"):
        logger.warning("the model has no predict_proba: its scores are softmax(decision_function),"
                       " which rank like probabilities but are not calibrated")  # fmt: skip
        d = np.asarray(estimator.decision_function(X), dtype=float)
        if d.ndim == 1:  # binary: one score for classes[1]
            d = np.stack([-d, d], axis=1)
        if d.shape[1] == len(classes):
            return _softmax(d)
    pred = np.asarray(estimator.predict(X))
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(pred), len(classes)))
    for r, p in enumerate(pred):
        out[r, index[p]] = 1.0
    return out


def _attention_rows(estimator: Any, X: pd.DataFrame, errors: dict) -> pd.DataFrame | None:
    """Per-row attention weights of an attention-fusion model (NaN on failed rows), else None."""
    from .fusion import attention_weights

    alive = [i for i in range(len(X)) if i not in errors]
    if not alive:
        return None
    try:
        att = attention_weights(estimator, X.iloc[alive].reset_index(drop=True))
    except EmoclassicError as exc:  # the probabilities are already there; keep them
        logger.warning("attention weights unavailable: %s", exc)
        return None
    if att is None:
        return None
    out = pd.DataFrame(np.nan, index=range(len(X)), columns=att.columns)
    out.iloc[alive] = att.to_numpy()
    return out


def top_label(labels: Sequence[str], p: np.ndarray, abstain_below: float | None = None) -> str:
    """The most probable label, or :data:`ABSTAIN_LABEL` when its probability is below
    ``abstain_below`` (the one rule of predictions, windows and stream lines)."""
    k = int(np.argmax(p))
    if abstain_below is not None and float(p[k]) < abstain_below:
        return ABSTAIN_LABEL
    return labels[k]


def _entry(labels: list[str], p: np.ndarray, abstain_below: float | None = None
           ) -> tuple[str, dict[str, float]]:  # fmt: skip
    probs = {lab: round(float(v), 6) for lab, v in zip(labels, p, strict=True)}
    return top_label(labels, p, abstain_below), probs


def _flags(p: np.ndarray, score: float, threshold: float | None, low: float) -> dict:
    """The trust keys of one prediction or window (OOD keys None when nothing judged it)."""
    judged = threshold is not None and math.isfinite(score)
    return {
        "out_of_distribution": bool(score > threshold) if judged else None,
        "ood_score": round(float(score), 4) if judged else None,
        "ood_threshold": float(threshold) if judged else None,
        "low_confidence": bool(float(np.max(p)) < low),
    }


def _ood_scores(model: PreparedModel, tables: Any, X: pd.DataFrame, rows: list[int]
                ) -> tuple[np.ndarray, float | None]:  # fmt: skip
    """Each row's out-of-distribution score (NaN: not judged) and the threshold."""
    scores = np.full(len(X), np.nan)
    if model.ood is None or not rows:
        return scores, None
    sub = X if len(rows) == len(X) else X.iloc[rows].reset_index(drop=True)
    judged = model.ood.score(tables, sub, model.ood_keys)
    scores[rows] = judged.score
    return scores, float(judged.threshold)


def _warn_flagged(result: PredictionResult) -> None:
    """One warning line when any prediction or window is out of distribution."""
    flagged = [p["id"] for p in result.predictions if p["out_of_distribution"]
               or any(w["out_of_distribution"] for w in p["windows"])]  # fmt: skip
    if not flagged:
        return
    names = ", ".join(flagged[:3]) + (", ..." if len(flagged) > 3 else "")
    logger.warning(
        "%d of %d item(s) lie outside the model's training data (out_of_distribution: "
        "ood_score above its threshold; e.g. silence, noise, music or recordings unlike the "
        "corpus), so their labels are guesses: %s", len(flagged), len(result.predictions), names)

def predict_manifest(
    estimator: Any,
    manifest: pd.DataFrame,
    *,
    info: dict | None = None,
    window: float | None = None,
    hop: float | None = None,
    smooth: int | None = None,
    auto_window: float | None = AUTO_WINDOW_SECONDS,
    cache: Any = None,
    n_jobs: int | None = None,
    progress: bool = False,
    extra: Mapping[str, str | os.PathLike] | None = None,
    low_confidence: float = LOW_CONFIDENCE,
    abstain_below: float | None = None,
) -> PredictionResult:
    """Predict every row of ``manifest`` with a fitted pipeline; bad rows become failures.

    ``window`` (seconds) splits each audio file (or in-memory :class:`Waveform`) into windows
    predicted separately, one every ``hop`` seconds (default: ``window``, windows that touch;
    a smaller hop overlaps them; a larger one is refused); the whole-file result is the mean
    of the window probabilities. The rest after the last complete window is kept (its own
    window when at least half a hop long, else joined to the last one:
    :func:`window_bounds`). ``smooth=K`` replaces each window's probabilities (and label and
    ``low_confidence``) by the mean over it and the ``K - 1`` windows before it (a trailing
    moving average, as a stream can compute it; default: off); the whole-file result stays
    the mean of the unsmoothed windows. Files longer than ``auto_window`` seconds are
    windowed (10 s) even without ``window``. Rows with their own ``start``/``end`` are
    segments and are not windowed. ``info`` is the model card from
    :func:`emoclassic.artifacts.load_model` (modalities, speaker normalisation).
    ``extra`` maps the model's extra blocks to files of the new rows' vectors keyed by id
    (``--extra NAME=FILE``; see :func:`emoclassic.fusion.extra_inputs`).
    Every prediction and window carries ``out_of_distribution`` / ``ood_score`` /
    ``ood_threshold`` from the model's detector (``emoclassic_ood_``, fitted by
    :func:`emoclassic.evaluation.fit_final`; None for models saved without one): a whole
    file's score is the median of its windows' scores. ``low_confidence`` is set when the top
    probability is below ``low_confidence``. With ``abstain_below`` a prediction (or window)
    whose top probability is below it is labelled :data:`ABSTAIN_LABEL` ("uncertain"; its
    probabilities unchanged): the model abstains rather than guess. One warning is logged when
    any item is out of distribution.
    Features come from the shared precompute step (:func:`emoclassic.features.precompute`):
    every block once per row, then the model runs on the good rows only. ``cache``,
    ``n_jobs`` and ``progress`` left at None take the values of
    :func:`emoclassic.config_context`; in-memory waveforms are never cached.
    A model that normalises or aligns features per corpus (spec ``normalization = "corpus"``,
    ``adaptation = "coral"``) adapts to each corpus of the batch it was not trained on, from
    that corpus's rows (the ``corpus`` column; ``"user"`` for files), when it has at least
    10 of them (:data:`emoclassic.fusion.DEFAULT_MIN_ROWS`); a smaller one gets the training
    statistics, and one warning says so.
    Raises :class:`DataError` when the input cannot suit the model at all (text missing for a
    text model, one utterance per speaker for a speaker-normalised model) or an option is
    invalid (one line naming it and the fix).
    """
    _check_options(window, hop, smooth, low_confidence, abstain_below)
    return _predict(PreparedModel.of(estimator, info), manifest, window=window, hop=hop,
                    smooth=smooth, auto_window=auto_window, cache=cache, n_jobs=n_jobs,
                    progress=progress, extra=extra, low_confidence=low_confidence,
                    abstain_below=abstain_below)


def _check_options(window, hop, smooth, low_confidence, abstain_below=None) -> None:
    check_windows(window, hop, smooth)
    if abstain_below is not None and (isinstance(abstain_below, bool) or not (
            isinstance(abstain_below, (int, float)) and 0.0 <= abstain_below <= 1.0)):
        raise DataError(f"abstain_below={abstain_below!r}: give a probability between 0 and 1 "
                        "(e.g. 0.5), or None never to abstain")
    if isinstance(low_confidence, bool) or not (
            isinstance(low_confidence, (int, float)) and 0.0 <= low_confidence <= 1.0):
        raise DataError(f"low_confidence={low_confidence!r}: give a probability between 0 and 1 "
                        "(e.g. --low-confidence 0.5)")


def _predict(
    model: PreparedModel,
    manifest: pd.DataFrame,
    *,
    window: float | None = None,
    hop: float | None = None,
    smooth: int | None = None,
    auto_window: float | None = AUTO_WINDOW_SECONDS,
    cache: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    extra: Mapping[str, str | os.PathLike] | None = None,
    low_confidence: float = LOW_CONFIDENCE,
    abstain_below: float | None = None,
    complete: bool = True,
    tables: Any = None,
    keep_tables: bool = False,
) -> PredictionResult:
    """:func:`predict_manifest` with the model inspected once (options already checked).

    ``complete=False``: ``manifest`` already has every schema column (built by
    :func:`emoclassic.data.files_to_manifest` or the Recognizer), so it is not copied again.
    ``tables``: feature tables already holding every row (precompute skips their blocks);
    ``keep_tables``: the result keeps the tables (``result.tables``).
    """
    window, hop, smooth = check_windows(window, hop, smooth)
    estimator, labels, classes = model.estimator, model.labels, model.classes
    frame = _complete(manifest) if complete else manifest
    frame, kept, row_failures = _check_inputs(frame, model)
    if model.has_extra or extra:
        from .fusion._extra import extra_inputs

        frame = extra_inputs(estimator, frame, extra)  # before windows: each gets its file's
    if len(frame):
        _check_speakers(frame, model)
    low = float(low_confidence)
    result = PredictionResult(labels=labels, low_confidence_below=low,
                              abstain_below=abstain_below)
    outcomes: list[tuple[dict | None, list[Failure]]] = [
        (None, [f]) if f is not None else (None, []) for f in row_failures]
    if not len(frame):
        result.failures = [f for f in row_failures if f is not None]
        result.outcomes = outcomes
        return result
    X, source, index = _expand_windows(frame, window=window, hop=hop, auto_window=auto_window)
    runtime = {k: v for k, v in (("cache", cache), ("n_jobs", n_jobs), ("progress", progress))
               if v is not None}
    with config_context(**runtime):
        pre = precompute(estimator, X, extractors=model.extractors,  # failures per row, block
                         tables=tables)
    errors: dict[int, Failure] = {}
    if pre.failures:
        failed = {f.id: f for f in pre.failures}
        errors = {i: failed[str(item)] for i, item in enumerate(X["id"]) if str(item) in failed}
    good_rows = [i for i in range(len(X)) if i not in errors]
    proba = np.full((len(X), len(classes)), np.nan)
    attention = None
    if good_rows:
        sub = X if len(good_rows) == len(X) else X.iloc[good_rows].reset_index(drop=True)
        # the model reads the precomputed rows; a new corpus too small for its own statistics
        # is said once, not once per adaptation step
        with use_tables(pre.tables), said_once(model.said):
            proba[good_rows] = _proba(estimator, sub, classes, model.source)
            if model.has_attention:
                attention = _attention_rows(estimator, X, errors)
    ood, threshold = _ood_scores(model, pre.tables, X, good_rows)
    result.ood = model.ood_summary if threshold is not None else None
    result.tables = pre.tables if keep_tables else None

    ids = [str(i) for i in frame["id"].tolist()]
    paths = [None if _missing(p) else str(p) for p in frame["path"].tolist()]
    starts, ends = X["start"].tolist(), X["end"].tolist()
    window_ids = X["id"].tolist()
    by_source: list[list[int]] = [[] for _ in range(len(frame))]
    for i, k in enumerate(source.tolist()):
        by_source[k].append(i)
    for k in range(len(frame)):
        idx = by_source[k]
        windowed = bool(index[idx[0]] >= 0)
        good = [i for i in idx if i not in errors]
        path = paths[k]
        failures: list[Failure] = []
        if not good:
            first = errors[idx[0]]
            failures.append(_failure(ids[k], path, first.message, first.block))
            outcomes[kept[k]] = (None, failures)
            continue
        windows = []
        if windowed:
            failures = [_failure(window_ids[i], path, errors[i].message, errors[i].block)
                        for i in idx if i in errors]
            shown = smooth_probabilities(proba[good], smooth)
            for j, i in enumerate(good):
                lab, probs = _entry(labels, shown[j], abstain_below)
                windows.append(
                    {"start": float(starts[i]), "end": float(ends[i]), "label": lab,
                     "probabilities": probs, **_flags(shown[j], ood[i], threshold, low)}
                )
        mean = proba[good].mean(axis=0)
        lab, probs = _entry(labels, mean, abstain_below)
        score = float(np.median(ood[good])) if threshold is not None else math.nan
        entry = {"id": ids[k], "path": path, "label": lab, "probabilities": probs,
                 **_flags(mean, score, threshold, low), "windows": windows}  # fmt: skip
        if attention is not None:  # attention fusion: the weight each block got
            entry["attention"] = {
                b: round(float(attention[b].to_numpy()[good].mean()), 4) for b in attention
            }
        result.predictions.append(entry)
        outcomes[kept[k]] = (entry, failures)
    result.outcomes = outcomes
    result.failures = [f for _, fs in outcomes for f in fs]
    _warn_flagged(result)
    return result
