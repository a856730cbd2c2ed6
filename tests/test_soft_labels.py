"""Training with ambiguity (issue 18, item 2): the spec's ``[labels]``, the rows and weights a
fit sees, ``sample_weight`` through pipelines, fusions, calibration and the grid search, folds
that keep an utterance's copies together, metrics that count each utterance once, and
``protocol.labels`` in cv_report.

Data: a small numeric frame with synthetic votes (``extra`` blocks: no extraction) and the
shared generated demo corpus with synthetic votes; never ``../shared``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from emoclassic.data import validate_manifest
from emoclassic.data._votes import format_votes
from emoclassic.evaluation import fit_final, run_cv
from emoclassic.evaluation._ambiguity import HardLabelScorer, training_rows
from emoclassic.exceptions import ConfigError, DataError
from emoclassic.fusion import build_pipeline
from emoclassic.fusion._weights import accepts_sample_weight, fit_params, unweighted_sites
from emoclassic.models import CLASSIFIERS, DEFAULT_GRIDS, make_classifier, register_classifier
from emoclassic.spec import LabelsSpec, load_spec

CLASSES = ("anger", "happiness", "neutral", "sadness")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few rows: scikit-learn warns about tiny classes
        yield


def with_votes(frame: pd.DataFrame, seed: int = 0, annotators: int = 4) -> pd.DataFrame:
    """``frame`` with synthetic votes: each annotator names the row's label with probability
    0.7, else another class; a tied vote with probability 1/2 loses its label (no majority)."""
    rng = np.random.default_rng(seed)
    classes = sorted(set(frame["label"]))
    votes, labels = [], []
    for label in frame["label"]:
        counts: dict[str, int] = {}
        for _ in range(annotators):
            c = label if rng.random() < 0.7 else rng.choice([k for k in classes if k != label])
            counts[str(c)] = counts.get(str(c), 0) + 1
        top = max(counts.values())
        tied = sum(v == top for v in counts.values()) > 1
        votes.append(format_votes(counts))
        labels.append(None if tied and rng.random() < 0.5 else label)
    out = frame.copy()
    out["votes"] = votes
    out["label"] = labels
    return out


def toy_frame(n_speakers: int = 5, per_class: int = 6, seed: int = 0) -> pd.DataFrame:
    """Rows of 4 classes by speaker; the classes differ in a0/a1 (an ``extra`` block)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        for i in range(per_class * len(CLASSES)):
            c = i % len(CLASSES)
            rows.append({"id": f"s{s}_{i:02d}", "speaker": f"spk{s}", "label": CLASSES[c],
                         "a0": (c % 2) * 2 + rng.normal(0, 0.9),
                         "a1": (c // 2) * 2 + rng.normal(0, 0.9)})  # fmt: skip
    return pd.DataFrame(rows)


def toy_spec(mode="soft", *, classifier=None, fusion="early", grid=None, min_agreement=0.0,
             blocks=None) -> dict:  # fmt: skip
    return {
        "name": f"labels-{mode}",
        "features": blocks or {"audio": {"type": "extra", "columns": ["a0", "a1"]}},
        "fusion": fusion,
        "classifier": classifier or {"name": "logreg"},
        "grid": grid or {},
        "cv": {"n_splits": 3, "inner_splits": 2},
        "labels": {"mode": mode, "min_agreement": min_agreement},
    }


# --------------------------------------------------------------------------- the spec
def test_labels_table_is_parsed_and_checked():
    spec = load_spec(toy_spec("weighted", min_agreement=0.5))
    assert spec.labels == LabelsSpec("weighted", 0.5)
    assert spec.to_dict()["labels"] == {"mode": "weighted", "min_agreement": 0.5}
    assert load_spec(spec.to_dict()).labels == spec.labels
    high = load_spec({**toy_spec(), "labels": {"high_agreement": 0.6}})
    assert high.labels.high_agreement == 0.6 and load_spec(high.to_dict()).labels == high.labels
    plain = toy_spec()
    del plain["labels"]
    assert load_spec(plain).labels == LabelsSpec() and "labels" not in load_spec(plain).to_dict()
    for table, pattern in [
        ({"mode": "fuzzy"}, r"\[labels\] mode = 'fuzzy'; valid: hard, soft, weighted"),
        ({"min_agreement": 1.5}, r"min_agreement = 1.5 must be a number from 0.0 to 1.0"),
        ({"min_agreement": True}, r"min_agreement = True"),
        ({"high_agreement": 0}, r"high_agreement = 0 must be a number above 0.0, up to 1.0"),
        ({"mode": "soft", "weights": 1}, r"unknown key 'weights' in \[labels\]"),
    ]:
        with pytest.raises(ConfigError, match=pattern) as err:
            load_spec({**toy_spec(), "labels": table})
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (toy_spec(blocks={"frames": {"type": "frames", "max_frames": 8}},
                  classifier={"name": "lstm"}),
         r"classifier 'lstm' \(classifier\)"),
        (toy_spec("weighted", fusion="attention", classifier={"name": "attention"},
                  blocks={"a": {"type": "extra", "columns": ["a0"]},
                          "b": {"type": "extra", "columns": ["a1"]}}),
         r"classifier 'attention' \(classifier\)"),
        (toy_spec(fusion={"type": "stacking", "branches": "block",
                          "classifiers": {"b": {"name": "lstm"}}},
                  blocks={"a": {"type": "extra", "columns": ["a0"]},
                          "b": {"type": "extra", "columns": ["a1"]}}),
         r"classifier 'lstm' \(fusion.classifiers.b\)"),
    ],
)  # fmt: skip
def test_classifiers_without_sample_weight_are_refused(spec, where):
    with pytest.raises(ConfigError, match=where) as err:
        load_spec(spec)
    message = str(err.value)
    assert "\n" not in message and "sample_weight" in message and "mode = 'hard'" in message
    spec["labels"]["mode"] = "hard"  # hard labels need no weights
    load_spec(spec)


def test_which_zoo_classifiers_take_sample_weight():
    takes = {name for name, info in CLASSIFIERS.items()
             if accepts_sample_weight(info.factory())}  # fmt: skip
    assert {"svc", "linearsvc", "logreg", "random_forest", "extra_trees", "bagging_svm",
            "bagging_trees", "adaboost", "hist_gb", "xgboost"} <= takes  # fmt: skip
    assert not takes & {"lstm", "attention", "alexnet"}
    # a calibration wrapper takes them when what it wraps does
    assert accepts_sample_weight(make_classifier("svc", calibration="sigmoid"))
    stacking = toy_spec(fusion={"type": "stacking", "branches": "block"},
                        blocks={"a": {"type": "extra", "columns": ["a0"]},
                                "b": {"type": "extra", "columns": ["a1"]}})  # fmt: skip
    assert unweighted_sites(load_spec(stacking)) == []


# --------------------------------------------------------------------------- training rows
def _votes_frame() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "speaker": ["s1", "s1", "s2", "s2", "s3"],
        "votes": ["anger:3;neutral:1", "neutral:2", "sadness:1;anger:1", None,
                  "happiness:1;neutral:1;fear:2"],
    })  # fmt: skip
    y = np.array(["anger", "neutral", "", "sadness", "fear"], dtype=object)
    return frame, y


