"""The CV harness: speaker independence, nesting, splits, caching, ablation, final models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from emoclassic.evaluation import NoGroupsWarning, fit_final, run_cv, score_model
from emoclassic.exceptions import ConfigError
from emoclassic.features import BaseExtractor, Item
from emoclassic.fusion import BLOCK_TYPES, ExtraFeatures, GroupNormalizer, register_block_type
from emoclassic.models import CLASSIFIERS, DEFAULT_GRIDS, register_classifier

CLASSES = ["anger", "happiness", "neutral", "sadness"]
A_COLS = [f"a{j}" for j in range(3)]
T_COLS = [f"t{j}" for j in range(3)]


def frame(n_speakers=6, per_class=5, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        shift = rng.normal(0, 1.0, 3)
        for i in range(per_class * 4):
            c = i % 4
            a = rng.normal(0, 1, 3) + shift
            a[0] += 2.5 * (c in (0, 1))
            t = rng.normal(0, 1, 3)
            t[0] += 2.5 * (c in (1, 2))
            rows.append({
                "id": f"s{s}_{i:03d}", "path": "", "text": "", "label": CLASSES[c],
                "speaker": f"spk{s}", "row": len(rows),
                "split": "train" if s < n_speakers - 2 else ("dev" if s == n_speakers - 2
                                                             else "test"),
                **dict(zip(A_COLS, a, strict=True)), **dict(zip(T_COLS, t, strict=True)),
            })  # fmt: skip
    return pd.DataFrame(rows)


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression on columns 1.. that logs the rows (column 0) it is fit on and
    asked about, so tests can check who saw what."""

    events: list = []

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        self.rows_ = frozenset(int(round(r)) for r in X[:, 0])
        SpyClassifier.events.append(("fit", self.rows_, None))
        self.model_ = LogisticRegression(C=self.alpha).fit(X[:, 1:], y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        SpyClassifier.events.append(("predict", frozenset(int(round(r)) for r in X[:, 0]),
                                     self.rows_))  # fmt: skip
        return self.model_.predict(X[:, 1:])


class CountingExtractor(BaseExtractor):
    """The a-columns as features, counting every computed (not cached) item."""

    computed: list = []

    def __init__(self, *, cache=None, n_jobs=1, on_error="raise"):
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error

    def _items(self, X):
        return [Item(r["id"], (r["id"],), np.array([r[c] for c in A_COLS]))
                for _, r in X.iterrows()]  # fmt: skip

    def _compute_one(self, item):
        CountingExtractor.computed.append(item.id)
        return item.payload

    def get_feature_names_out(self, input_features=None):
        return np.array(A_COLS, dtype=object)


@pytest.fixture(autouse=True, scope="module")
def registered_toys():
    """The spy classifier and toy block types, registered for this module only."""
    register_classifier("test_spy", SpyClassifier, grid={"alpha": [0.1, 1.0]})
    register_block_type("cv_audio", ExtraFeatures, modality="audio", columns=("id", *A_COLS))
    register_block_type("cv_text", ExtraFeatures, modality="text", columns=("id", *T_COLS))
    register_block_type("cv_counting", CountingExtractor, modality="audio", columns=("id", *A_COLS))
    yield
    CLASSIFIERS.pop("test_spy")
    DEFAULT_GRIDS.pop("test_spy")
    for name in ("cv_audio", "cv_text", "cv_counting"):
        BLOCK_TYPES.pop(name)


def spy_spec(**extra) -> dict:
    return {
        "name": "spy",
        "features": {
            "rowid": {"type": "extra", "columns": ["row"], "scale": False},
            "x": {"type": "extra", "columns": A_COLS + T_COLS},
        },
        "classifier": {"name": "test_spy"},
        "grid": {"classifier.alpha": [0.1, 1.0]},
        "cv": {"n_splits": 3, "inner_splits": 3},
        **extra,
    }


def speakers_of(df, rows) -> set:
    return set(df["speaker"].iloc[sorted(rows)])


@pytest.fixture
def df():
    return frame()


# --------------------------------------------------------------------------- independence
@pytest.mark.parametrize("scheme", ["group", "groupkfold", "logo"])
def test_no_speaker_is_ever_in_train_and_test(df, scheme):
    r = run_cv(spy_spec(grid={}), df, scheme=scheme)
    assert r["protocol"]["scheme"] == scheme
    tested = []
    for f in r["folds"]:
        assert f["train_groups"] and f["test_groups"]
        assert not set(f["train_groups"]) & set(f["test_groups"])
        tested += f["test_groups"]
    assert sorted(tested) == sorted(df["speaker"].unique())  # every speaker tested once
    assert sorted(p["id"] for p in r["predictions"]) == sorted(df["id"])
    if scheme == "logo":
        assert r["protocol"]["n_outer_folds"] == df["speaker"].nunique()


def test_the_grid_never_sees_the_outer_test_fold_and_inner_folds_are_grouped(df):
    SpyClassifier.events.clear()
    r = run_cv(spy_spec(), df)
    fits = [e for e in SpyClassifier.events if e[0] == "fit"]
    per_fold = 2 * 3 + 1  # candidates x inner folds + refit
    assert len(fits) == per_fold * len(r["folds"])
    test_rows = {k: {int(df.index[df["id"] == p["id"]][0]) for p in r["predictions"]
                     if p["fold"] == k} for k in range(len(r["folds"]))}  # fmt: skip
    for k in range(len(r["folds"])):
        train_rows = set(range(len(df))) - test_rows[k]
        chunk = fits[k * per_fold : (k + 1) * per_fold]
        for _, rows, _ in chunk:
            assert rows <= train_rows, "a grid candidate was fit on outer test rows"
        assert chunk[-1][1] == train_rows  # the refit uses the whole training part
    for _, asked, fitted in (e for e in SpyClassifier.events if e[0] == "predict"):
        assert not speakers_of(df, asked) & speakers_of(df, fitted), "a speaker leaked"
    assert len(r["grid"]["folds"]) == len(r["folds"])
    assert "mean_test_score" in r["grid"]["folds"][0]
    assert r["grid"]["candidates"] == [{"classifier.alpha": 0.1}, {"classifier.alpha": 1.0}]


def test_split_scheme_tunes_on_train_with_dev_and_reports_on_test(df):
    SpyClassifier.events.clear()
    r = run_cv(spy_spec(), df, scheme="split")
    split = df["split"].to_numpy()
    train = set(np.flatnonzero(split == "train"))
    dev = set(np.flatnonzero(split == "dev"))
    test = set(np.flatnonzero(split == "test"))
    ev = SpyClassifier.events
    fits = [e for e in ev if e[0] == "fit"]
    preds = [e for e in ev if e[0] == "predict"]
    assert [f[1] for f in fits] == [train, train, train | dev]  # 2 candidates, then refit
    assert [p[1] for p in preds] == [dev, dev, test]  # validated on dev, reported on test
    assert r["protocol"]["n_outer_folds"] == 1
    assert r["protocol"]["inner"] == "split (dev)"
    assert r["metrics"]["n"] == len(test)
    assert {p["id"] for p in r["predictions"]} == set(df["id"].iloc[sorted(test)])


def test_missing_groups_is_an_error_unless_stratified_is_chosen_loudly(df):
    no_spk = df.drop(columns=["speaker"])
    with pytest.raises(ConfigError, match="needs the group column 'speaker'.*stratified"):
        run_cv(spy_spec(grid={}), no_spk)
    with pytest.warns(NoGroupsWarning, match="no group column"):
        r = run_cv(spy_spec(grid={}), no_spk, scheme="stratified")
    assert r["protocol"]["scheme"] == "stratified"
    with pytest.warns(NoGroupsWarning, match="ignores the group column"):
        run_cv(spy_spec(grid={}), df, scheme="stratified")


def test_groups_override_names_another_column(df):
    df = df.assign(session=df["speaker"].str.replace("spk", "sess"))
    r = run_cv(spy_spec(grid={}), df, groups="session")
    assert r["protocol"]["groups"] == "session"
    assert all(g.startswith("sess") for g in r["folds"][0]["test_groups"])


# --------------------------------------------------------------------------- caching
def test_features_are_extracted_once_for_all_folds_and_candidates(df):
    CountingExtractor.computed.clear()
    spec = {"name": "count", "features": {"a": {"type": "cv_counting"}},
            "classifier": {"name": "logreg"}, "grid": {"classifier.C": [0.1, 1.0, 10.0]},
            "cv": {"n_splits": 3}}  # fmt: skip
    r = run_cv(spec, df, cache=None)
    assert sorted(CountingExtractor.computed) == sorted(df["id"])  # once per item, no more
    assert r["timing"]["extraction"] >= 0 and r["timing"]["cv"] > 0


def test_disk_cache_is_reused_across_runs(df, tmp_path):
    CountingExtractor.computed.clear()
    spec = {"name": "count", "features": {"a": {"type": "cv_counting"}},
            "classifier": {"name": "logreg"}, "cv": {"n_splits": 3}}  # fmt: skip
    run_cv(spec, df, cache=tmp_path / "cache")
    run_cv(spec, df, cache=tmp_path / "cache")
    assert len(CountingExtractor.computed) == len(df)


def test_failed_items_are_dropped_and_listed(df, tmp_path):
    pd.DataFrame({"id": df["id"][3:], **{c: df[c][3:] for c in A_COLS}}).to_csv(
        tmp_path / "x.csv", index=False
    )
    spec = {"name": "f", "features": {"x": {"type": "extra", "file": str(tmp_path / "x.csv")}},
            "classifier": {"name": "logreg"}, "cv": {"n_splits": 3}}  # fmt: skip
    r = run_cv(spec, df)
    assert r["data"]["n_failed"] == 3
    assert [f["id"] for f in r["data"]["failed"]] == df["id"][:3].tolist()
    assert r["data"]["failed"][0]["block"] == "x"
    assert r["data"]["n_items"] == len(df) - 3 == r["metrics"]["n"]


# --------------------------------------------------------------------------- protocol extras
def test_ablation_runs_each_modality_on_the_same_folds(df):
    spec = {"name": "abl",
            "features": {"audio": {"type": "cv_audio", "columns": A_COLS},
                         "text": {"type": "cv_text", "columns": T_COLS}},
            "classifier": {"name": "logreg"}, "grid": {"classifier.C": [0.1, 1.0]},
            "cv": {"n_splits": 3}}  # fmt: skip
    r = run_cv(spec, df, ablation=True)
    assert set(r["ablation"]) == {"audio", "text", "fused"}
    for v in r["ablation"].values():
        assert {"ua", "wa", "macro_f1", "weighted_f1"} <= set(v["metrics"])
    assert r["ablation"]["fused"]["metrics"] == r["metrics"]
    # each modality alone carries half of the information: fusion wins on this toy
    assert r["ablation"]["fused"]["metrics"]["ua"] > max(
        r["ablation"]["audio"]["metrics"]["ua"], r["ablation"]["text"]["metrics"]["ua"]
    )


def test_speaker_normaliser_is_fitted_inside_each_fold(df, monkeypatch):
    seen: list[set] = []
    original = GroupNormalizer._fit

    def recording_fit(self, X):
        seen.append(set(X["speaker"]))
        return original(self, X)

    monkeypatch.setattr(GroupNormalizer, "_fit", recording_fit)
    spec = {"name": "sn", "features": {"x": {"type": "extra", "columns": A_COLS + T_COLS}},
            "classifier": {"name": "logreg"}, "grid": {"classifier.C": [0.1, 1.0]},
            "speaker_normalization": True, "cv": {"n_splits": 3, "inner_splits": 2}}  # fmt: skip
    r = run_cv(spec, df)
    assert r["protocol"]["speaker_normalization"] is True
    assert len(seen) == len(r["folds"]) * (2 * 2 + 1)
    per_fold = 2 * 2 + 1
    for k, f in enumerate(r["folds"]):
        for speakers in seen[k * per_fold : (k + 1) * per_fold]:
            assert speakers <= set(f["train_groups"])
            assert not speakers & set(f["test_groups"])


def test_runs_are_deterministic_and_parallel_runs_agree(df):
    spec = {"name": "d", "features": {"x": {"type": "extra", "columns": A_COLS + T_COLS}},
            "classifier": {"name": "svc"}, "grid": {"classifier.C": [0.1, 1.0]},
            "cv": {"n_splits": 3}}  # fmt: skip
    a = run_cv(spec, df)
    b = run_cv(spec, df, n_jobs=2)
    assert a["predictions"] == b["predictions"]
    assert a["best_params"] == b["best_params"]
    json.dumps(a)  # the report is JSON-safe


# --------------------------------------------------------------------------- final model
def test_fit_final_with_and_without_params(df):
    spec = {"name": "ff", "features": {"x": {"type": "extra", "columns": A_COLS + T_COLS}},
            "classifier": {"name": "logreg"}, "grid": {"classifier.C": [0.01, 1.0]},
            "cv": {"n_splits": 3}}  # fmt: skip
    model = fit_final(spec, df, params={"classifier.C": 0.01})
    assert model.named_steps["clf"].C == 0.01
    assert model.emoclassic_fit_["best_params"] == {"classifier.C": 0.01}
    tuned = fit_final(spec, df)
    assert tuned.emoclassic_fit_["best_params"]["classifier.C"] in (0.01, 1.0)
    assert tuned.predict(df.iloc[:5]).shape == (5,)
    # sklearn paths work too (e.g. from a hand-edited report)
    raw = fit_final(spec, df, params={"clf__C": 0.5})
    assert raw.named_steps["clf"].C == 0.5
    # the fitted model holds no in-memory feature table, only the real cache setting
    from emoclassic._walk import iter_estimators
    from emoclassic.features import FeatureTables, TableLookup

    for est in iter_estimators(tuned):
        assert not isinstance(est, TableLookup)
        assert not isinstance(getattr(est, "cache", None), FeatureTables)


def test_fit_final_with_split_scheme_never_trains_on_test(df):
    SpyClassifier.events.clear()
    fit_final(spy_spec(cv={"scheme": "split"}), df)
    last_fit = [e for e in SpyClassifier.events if e[0] == "fit"][-1][1]
    assert last_fit == set(np.flatnonzero(df["split"].isin(["train", "dev"]).to_numpy()))


def test_score_model_maps_labels_across_corpora(df):
    spec = {"name": "x", "features": {"x": {"type": "extra", "columns": A_COLS + T_COLS}},
            "classifier": {"name": "logreg"}}  # fmt: skip
    trained = df.assign(
        label=df["label"].map(
            {"anger": "angry", "happiness": "happy", "neutral": "neutral", "sadness": "sad"}
        )
    )
    model = fit_final(spec, trained)
    other = df.copy()
    other.loc[other.index[:6], "label"] = "fear"
    rep = score_model(model, other)
    assert rep["data"]["dropped_labels"] == {"fear": 6}
    assert rep["metrics"]["n"] == len(df) - 6
    assert rep["confusion"]["labels"] == ["anger", "happiness", "neutral", "sadness"]
    assert rep["metrics"]["ua"] > 0.5
    assert set(rep["baselines"]) == {"majority", "chance"}
    test_only = score_model(model, trained, split="test")
    assert test_only["data"]["dropped_labels"] == {}
    assert test_only["metrics"]["n"] == int((df["split"] == "test").sum())


def test_auto_scheme_uses_the_split_column_when_it_has_train_and_test(df):
    r = run_cv(spy_spec(grid={}), df, scheme="auto")
    assert r["protocol"]["scheme"] == "split"
    assert r["metrics"]["n"] == int((df["split"] == "test").sum())
    no_split = df.drop(columns=["split"])
    r = run_cv(spy_spec(grid={}), no_split, scheme="auto")
    assert r["protocol"]["scheme"] == "group"
    assert r["protocol"]["n_outer_folds"] == 3
    only_train = df.assign(split="train")
    assert run_cv(spy_spec(grid={}), only_train, scheme="auto")["protocol"]["scheme"] == "group"


def test_a_bare_text_frame_without_dialogue_columns_runs():
    rng = np.random.default_rng(0)
    words = {"a": "great happy lovely", "b": "awful sad gloomy"}
    rows = [{"id": f"r{i}", "label": lab, "speaker": f"s{i % 4}",
             "text": " ".join(rng.permutation(words[lab].split()))}
            for i, lab in enumerate(["a", "b"] * 12)]  # fmt: skip
    spec = {"name": "bare", "features": {"t": {"type": "tfidf"}},
            "classifier": {"name": "logreg"}, "cv": {"n_splits": 2, "inner_splits": 2}}  # fmt: skip
    report = run_cv(spec, pd.DataFrame(rows))
    assert report["metrics"]["ua"] == 1.0
