"""Calibrated probabilities (issue 15, item 3): the ECE, the spec's ``calibration`` key, every
shipped spec's probabilities, grid keys that still reach the calibrated classifier, and the
calibration section of cv_report (JSON, Markdown, HTML, reliability plot).

Data: hand-made arrays, a tiny numeric frame (``extra`` blocks) and the shared generated demo
corpus; never ``../shared``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from emoclassic.evaluation import (
    calibration_summary,
    expected_calibration_error,
    plot_reliability,
    render_markdown,
    run_cv,
    write_reports,
)
from emoclassic.exceptions import ConfigError
from emoclassic.fusion import build_pipeline, param_grid, translate_params
from emoclassic.fusion._build import calibration_methods
from emoclassic.models import (
    SmallSampleCalibratedClassifierCV,
    apply_temperature,
    calibration_method,
    classifier_param_path,
    fit_temperature,
    make_classifier,
)
from emoclassic.prediction import probability_source
from emoclassic.spec import load_spec, shipped_specs


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few rows: scikit-learn warns about tiny classes
        yield


# --------------------------------------------------------------------------- the ECE
def test_ece_of_a_hand_made_example():
    labels = ["a", "b"]
    proba = np.array([
        [0.90, 0.10],  # a, right, confidence 0.9  -> bin (0.8, 0.9]
        [0.85, 0.15],  # a, right, 0.85           -> bin (0.8, 0.9]
        [0.80, 0.20],  # b, wrong, 0.8 (an edge)  -> bin (0.7, 0.8]
        [0.30, 0.70],  # b, right, 0.7 (an edge)  -> bin (0.6, 0.7]
        [0.45, 0.55],  # a, wrong, 0.55           -> bin (0.5, 0.6]
    ])  # fmt: skip
    y = ["a", "a", "b", "b", "a"]
    # bin 8: 2 items, confidence 0.875, accuracy 1 -> gap 0.125; bins 7, 6, 5: gaps .8, .3, .55
    expected = (2 * 0.125 + 0.8 + 0.3 + 0.55) / 5
    out = calibration_summary(y, proba, labels)
    assert out["ece"] == pytest.approx(expected) == pytest.approx(0.38)
    assert expected_calibration_error(y, proba, labels) == pytest.approx(0.38)
    assert out["mce"] == pytest.approx(0.8)
    assert out["n"] == 5 and out["n_bins"] == 10 and len(out["bins"]) == 10
    counts = [b["count"] for b in out["bins"]]
    assert counts == [0, 0, 0, 0, 0, 1, 1, 1, 2, 0]
    b8 = out["bins"][8]
    assert (b8["lower"], b8["upper"]) == (0.8, 0.9)
    assert b8["confidence"] == pytest.approx(0.875) and b8["accuracy"] == 1.0
    assert out["bins"][0]["confidence"] is None and out["bins"][0]["accuracy"] is None
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["confidence"] == pytest.approx(np.mean([0.9, 0.85, 0.8, 0.7, 0.55]))
    p_true = np.array([0.9, 0.85, 0.2, 0.7, 0.45])
    assert out["log_loss"] == pytest.approx(-np.log(p_true).mean())
    onehot = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0]])
    assert out["brier"] == pytest.approx(((proba - onehot) ** 2).sum(axis=1).mean())


def _ece_by_loops(y, proba, labels, n_bins=10):
    """The textbook definition, written out plainly."""
    total, n = 0.0, len(y)
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        rows = [i for i in range(n)
                if (lo < proba[i].max() <= hi) or (b == 0 and proba[i].max() == 0)]  # fmt: skip
        if rows:
            conf = np.mean([proba[i].max() for i in rows])
            acc = np.mean([labels[int(np.argmax(proba[i]))] == y[i] for i in rows])
            total += len(rows) / n * abs(acc - conf)
    return total


def test_ece_matches_the_definition_and_is_small_for_calibrated_probabilities():
    rng = np.random.default_rng(0)
    labels = ["x", "y", "z"]
    proba = rng.dirichlet([0.6, 0.6, 0.6], size=4000)
    # draw each true label from the probabilities themselves: calibrated by construction
    y = [labels[rng.choice(3, p=p)] for p in proba]
    ece = expected_calibration_error(y, proba, labels)
    assert ece == pytest.approx(_ece_by_loops(y, np.round(proba, 12), labels), abs=1e-9)
    assert ece < 0.03
    # always answering with certainty while being right a third of the time: ECE ~ 2/3
    sure = np.eye(3)[rng.integers(0, 3, 3000)]
    y_random = [labels[k] for k in rng.integers(0, 3, 3000)]
    assert expected_calibration_error(y_random, sure, labels) == pytest.approx(2 / 3, abs=0.03)


def test_ece_checks_its_inputs():
    with pytest.raises(ValueError, match="one column per label"):
        calibration_summary(["a"], np.array([[1.0, 0.0, 0.0]]), ["a", "b"])
    with pytest.raises(ValueError, match="n_bins"):
        calibration_summary(["a"], np.array([[1.0, 0.0]]), ["a", "b"], n_bins=0)


def test_reliability_plot_is_a_png(tmp_path):
    out = calibration_summary(["a", "b", "a"], np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]]),
                              ["a", "b"])  # fmt: skip
    png = plot_reliability(out["bins"], ece=out["ece"], path=tmp_path / "r.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "r.png").read_bytes() == png


# --------------------------------------------------------------------------- the spec key
def toy_spec(classifier: dict, *, fusion="early", grid=None) -> dict:
    return {
        "name": "calib-toy",
        "features": {
            "audio": {"type": "extra", "columns": ["a0", "a1"]},
            "text": {"type": "extra", "columns": ["t0"]},
        },
        "fusion": fusion,
        "classifier": classifier,
        "grid": grid or {},
        "cv": {"n_splits": 3, "inner_splits": 2},
    }


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """48 rows, 3 classes, 4 speakers; the classes differ in a0 and t0."""
    rng = np.random.default_rng(1)
    rows = []
    for s in range(4):
        for i in range(12):
            c = i % 3
            rows.append({"id": f"s{s}_{i}", "speaker": f"s{s}", "label": "pqr"[c],
                         "a0": c + rng.normal(0, 0.8), "a1": rng.normal(),
                         "t0": (c == 2) + rng.normal(0, 0.8)})  # fmt: skip
    return pd.DataFrame(rows)


def test_calibration_defaults_to_auto_and_resolves_by_classifier():
    spec = load_spec(toy_spec({"name": "svc"}))
    assert spec.classifier.calibration == "auto"
    assert "calibration" not in spec.classifier.estimator_params
    assert calibration_method("svc", "auto") == "sigmoid"
    assert calibration_method("random_forest", "auto") == "sigmoid"  # vote fractions
    assert calibration_method("logreg", "auto") is None  # fitted by the log-loss
    assert calibration_method("logreg", "isotonic") == "isotonic"
    assert calibration_method("svc", "none") is None
    # older callers (no calibration given) keep their behaviour
    assert calibration_method("svc") is None
    assert calibration_method("svc", probability=True) == "sigmoid"
    assert calibration_method("random_forest", probability=True) is None


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_a_spec_chooses_its_method(method):
    spec = load_spec(toy_spec({"name": "svc", "calibration": method}))
    clf = build_pipeline(spec).named_steps["clf"]
    assert isinstance(clf, SmallSampleCalibratedClassifierCV)
    assert clf.method == method and clf.ensemble is False
    assert load_spec(spec.to_dict()).classifier.calibration == method  # round trip


def test_calibration_none_leaves_a_user_model_on_the_softmax_fallback():
    spec = load_spec(toy_spec({"name": "svc", "calibration": "none"}))
    pipe = build_pipeline(spec)
    assert type(pipe.named_steps["clf"]).__name__ == "SVC"
    assert probability_source(pipe) == "softmax(decision_function)"
    assert calibration_methods(spec) == {"classifier": "none"}


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (toy_spec({"name": "svc", "calibration": "platt"}),
         r"calibration='platt'; valid: auto, sigmoid, isotonic, temperature, none"),
        (toy_spec({"name": "svc", "calibration": "none"},
                      fusion={"type": "voting", "branches": "block"}),
         r"\[classifier\]: classifier 'svc' has no predict_proba without calibration"),
        (toy_spec({"name": "logreg"}, grid={"classifier.calibration": ["sigmoid", "none"]}),
         r"grid key 'classifier.calibration': calibration is not tunable"),
    ],
)  # fmt: skip
def test_bad_calibrations_are_one_clear_line(spec, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_spec(spec)
    assert "\n" not in str(info.value)


def test_attention_fusion_refuses_a_calibration_wrapper():
    spec = toy_spec({"name": "attention", "calibration": "sigmoid"}, fusion="attention")
    with pytest.raises(ConfigError, match="attention fusion hands its classifier"):
        load_spec(spec)


STACKING = {"type": "stacking", "cv": 2, "branches": "block"}


def test_stacking_branches_are_calibrated_by_the_meta_learner():
    spec = load_spec(toy_spec({"name": "svc"}, fusion=STACKING))
    assert calibration_methods(spec) == {
        "classifier (audio)": "stacked", "classifier (text)": "stacked", "fusion.meta": "native",
    }  # fmt: skip
    svc_meta = toy_spec({"name": "svc"}, fusion={"type": "stacking", "meta": {"name": "svc"},
                                                  "branches": "block"})
    assert calibration_methods(load_spec(svc_meta))["fusion.meta"] == "sigmoid"
    # asked explicitly, a branch is calibrated too
    explicit = load_spec(toy_spec({"name": "svc", "calibration": "isotonic"}, fusion=STACKING))
    assert calibration_methods(explicit)["classifier (audio)"] == "isotonic"


# --------------------------------------------------------------------------- shipped specs
@pytest.mark.parametrize("name", [s.name for s in shipped_specs()])
def test_every_shipped_spec_gives_calibrated_or_native_probabilities(name):
    spec = load_spec(name)
    pipe = build_pipeline(spec)
    final = pipe.steps[-1][1]
    assert callable(getattr(final, "predict_proba", None)), name
    assert probability_source(pipe) == "predict_proba", name
    methods = calibration_methods(spec)
    assert "none" not in methods.values(), (name, methods)
    if spec.fusion.type in ("voting", "adaptive"):  # averaged probabilities: recalibrated
        assert methods.pop("fusion") == "temperature", name
    for where, method in methods.items():
        clf = spec.classifier if where.startswith("classifier") else (
            spec.fusion.meta if where == "fusion.meta"
            else spec.fusion.classifiers[where.split(".")[-1]])  # fmt: skip
        if clf.name in ("svc", "linear_svc_kernel", "linearsvc", "random_forest",
                        "extra_trees", "bagging_svm", "bagging_trees", "adaboost"):
            # scores that are not probabilities: calibrated, or turned into probabilities
            # by a stacking meta-learner fitted on speaker-grouped out-of-fold scores
            assert method in ("sigmoid", "isotonic", "temperature", "stacked"), (name, where)
        if method == "stacked":
            assert methods["fusion.meta"] != "none"


def test_recommended_audio_branches_are_sigmoid_calibrated_and_grid_keys_reach_them():
    spec = load_spec("recommended-audio")
    assert calibration_methods(spec) == {"classifier (vuv)": "sigmoid",
                                         "fusion.classifiers.vq": "sigmoid",
                                         "fusion": "temperature"}  # fmt: skip
    pipe = build_pipeline(spec)
    params = translate_params(spec, {"classifier.C": 0.003, "fusion.classifiers.vq.C": 0.03})
    assert params == {"fusion__vuv__clf__estimator__C": 0.003,
                      "fusion__vq__clf__estimator__C": 0.03}  # fmt: skip
    pipe.set_params(**params)
    branches = dict(pipe.named_steps["fusion"].estimators)
    assert branches["vuv"].named_steps["clf"].estimator.C == 0.003
    assert branches["vq"].named_steps["clf"].estimator.C == 0.03


# --------------------------------------------------------------------------- fused temperature
def test_fitted_temperature_sharpens_under_confident_probabilities_and_keeps_the_argmax():
    rng = np.random.default_rng(3)
    classes = np.array(["a", "b", "c"])
    logits = rng.normal(0, 2.0, size=(3000, 3))
    sharp = apply_temperature(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 1.0)
    y = classes[[rng.choice(3, p=p) for p in sharp]]  # calibrated at temperature 1
    flat = apply_temperature(sharp, 2.5)  # an under-confident version of the same model
    t = fit_temperature(flat, y, classes)
    assert t == pytest.approx(1 / 2.5, rel=0.15)
    fixed = apply_temperature(flat, t)
    assert (np.argmax(fixed, 1) == np.argmax(flat, 1)).all()
    before, after = (expected_calibration_error(y, p, classes) for p in (flat, fixed))
    assert after < 0.03 < before
    assert np.array_equal(apply_temperature(flat, 1.0), flat)
    assert fit_temperature(flat[:0], y[:0], classes) == 1.0  # nothing to fit on


VOTING = {"type": "voting", "branches": "block"}


def test_voting_calibrates_its_fused_probabilities_on_speaker_grouped_folds(frame):
    spec = load_spec(toy_spec({"name": "svc"}, fusion={**VOTING, "cv": 3}))
    assert spec.fusion.calibration == "auto"
    fusion = build_pipeline(spec).named_steps["fusion"]
    assert (fusion.calibration, fusion.cv, fusion.groups) == ("temperature", 3, "speaker")
    fusion.fit(frame, frame["label"].to_numpy())
    assert fusion.calibration_temperature_ != 1.0
    for train, test in fusion.calibration_splits_:  # no speaker on both sides
        assert not set(frame["speaker"].iloc[train]) & set(frame["speaker"].iloc[test])
    plain = fusion.get_params()
    no_cal = toy_spec({"name": "svc"}, fusion={**VOTING, "calibration": "none"})
    off = build_pipeline(load_spec(no_cal)).named_steps["fusion"]
    off.fit(frame, frame["label"].to_numpy())
    assert off.calibration_temperature_ == 1.0 and plain["calibration"] == "temperature"
    # the same predictions, other probabilities
    assert list(off.predict(frame)) == list(fusion.predict(frame))
    assert not np.allclose(off.predict_proba(frame), fusion.predict_proba(frame))
    with pytest.raises(ConfigError, match=r"fusion.calibration='sigmoid'; valid: auto, "
                                          r"temperature, none"):  # fmt: skip
        load_spec(toy_spec({"name": "svc"}, fusion={**VOTING, "calibration": "sigmoid"}))


def test_a_label_scored_search_defers_the_fused_calibration(frame, monkeypatch):
    from emoclassic.fusion import VotingFusion

    calls = []
    original = VotingFusion._fit_calibration

    def spy(self, X, y, sample_weight=None):
        calls.append(self.calibration)
        return original(self, X, y, sample_weight)

    monkeypatch.setattr(VotingFusion, "_fit_calibration", spy)
    spec = toy_spec({"name": "svc"}, fusion={**VOTING, "cv": 2}, grid={"classifier.C": [0.5, 2]})
    report = run_cv(spec, frame)
    # every search fit skipped it; each outer fold's kept model fitted it once
    assert calls.count("temperature") == report["protocol"]["n_outer_folds"]
    assert set(calls) == {"none", "temperature"}
    with_none = run_cv({**spec, "fusion": {**VOTING, "cv": 2, "calibration": "none"}}, frame)
    assert [r["predicted"] for r in with_none["predictions"]] == [
        r["predicted"] for r in report["predictions"]]
    assert report["calibration"]["methods"]["fusion"] == "temperature"


# --------------------------------------------------------------------------- grid params
@pytest.mark.parametrize(
    ("classifier", "key", "path", "inner"),
    [
        ({"name": "svc"}, "classifier.C", "clf__estimator__C", ("C",)),
        ({"name": "svc", "calibration": "isotonic"}, "classifier.gamma", "clf__estimator__gamma",
         ("gamma",)),
        ({"name": "bagging_svm", "n_estimators": 2}, "classifier.C",
         "clf__estimator__estimator__C", ("estimator", "C")),
        ({"name": "logreg"}, "classifier.C", "clf__C", None),
    ],
)  # fmt: skip
def test_grid_params_reach_the_calibrated_classifier(frame, classifier, key, path, inner):
    spec = load_spec(toy_spec(classifier, grid={key: [0.5, 2.0]}))
    assert [list(c) for c in param_grid(spec)] == [[path], [path]]
    pipe = build_pipeline(spec).set_params(**translate_params(spec, {key: 2.0}))
    pipe.fit(frame, frame["label"])
    clf = pipe.named_steps["clf"]
    if inner is None:
        assert clf.C == 2.0
        return
    assert isinstance(clf, SmallSampleCalibratedClassifierCV)
    fitted = clf.calibrated_classifiers_[0].estimator  # ensemble=False: one, refitted on all
    assert len(clf.calibrated_classifiers_) == 1
    for attr in inner:
        fitted = getattr(fitted, attr)
    assert fitted == 2.0
    proba = pipe.predict_proba(frame)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(pipe.predict(frame)) == list(clf.classes_[np.argmax(proba, axis=1)])


def test_classifier_param_path_follows_the_calibration():
    assert classifier_param_path("svc", "C", calibration="auto") == "estimator__C"
    assert classifier_param_path("svc", "C", calibration="none") == "C"
    assert classifier_param_path("logreg", "C", calibration="auto") == "C"
    assert classifier_param_path("logreg", "C", calibration="sigmoid") == "estimator__C"
    est = make_classifier("random_forest", calibration="auto", n_estimators=5)
    assert isinstance(est, SmallSampleCalibratedClassifierCV) and est.method == "sigmoid"


# --------------------------------------------------------------------------- the CV report
def test_cv_report_carries_out_of_fold_probabilities_and_their_ece(frame, tmp_path):
    spec = toy_spec({"name": "svc", "class_weight": "balanced"}, grid={"classifier.C": [1.0]})
    report = run_cv(spec, frame)
    cal = report["calibration"]
    assert 0.0 <= cal["ece"] <= 1.0 and report.ece == cal["ece"]
    assert cal["n"] == len(frame) and sum(b["count"] for b in cal["bins"]) == len(frame)
    assert cal["methods"] == {"classifier": "sigmoid"}
    labels = report["confusion"]["labels"]
    rows = report["predictions"]
    proba = np.array([[r["probabilities"][lab] for lab in labels] for r in rows])
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    # the predictions are the probabilities' argmax, and the ECE is theirs
    assert [r["predicted"] for r in rows] == [labels[k] for k in np.argmax(proba, axis=1)]
    assert cal["ece"] == pytest.approx(
        expected_calibration_error([r["label"] for r in rows], proba, labels), abs=1e-4)
    paths = write_reports(report, tmp_path)
    loaded = json.loads(paths["json"].read_text())
    assert loaded["calibration"]["ece"] == pytest.approx(cal["ece"])
    assert paths["reliability"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    assert f"calibration error (ECE) {100 * cal['ece']:.1f} %" in md
    assert "## Calibration" in md and "`classifier`: sigmoid" in md
    html = paths["html"].read_text()
    assert "calibration error (ECE)" in html and "alt='reliability diagram'" in html


def test_a_model_without_predict_proba_has_no_calibration_section(frame, tmp_path):
    spec = toy_spec({"name": "svc", "calibration": "none"})
    report = run_cv(spec, frame)
    assert "calibration" not in report and report.ece is None
    assert "probabilities" not in report["predictions"][0]
    paths = write_reports(report, tmp_path)
    assert "reliability" not in paths and not (tmp_path / "reliability.png").exists()
    assert "ECE" not in render_markdown(report)


def test_cv_report_on_the_generated_demo_corpus_has_an_ece(demo_corpus, tmp_path):
    _, manifest = demo_corpus
    spec = {
        "name": "calib-demo",
        "features": {"audio": {"type": "pooled", "preset": "compact"}},
        "classifier": {"name": "svc", "class_weight": "balanced"},
        "grid": {"classifier.C": [1.0, 10.0]},
        "cv": {"scheme": "group", "n_splits": 4, "inner_splits": 3},
    }
    report = run_cv(spec, manifest, cache=str(tmp_path / "cache"))
    assert 0.0 <= report["calibration"]["ece"] <= 1.0
    assert report["calibration"]["n"] == report["metrics"]["n"]
    assert report["calibration"]["methods"] == {"classifier": "sigmoid"}


# --------------------------------------------------------------------------- score
def test_score_reports_the_ece_over_the_scored_classes(frame):
    from emoclassic.evaluation import fit_final, score_model

    model = fit_final(toy_spec({"name": "logreg"}), frame)
    rep = score_model(model, frame, label_map="none")
    calib = rep["calibration"]
    assert 0.0 <= calib["ece"] <= 1.0 and calib["n"] == rep["metrics"]["n"] == len(frame)
    assert calib["source"] == "predict_proba"
    p = np.array([[e["probabilities"][c] for c in "pqr"] for e in rep["predictions"]])
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert calib["ece"] == pytest.approx(
        expected_calibration_error([e["label"] for e in rep["predictions"]], p, list("pqr")),
        abs=1e-5)
    # two model classes mapped onto one scored class: their probabilities are summed
    merged = score_model(model, frame.assign(label=frame["label"].replace({"q": "p"})),
                         label_map={"q": "p"})
    assert merged["confusion"]["labels"] == ["p", "r"]
    pm = np.array([[e["probabilities"][c] for c in "pr"] for e in merged["predictions"]])
    assert np.allclose(pm[:, 0], p[:, 0] + p[:, 1], atol=1e-5)
    assert merged["calibration"]["n"] == len(frame)


def test_score_of_a_model_without_probabilities_has_no_calibration(frame):
    from emoclassic.evaluation import fit_final, score_model

    model = fit_final(toy_spec({"name": "svc", "calibration": "none"}), frame)
    rep = score_model(model, frame)
    assert rep["calibration"] is None and "probabilities" not in rep["predictions"][0]


def test_risk_coverage_of_a_hand_made_example():
    """Abstaining below t keeps the items whose top probability is >= t (as
    predict --abstain-below does) and scores their top labels."""
    from emoclassic.evaluation import risk_coverage

    labels = ["a", "b"]
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.45, 0.55], [0.2, 0.8]])
    y = ["a", "b", "b", "a"]  # right, wrong, right, wrong
    out = risk_coverage(y, proba, labels, thresholds=(0.0, 0.5, 0.56, 0.7, 0.85, 0.95))
    assert [p["n"] for p in out] == [4, 4, 3, 2, 1, 0]
    assert [p["coverage"] for p in out] == [1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert [p["accuracy"] for p in out] == pytest.approx([0.5, 0.5, 1 / 3, 0.5, 1.0, None])
    assert [p["threshold"] for p in out] == [0.0, 0.5, 0.56, 0.7, 0.85, 0.95]
    default = risk_coverage(y, proba, labels)
    assert len(default) == 20 and default[0]["coverage"] == 1.0


def test_cv_report_has_risk_coverage_with_calibration(tmp_path):
    """risk_coverage sits beside calibration in cv_report (out-of-fold probabilities), its
    first point is the plain accuracy, and the reports show its table and curve."""
    from emoclassic.evaluation import run_cv, write_reports

    rng = np.random.default_rng(0)
    n = 60
    y = np.array(["x", "y", "z"] * (n // 3))
    manifest = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "label": y,
                             "speaker": [f"s{i % 4}" for i in range(n)],
                             "f0": rng.normal(size=n) + (y == "x") * 2.0,
                             "f1": rng.normal(size=n)})
    spec = {"name": "rc", "features": {"x": {"type": "extra", "columns": ["f0", "f1"]}},
            "classifier": {"name": "logreg"}, "cv": {"n_splits": 4}}
    report = run_cv(spec, manifest)
    rc = report["risk_coverage"]
    assert rc[0]["threshold"] == 0.0 and rc[0]["n"] == report["metrics"]["n"]
    assert rc[0]["accuracy"] == pytest.approx(report["metrics"]["wa"])
    cov = [p["coverage"] for p in rc]
    assert cov == sorted(cov, reverse=True)
    paths = write_reports(report, tmp_path / "out")
    assert paths["risk_coverage"].read_bytes()[:4] == b"\x89PNG"
    assert "Abstaining: risk-coverage" in paths["markdown"].read_text()