def test_soft_rows_copy_an_utterance_per_voted_class():
    frame, y = _votes_frame()
    classes = ["anger", "happiness", "neutral", "sadness"]  # fear is outside the run's classes
    rows = training_rows(frame, y, LabelsSpec("soft"), classes)
    assert rows.X["id"].tolist() == ["a", "a", "b", "c", "c", "d", "e", "e"]
    assert rows.y.tolist() == ["anger", "neutral", "neutral", "anger", "sadness", "sadness",
                               "happiness", "neutral"]  # fmt: skip
    raw = np.array([0.75, 0.25, 1.0, 0.5, 0.5, 1.0, 0.25, 0.25])  # shares of all the votes
    np.testing.assert_allclose(rows.sample_weight, raw * 5 / raw.sum())  # sums to 5 utterances
    # the no-majority utterance c trains but is never validated; one scored row per utterance
    assert rows.scored.tolist() == [True, False, True, False, False, True, True, False]
    assert rows.hard == {"a": "anger", "b": "neutral", "d": "sadness", "e": "fear"}
    assert rows.strat.tolist() == ["anger", "neutral", "anger", "sadness", "fear"]
    assert fit_params(build_pipeline(load_spec(toy_spec())), rows.sample_weight).keys() == {
        "clf__sample_weight"}


