"""Prediction on new recordings with a saved model: files, folders, manifests, long files.

A fitted emoclassic pipeline takes a manifest (one row per utterance) and extracts its own
features, so predicting on new audio means building that table: one row per file, or one row
per window of a long file (``start``/``end`` seconds), with the transcript when the model reads
text. Items that cannot be read (undecodable, empty or NaN-filled audio) are reported per item
and the others are still predicted, so one broken file never sinks a batch of ten thousand.

Every prediction and window also says whether it can be trusted: ``out_of_distribution`` (the
item lies outside the model's training data, judged by the detector stored with the model,
:mod:`emoclassic.ood`; a decodable file without speech, such as silence, a tone or noise, is
predicted and flagged here, not failed) with its ``ood_score`` and ``ood_threshold``, and
``low_confidence`` (the top probability is below a stated value, :data:`LOW_CONFIDENCE`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._config import config_context
from .data._inputs import AUDIO_EXTENSIONS, collect_audio_files, files_to_manifest
from .data._inputs import complete_manifest as _complete
from .exceptions import DataError, EmoclassicError
from .features import Failure, precompute, use_tables

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AUTO_WINDOW_SECONDS",
    "LOW_CONFIDENCE",
    "PredictionResult",
    "collect_audio_files",
    "files_to_manifest",
    "predict_manifest",
    "probability_source",
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


@dataclass
class PredictionResult:
    """Per-item predictions and failures, in the JSON layout documented in docs/cli.md.

    Each prediction (and each of its windows) is a dict with ``label``, ``probabilities`` and
    the trust keys ``out_of_distribution``, ``ood_score``, ``ood_threshold`` (all None for a
    model saved without an out-of-distribution detector) and ``low_confidence``.
    ``low_confidence_below`` is the probability used for the latter; ``ood`` the detector's
    summary as in the model card (None without one).
    """

    labels: list[str]
    predictions: list[dict] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    low_confidence_below: float = LOW_CONFIDENCE
    ood: dict | None = None

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
    """Consecutive windows of ``window`` seconds; a short tail joins the previous window."""
    if duration <= window:
        return [(0.0, duration)]
    n = max(1, int(duration // window))
    tail = duration - n * window
    bounds = [(k * window, (k + 1) * window) for k in range(n)]
    if tail >= 0.5 * window:
        bounds.append((n * window, duration))
    else:
        bounds[-1] = (bounds[-1][0], duration)
    return [(round(a, 6), round(b, 6)) for a, b in bounds]


def _expand_windows(
    frame: pd.DataFrame, *, window: float | None, auto_window: float | None
) -> pd.DataFrame:
    """Replace rows of long files by one row per window; add ``_source`` (the file row)."""
    rows = []
    for k, row in enumerate(frame.to_dict("records")):
        row["_source"] = k
        row["_window"] = -1
        path = row.get("path")
        has_segment = not _missing(row.get("start")) or not _missing(row.get("end"))
        if _missing(path) or has_segment or (window is None and auto_window is None):
            rows.append(row)
            continue
        dur = _duration(str(path))
        length = window
        if length is None and dur is not None and auto_window is not None and dur > auto_window:
            length = DEFAULT_WINDOW_SECONDS
        if dur is None or length is None or dur <= 0:
            rows.append(row)
            continue
        bounds = _window_bounds(dur, float(length))
        if len(bounds) == 1 and window is None:
            rows.append(row)
            continue
        for w, (a, b) in enumerate(bounds):
            rows.append({**row, "id": f"{row['id']}#w{w}", "start": a, "end": b, "_window": w})
    return pd.DataFrame(rows).reset_index(drop=True)


# --------------------------------------------------------------------------- checks
def _needs(info: dict | None) -> tuple[set[str], bool]:
    info = info or {}
    modalities = set(info.get("modalities") or [])
    return modalities, bool(info.get("speaker_normalization"))


def _check_inputs(frame: pd.DataFrame, info: dict | None) -> tuple[pd.DataFrame, list[dict]]:
    """Drop rows that lack what the model needs (reported as failures) before extracting."""
    modalities, _ = _needs(info)
    failures: list[Failure] = []
    keep = np.ones(len(frame), dtype=bool)
    no_text = frame["text"].map(_missing).to_numpy()
    no_audio = frame["path"].map(_missing).to_numpy()
    if "text" in modalities and no_text.all():
        raise DataError(
            "the model reads transcripts (modalities: "
            f"{', '.join(sorted(modalities))}) but none was given; pass --text \"...\" or "
            "--text-file FILE for one recording, or a manifest with a 'text' column"
        )
    if "audio" in modalities and no_audio.all():
        raise DataError(
            "the model reads audio but no audio file was given; pass FILE|DIR arguments or a "
            "manifest with a 'path' column"
        )
    for k, row in enumerate(frame.itertuples(index=False)):
        if "text" in modalities and no_text[k]:
            failures.append(_failure(row.id, row.path, "no transcript (the model reads text); "
                                     "add it in the manifest's 'text' column"))
            keep[k] = False
        elif "audio" in modalities and no_audio[k]:
            failures.append(_failure(row.id, row.path, "no audio path (the model reads audio)"))
            keep[k] = False
    frame = frame[keep].reset_index(drop=True)
    return frame, failures


def _check_speakers(frame: pd.DataFrame, estimator: Any, info: dict | None) -> None:
    """A speaker-normalised model needs several utterances of every speaker it has not seen."""
    from .artifacts import find_speaker_normalizers

    normalizers = find_speaker_normalizers(estimator)
    if not normalizers and not _needs(info)[1]:
        return
    known: set[str] = set()
    min_rows = 2
    for norm in normalizers:
        known |= {str(k) for k in (getattr(norm, "speaker_stats_", None) or {})}
        min_rows = max(min_rows, int(getattr(norm, "min_rows", 2) or 2))
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


def _proba(estimator: Any, X: pd.DataFrame, classes: list) -> np.ndarray:
    source = probability_source(estimator)
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


def _entry(labels: list[str], p: np.ndarray) -> tuple[str, dict[str, float]]:
    probs = {lab: round(float(v), 6) for lab, v in zip(labels, p, strict=True)}
    return labels[int(np.argmax(p))], probs


def _flags(p: np.ndarray, score: float, threshold: float | None, low: float) -> dict:
    """The trust keys of one prediction or window (OOD keys None when nothing judged it)."""
    judged = threshold is not None and math.isfinite(score)
    return {
        "out_of_distribution": bool(score > threshold) if judged else None,
        "ood_score": round(float(score), 4) if judged else None,
        "ood_threshold": float(threshold) if judged else None,
        "low_confidence": bool(float(np.max(p)) < low),
    }


def _ood_scores(estimator: Any, tables: Any, X: pd.DataFrame, rows: list[int]
                ) -> tuple[np.ndarray, float | None, dict | None]:  # fmt: skip
    """Each row's out-of-distribution score (NaN: not judged), the threshold, the summary."""
    scores = np.full(len(X), np.nan)
    ood = getattr(estimator, "emoclassic_ood_", None)
    if ood is None or not rows:
        return scores, None, None
    judged = ood.score(tables, X.iloc[rows].reset_index(drop=True))
    scores[rows] = judged.score
    return scores, float(judged.threshold), ood.summary()


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
    auto_window: float | None = AUTO_WINDOW_SECONDS,
    cache: Any = None,
    n_jobs: int | None = None,
    progress: bool = False,
    extra: Mapping[str, str | os.PathLike] | None = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> PredictionResult:
    """Predict every row of ``manifest`` with a fitted pipeline; bad rows become failures.

    ``window`` (seconds) splits each audio file into windows predicted separately; the
    whole-file result is the mean of the window probabilities. Files longer than
    ``auto_window`` seconds are windowed (10 s) even without ``window``. ``info`` is the model
    card from :func:`emoclassic.artifacts.load_model` (modalities, speaker normalisation).
    ``extra`` maps the model's extra blocks to files of the new rows' vectors keyed by id
    (``--extra NAME=FILE``; see :func:`emoclassic.fusion.extra_inputs`).
    Every prediction and window carries ``out_of_distribution`` / ``ood_score`` /
    ``ood_threshold`` from the model's detector (``emoclassic_ood_``, fitted by
    :func:`emoclassic.evaluation.fit_final`; None for models saved without one): a whole
    file's score is the median of its windows' scores. ``low_confidence`` is set when the top
    probability is below ``low_confidence``. One warning is logged when any item is out of
    distribution.
    Features come from the shared precompute step (:func:`emoclassic.features.precompute`):
    every block once per row, then the model runs on the good rows only. ``cache``,
    ``n_jobs`` and ``progress`` left at None take the values of
    :func:`emoclassic.config_context`.
    Raises :class:`DataError` when the input cannot suit the model at all (text missing for a
    text model, one utterance per speaker for a speaker-normalised model).
    """

    if window is not None and not (window > 0 and math.isfinite(window)):
        raise DataError(f"window={window!r}: give a positive number of seconds (e.g. --window 5)")
    if not (isinstance(low_confidence, (int, float)) and 0.0 <= low_confidence <= 1.0):
        raise DataError(f"low_confidence={low_confidence!r}: give a probability between 0 and 1 "
                        "(e.g. --low-confidence 0.5)")
    classes = list(getattr(estimator, "classes_", None) if hasattr(estimator, "classes_") else [])
    if not classes:
        raise DataError("the model has no classes_; is it fitted? re-create it with emoclassic fit")
    labels = [str(c) for c in classes]
    from .fusion._extra import extra_inputs

    frame, failures = _check_inputs(_complete(manifest), info)
    frame = extra_inputs(estimator, frame, extra)  # before windows: each window gets its file's
    if len(frame):
        _check_speakers(frame, estimator, info)
    low = float(low_confidence)
    result = PredictionResult(labels=labels, failures=failures, low_confidence_below=low)
    if not len(frame):
        return result
    expanded = _expand_windows(frame, window=window, auto_window=auto_window)
    X = expanded.drop(columns=["_source", "_window"])
    runtime = {k: v for k, v in (("cache", cache), ("n_jobs", n_jobs), ("progress", progress))
               if v is not None}
    with config_context(**runtime):
        pre = precompute(estimator, X)  # every block once; failures per row and block
    failed = {f.id: f for f in pre.failures}
    errors = {i: failed[str(item)] for i, item in enumerate(X["id"]) if str(item) in failed}
    good_rows = [i for i in range(len(X)) if i not in errors]
    proba = np.full((len(X), len(classes)), np.nan)
    attention = None
    if good_rows:
        sub = X.iloc[good_rows].reset_index(drop=True)
        with use_tables(pre.tables):  # the model reads the precomputed rows
            proba[good_rows] = _proba(estimator, sub, classes)
            attention = _attention_rows(estimator, X, errors)
    ood, threshold, result.ood = _ood_scores(estimator, pre.tables, X, good_rows)

    for k, row in enumerate(frame.to_dict("records")):
        idx = np.flatnonzero(expanded["_source"].to_numpy() == k)
        windowed = bool((expanded["_window"].to_numpy()[idx] >= 0).any())
        good = [i for i in idx if i not in errors]
        path = None if _missing(row.get("path")) else str(row["path"])
        if not good:
            first = errors[idx[0]]
            result.failures.append(_failure(row["id"], path, first.message, first.block))
            continue
        windows = []
        if windowed:
            for i in idx:
                w = expanded.iloc[i]
                if i in errors:
                    result.failures.append(
                        _failure(w["id"], path, errors[i].message, errors[i].block))
                    continue
                lab, probs = _entry(labels, proba[i])
                windows.append(
                    {"start": float(w["start"]), "end": float(w["end"]), "label": lab,
                     "probabilities": probs, **_flags(proba[i], ood[i], threshold, low)}
                )
        mean = proba[good].mean(axis=0)
        lab, probs = _entry(labels, mean)
        score = float(np.median(ood[good])) if threshold is not None else math.nan
        entry = {"id": str(row["id"]), "path": path, "label": lab, "probabilities": probs,
                 **_flags(mean, score, threshold, low), "windows": windows}  # fmt: skip
        if attention is not None:  # attention fusion: the weight each block got
            entry["attention"] = {
                b: round(float(attention[b].to_numpy()[good].mean()), 4) for b in attention
            }
        result.predictions.append(entry)
    order = {str(i): k for k, i in enumerate(frame["id"])}
    result.failures.sort(key=lambda f: order.get(f.id.split("#w")[0], -1))
    _warn_flagged(result)
    return result
