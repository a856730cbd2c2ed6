"""Train on some corpora, test on others: the cross-corpus part of a cv report.

The question a researcher asks first of a model is whether it works on data it has never
seen, recorded elsewhere, by other people, in another language. So after the in-corpus
cross-validation, :func:`score_test_sets` fits one model on all the training rows (tuned by
folds grouped by (corpus, speaker), through the same :func:`fit_rows` as ``fit``) and scores
each test set once with :func:`score_model` (the same scoring as ``score``). The model
knows the training label space; a test set is scored on those of its classes it contains,
and its other items are dropped and counted. :func:`check_test_sets` refuses a test set that
cannot be scored before anything is extracted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..exceptions import DataError
from ._final import fit_rows
from ._metrics import METRIC_KEYS
from ._scoring import _label_mapper, score_model
from ._splits import CORPUS, LABEL, _corpora, _prepare

logger = logging.getLogger(__name__)

__all__: list[str] = []


def named_test_sets(
    test_sets: Mapping[str, pd.DataFrame] | Sequence[pd.DataFrame] | pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """``{name: frame}``; a frame given without a name is named by its one corpus."""
    if isinstance(test_sets, pd.DataFrame):
        test_sets = [test_sets]
    if isinstance(test_sets, Mapping):
        items = [(str(k), v) for k, v in test_sets.items()]
    else:
        items = []
        for position, frame in enumerate(test_sets):
            names = _corpora(frame) if isinstance(frame, pd.DataFrame) else []
            if len(names) != 1:
                raise DataError(
                    f"test set {position + 1}: cannot name it by its corpus column (it holds "
                    f"{len(names)} corpora); pass test_sets as a mapping name -> frame"
                )
            items.append((names[0], frame))
    out: dict[str, pd.DataFrame] = {}
    for name, frame in items:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"test set {name!r}: expected a manifest DataFrame; got "
                            f"{type(frame).__name__}")  # fmt: skip
        if name in out:
            raise DataError(f"test set {name!r} given twice; give each test set once")
        out[name] = frame
    return out


def _paths(frame: pd.DataFrame) -> set[str]:
    if "path" not in frame.columns:
        return set()
    paths = frame["path"].dropna().astype(str)
    return set(paths[paths.str.strip() != ""])


def check_test_sets(
    train: pd.DataFrame,
    test_sets: Mapping[str, pd.DataFrame] | Sequence[pd.DataFrame] | pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The test sets, named and checked against the prepared training rows ``train``.

    A test set must not be a training corpus nor share an audio file with the training data
    (its score would not be cross-corpus), and must hold labelled rows of at least one
    training class; each error says which test set and what to do.
    """
    sets = named_test_sets(test_sets)
    trained_on = set(_corpora(train))
    train_paths = _paths(train)
    classes = sorted(set(train[LABEL].astype(str)) - {""})  # "": votes, no label (soft mode)
    out = {}
    for name, frame in sets.items():
        if name in trained_on or trained_on & set(_corpora(frame)):
            raise DataError(
                f"test set {name!r} is also a training corpus; a cross-corpus score needs a "
                "corpus the model has not seen: drop it from --corpus/--manifest or from "
                "--test-corpus/--test-manifest"
            )
        try:
            rows, _ = _prepare(frame)
        except DataError as exc:
            raise DataError(f"test set {name!r}: {exc}") from exc
        shared_files = train_paths & _paths(rows)
        if shared_files:
            raise DataError(
                f"test set {name!r} shares {len(shared_files)} audio file(s) with the training "
                f"data (e.g. {sorted(shared_files)[0]}); a cross-corpus score needs unseen "
                "recordings"
            )
        truth = rows[LABEL].astype(str).tolist()
        mapper = _label_mapper("canonical", truth, classes)
        common = {mapper(t) for t in truth} & {mapper(c) for c in classes}
        if not common:
            raise DataError(
                f"test set {name!r} has no class the model learns (training classes: "
                f"{', '.join(classes)}; {name}: {', '.join(sorted(set(truth)))}); map its "
                "labels with --label-map or test on another corpus"
            )
        out[name] = frame
    return out


def score_test_sets(
    spec, train: pd.DataFrame, tables, test_sets: Mapping[str, pd.DataFrame], *, scheme: str,
    column: str, inner: str, inner_splits: int, n_jobs: int | None, random_state: int,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The ``cross_corpus`` key of a cv report: one model fitted on every training row
    (``train``, already extracted into ``tables``), each test set scored once.

    Each entry holds ``metrics`` (ua, wa, macro_f1, weighted_f1), ``per_class`` (the scored
    classes), ``confusion`` (rows: truth; columns: every class the model predicts), ``n``,
    ``classes`` (scored items per class), ``dropped``/``n_dropped`` (items of classes the
    model does not know), ``failed``/``n_failed``, ``ece``, the model's ``best_params``,
    ``trained_on`` (the training corpora) and ``predictions``.
    """
    est = fit_rows(spec, train, tables, scheme=scheme, column=column, inner=inner,
                   inner_splits=inner_splits, params=None, n_jobs=n_jobs,
                   random_state=random_state, ood=False)  # fmt: skip
    fitted = est.emoclassic_fit_
    out: dict[str, dict[str, Any]] = {}
    for name, frame in test_sets.items():
        logger.info("cross-corpus: scoring test set %s (%d rows)", name, len(frame))
        try:
            scored = score_model(est, frame)
        except DataError as exc:
            raise DataError(f"test set {name!r}: {exc}") from exc
        data = scored["data"]
        present = set(data["classes"])
        dropped = dict(data["dropped_labels"])
        if dropped:
            logger.warning("test set %s: %d item(s) of classes the model does not learn are "
                           "dropped: %s", name, sum(dropped.values()),
                           ", ".join(f"{k} {v}" for k, v in dropped.items()))  # fmt: skip
        absent = sorted(set(fitted["classes"]) - present)
        if absent:  # the model may still predict them: each such prediction is an error
            logger.warning("test set %s holds no %s, which the model learns and may predict "
                           "(each such prediction counts as an error); --classes %s trains on "
                           "the classes it holds", name, ", ".join(absent),
                           ",".join(sorted(present)))  # fmt: skip
        out[name] = {
            "metrics": {k: scored["metrics"][k] for k in METRIC_KEYS},
            "per_class": {k: v for k, v in scored["per_class"].items() if k in present},
            "confusion": scored["confusion"],
            "n": int(data["n_items"]),
            "classes": dict(data["classes"]),
            "dropped": dropped,
            "n_dropped": int(sum(dropped.values())),
            "failed": list(data["failed"]),
            "n_failed": len(data["failed"]),
            "ece": (scored.get("calibration") or {}).get("ece"),
            "best_params": fitted["best_params"],
            "n_train": fitted["n_items"],
            "trained_on": sorted(set(train[CORPUS].astype(str))) if CORPUS in train else [],
            "predictions": scored["predictions"],
        }
    return out