def test_weighted_hard_and_min_agreement_rows():
    frame, y = _votes_frame()
    weighted = training_rows(frame, y, LabelsSpec("weighted"))
    assert weighted.X["id"].tolist() == ["a", "b", "d", "e"]  # c has no label
    raw = np.array([0.75, 1.0, 1.0, 0.5])  # the agreement; d has no votes: 1
    np.testing.assert_allclose(weighted.sample_weight, raw * 4 / raw.sum())
    strict = training_rows(frame, y, LabelsSpec("hard", 0.7))
    assert strict.X["id"].tolist() == ["a", "b", "d"] and strict.sample_weight is None
    assert training_rows(frame, y, LabelsSpec("soft", 0.6)).X["id"].tolist() == [
        "a", "a", "b", "d"]
    # nothing changes: hard labels on labelled rows, or no votes at all
    labelled = y != ""
    assert training_rows(frame[labelled], y[labelled], LabelsSpec()) is None
    assert training_rows(frame.drop(columns="votes")[labelled], y[labelled],
                         LabelsSpec("soft")) is None  # fmt: skip
    with pytest.raises(DataError, match="keeps 1 class"):
        training_rows(frame.iloc[:3], y[:3], LabelsSpec("hard", 1.0))  # b alone


def test_inner_folds_keep_copies_together_and_score_hard_labels():
    frame = with_votes(toy_frame(n_speakers=4))
    y = frame["label"].fillna("").to_numpy(dtype=object)
    rows = training_rows(frame, y, LabelsSpec("soft"), list(CLASSES))
    groups = frame["speaker"].to_numpy(dtype=object)
    splits = rows.inner_splits("group", 2, groups, None, 0)
    ids = rows.X["id"].to_numpy()
    for train, test in splits:
        assert not set(ids[train]) & set(ids[test])
        assert not set(rows.X["speaker"].iloc[train]) & set(rows.X["speaker"].iloc[test])
        assert len(set(ids[test])) == len(test)  # each utterance once
        assert all(y[frame.index[frame["id"] == i][0]] != "" for i in ids[test])
    # without groups (stratified inner folds), copies still stay together
    for train, test in rows.inner_splits("stratified", 2, None, None, 0):
        assert not set(ids[train]) & set(ids[test])
    labelled = y != ""
    model = build_pipeline(load_spec(toy_spec("hard"))).fit(frame[labelled], y[labelled])
    scorer = HardLabelScorer("accuracy", rows.hard)
    scored = rows.X.iloc[np.flatnonzero(rows.scored)]
    truth = np.array([rows.hard[i] for i in scored["id"]], dtype=object)
    expected = np.mean(model.predict(scored) == truth)
    assert not np.array_equal(truth, rows.y[rows.scored])  # some first copies vote otherwise
    assert scorer(model, scored, rows.y[rows.scored]) == pytest.approx(expected)


# --------------------------------------------------------------------------- sample_weight
class WeightSpy(ClassifierMixin, BaseEstimator):
    """Logistic regression that records the rows and weights of every fit."""

    fits: list = []

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y, sample_weight=None):
        WeightSpy.fits.append((len(y), None if sample_weight is None else len(sample_weight)))
        self.model_ = LogisticRegression(C=self.C).fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


@pytest.fixture
def spy():
    register_classifier("test_weight_spy", WeightSpy, grid={"C": [0.5, 2.0]}, proba="native")
    register_classifier("test_weight_spy_votes", WeightSpy, proba="votes")  # calibrated
    WeightSpy.fits = []
    yield WeightSpy
    for name in ("test_weight_spy", "test_weight_spy_votes"):
        CLASSIFIERS.pop(name)
        DEFAULT_GRIDS.pop(name)


TWO_BLOCKS = {"a": {"type": "extra", "columns": ["a0"]}, "b": {"type": "extra", "columns": ["a1"]}}


@pytest.mark.parametrize(
    ("classifier", "fusion", "grid"),
    [
        ("test_weight_spy", "early", {"classifier.C": [0.5, 2.0]}),
        ("test_weight_spy_votes", "early", {}),
        ("test_weight_spy", {"type": "voting", "branches": "block", "cv": 2}, {}),
        ("test_weight_spy", {"type": "adaptive", "branches": "block", "cv": 2}, {}),
        ("test_weight_spy", {"type": "stacking", "branches": "block", "cv": 2,
                             "meta": {"name": "test_weight_spy"}}, {"classifier.C": [0.5, 2]}),
        ("test_weight_spy", {"type": "hybrid", "branches": "block", "cv": 2}, {}),
    ],
)  # fmt: skip
def test_sample_weight_reaches_every_fit(spy, classifier, fusion, grid):
    """Every classifier fit (branches, meta-learner, calibration folds, grid candidates and
    the refit) gets one weight per row it is fitted on."""
    frame = with_votes(toy_frame())
    spec = toy_spec(classifier={"name": classifier}, fusion=fusion, grid=grid,
                    blocks=TWO_BLOCKS if fusion != "early" else None)  # fmt: skip
    report = run_cv(spec, frame)
    assert spy.fits and all(n == w for n, w in spy.fits), spy.fits
    hard = run_cv({**spec, "labels": {"mode": "hard"}}, frame)
    assert report["metrics"]["n"] == hard["metrics"]["n"]


# --------------------------------------------------------------------------- cv and fit
def test_soft_cv_scores_each_labelled_utterance_once():
    frame = with_votes(toy_frame())
    no_majority = int(frame["label"].isna().sum())
    assert no_majority > 0
    report = run_cv(toy_spec("soft", grid={"classifier.C": [0.1, 1.0]}), frame)
    ids = [p["id"] for p in report["predictions"]]
    assert len(ids) == len(set(ids)) == len(frame) - no_majority == report["metrics"]["n"]
    assert sum(report["data"]["classes"].values()) == report["metrics"]["n"]
    labels = report["protocol"]["labels"]
    assert labels["mode"] == "soft" and labels["sample_weight"] == "share of votes"
    assert labels["n_with_votes"] == len(frame)
    assert labels["n_no_majority"] == no_majority and labels["no_majority"] == "trained, not scored"
    assert 0 < labels["agreement"]["mean"] <= 1
    # the no-majority rows trained: more training rows than labelled utterances
    n_train = sum(f["n_train"] for f in report["folds"])
    n_test = report["metrics"]["n"]
    assert n_train == (report["protocol"]["n_outer_folds"] - 1) * (n_test + no_majority)
    # hard mode leaves them out (counted), and min_agreement drops training rows
    hard = run_cv(toy_spec("hard", min_agreement=0.6), frame)
    assert hard["protocol"]["labels"]["no_majority"] == "left out"
    assert hard["protocol"]["labels"]["n_below_min_agreement"] > 0
    assert hard["data"]["n_unlabelled"] == no_majority
    assert [p["id"] for p in hard["predictions"]] == ids  # the same utterances are scored


def test_metrics_of_high_agreement_items_sit_beside_all_items():
    """metrics_high_agreement (issue 18): the items whose annotators agreed at least
    [labels] high_agreement, scored as the all-items metrics are; absent without votes."""
    from emoclassic.data._votes import agreement
    from emoclassic.evaluation import compute_metrics, render_markdown
    from emoclassic.evaluation._ambiguity import vote_table

    frame = with_votes(toy_frame())
    for threshold in (0.75, 0.6):
        spec = toy_spec("soft")
        spec["labels"]["high_agreement"] = threshold
        report = run_cv(spec, frame)
        high = report["metrics_high_agreement"]
        agree = {str(i): agreement(v) for i, v in zip(frame["id"], vote_table(frame),
                                                         strict=True)}
        kept = [p for p in report["predictions"] if agree[p["id"]] >= threshold]
        assert high["threshold"] == threshold and high["n"] == len(kept) > 0
        assert high["n_with_votes"] == report["metrics"]["n"]
        want = compute_metrics([p["label"] for p in kept], [p["predicted"] for p in kept],
                               labels=list(report["per_class"]))["metrics"]
        assert high["metrics"] == want
        assert f"agreement ≥ {threshold:g}" in render_markdown(report)
    assert "metrics_high_agreement" not in run_cv(toy_spec("hard"), toy_frame())


def test_hard_labels_ignore_votes():
    frame = toy_frame()
    plain = run_cv(toy_spec("hard"), frame)
    voted = run_cv(toy_spec("hard"), with_votes(frame).assign(label=frame["label"]))
    assert [p["predicted"] for p in plain["predictions"]] == [
        p["predicted"] for p in voted["predictions"]]
    assert plain["protocol"]["labels"]["n_with_votes"] == 0


def test_fit_final_in_soft_mode(spy):
    frame = with_votes(toy_frame())
    spec = toy_spec("soft", classifier={"name": "test_weight_spy"},
                    grid={"classifier.C": [0.5, 2.0]})  # fmt: skip
    est = fit_final(spec, frame)
    assert est.emoclassic_fit_["classes"] == sorted(CLASSES)
    assert est.emoclassic_fit_["n_items"] == len(frame)  # the no-majority rows trained too
    assert sorted(est.classes_) == sorted(CLASSES)
    spy.fits = []
    fit_final(spec, frame, params={"classifier.C": 1.0})
    assert spy.fits and all(w is not None and n == w for n, w in spy.fits)


def test_soft_labels_on_the_demo_corpus(demo_corpus, tmp_path):
    _, manifest = demo_corpus
    frame = validate_manifest(with_votes(manifest, seed=3), check_files=False)
    spec = {
        "name": "soft-demo",
        "features": {"audio": {"type": "pooled", "preset": "compact"}},
        "classifier": {"name": "svc", "class_weight": "balanced"},
        "grid": {"classifier.C": [1.0, 10.0]},
        "cv": {"scheme": "group", "n_splits": 4, "inner_splits": 3},
        "labels": {"mode": "soft"},
    }
    report = run_cv(spec, frame, cache=str(tmp_path / "cache"))
    n_labelled = int(frame["label"].notna().sum())
    assert report["metrics"]["n"] == n_labelled == report["calibration"]["n"]
    assert report["protocol"]["labels"]["n_no_majority"] == len(frame) - n_labelled
    assert report["metrics"]["ua"] > 0.4  # 4 classes: chance is 0.25


def test_copies_of_an_utterance_are_one_turn_of_dialogue_context():
    from emoclassic.text._context import build_context_texts

    turns = pd.DataFrame({"id": ["a", "b", "c"], "text": ["one", "two", "three"],
                          "dialogue_id": ["d"] * 3, "utterance_index": [0, 1, 2]})  # fmt: skip
    copies = turns.iloc[[0, 1, 1, 1, 2]].reset_index(drop=True)  # b: three voted classes
    plain = build_context_texts(turns, past=1, future=1)
    assert build_context_texts(copies, past=1, future=1) == [plain[i] for i in (0, 1, 1, 1, 2)]


def test_reports_say_how_training_read_the_votes():
    from emoclassic.evaluation import render_markdown

    frame = with_votes(toy_frame())
    report = run_cv(toy_spec("soft", min_agreement=0.5), frame)
    text = render_markdown(report)
    assert "Labels: **soft**; 120 items with votes" in text
    assert "without a majority (trained, not scored)" in text and "min agreement 0.5" in text
    assert "Labels:" not in render_markdown(run_cv(toy_spec("hard"), toy_frame()))


def test_calibration_folds_keep_an_utterances_copies_together():
    from emoclassic.models._zoo import _copy_splits

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.array(list("abc") * 10, dtype=object)
    copies = np.repeat(X, 2, axis=0)  # each utterance twice, the copy voted for another class
    y2 = np.array([c for v in y for c in (v, "abc"["abc".index(v) - 1])], dtype=object)
    splits = _copy_splits(copies, y2, 3)
    assert len(splits) == 3
    for train, test in splits:
        assert not {tuple(r) for r in copies[train]} & {tuple(r) for r in copies[test]}
    assert _copy_splits(X, y, 3) is None  # no copies: scikit-learn's own folds
    model = make_classifier("svc", calibration="sigmoid")
    model.fit(copies, y2, sample_weight=np.ones(len(y2)))
    assert model.cv == 3 and model.predict_proba(X).shape == (30, 3)
