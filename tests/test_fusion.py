"""Fusion: blocks, early/late/hybrid/adaptive pipelines, extra blocks, speaker normalisation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from emoclassic.exceptions import BatchError, ConfigError, DataError
from emoclassic.features import extract
from emoclassic.fusion import (
    BLOCK_TYPES,
    AdaptiveFusion,
    ExtraFeatures,
    GroupNormalizer,
    SpeakerNormalizationWarning,
    SpeakerNormalizer,
    StackingFusion,
    build_pipeline,
    param_grid,
    register_block_type,
    translate_params,
)
from emoclassic.models import CLASSIFIERS, DEFAULT_GRIDS, register_classifier
from emoclassic.spec import load_spec

CLASSES = ["anger", "happiness", "neutral", "sadness"]
A_COLS = [f"a{j}" for j in range(4)]
T_COLS = [f"t{j}" for j in range(3)]


def toy_frame(n_speakers=6, per_class=6, seed=0) -> pd.DataFrame:
    """Audio-like columns separate arousal, text-like columns valence; speakers shift both."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        shift = rng.normal(0, 2.0, 4)
        for i in range(per_class * len(CLASSES)):
            c = i % len(CLASSES)
            a = rng.normal(0, 1, 4) + shift
            a[0] += 2.0 * (c in (0, 1))
            t = rng.normal(0, 1, 3)
            t[0] += 2.0 * (c in (1, 2))
            rows.append({
                "id": f"s{s}_{i:03d}", "path": "", "text": "", "label": CLASSES[c],
                "speaker": f"spk{s}", "row": len(rows),
                **dict(zip(A_COLS, a, strict=True)), **dict(zip(T_COLS, t, strict=True)),
            })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True, scope="module")
def registered_toys():
    """Toy audio/text block types (precomputed columns), registered for this module only."""
    register_block_type("toy_audio", ExtraFeatures, modality="audio", columns=("id", *A_COLS))
    register_block_type("toy_text", ExtraFeatures, modality="text", columns=("id", *T_COLS))
    yield
    BLOCK_TYPES.pop("toy_audio")
    BLOCK_TYPES.pop("toy_text")


def toy_spec(fusion="early", **extra) -> dict:
    return {
        "name": f"toy-{fusion}",
        "features": {
            "audio": {"type": "toy_audio", "columns": A_COLS},
            "text": {"type": "toy_text", "columns": T_COLS},
        },
        "fusion": fusion,
        "classifier": {"name": "logreg"},
        **extra,
    }


# --------------------------------------------------------------------------- early fusion
def test_early_fusion_is_a_column_transformer_of_scaled_named_blocks():
    pipe = build_pipeline(toy_spec(), cache=None)
    assert [n for n, _ in pipe.steps] == ["features", "clf"]
    ct = pipe.named_steps["features"]
    assert isinstance(ct, ColumnTransformer)
    assert [name for name, _, _ in ct.transformers] == ["audio", "text"]
    audio = ct.transformers[0][1]
    assert [n for n, _ in audio.steps] == ["extract", "scale"]
    df = toy_frame()
    pipe.fit(df, df["label"])
    assert pipe.predict(df).shape == (len(df),)
    # each block is standardised on its own
    Z = pipe.named_steps["features"].transform(df)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-6)


def test_block_weights_and_pca_are_grid_parameters():
    spec = load_spec(toy_spec(grid={
        "features.text.weight": [0.5, 2.0], "features.audio.pca": [2, 3],
        "classifier.C": [0.1],
    }))  # fmt: skip
    grid = param_grid(spec)
    assert len(grid) == 4
    assert {"features__transformer_weights", "features__audio__pca__n_components",
            "clf__C"} == set(grid[0])  # fmt: skip
    assert grid[0]["features__transformer_weights"] == [{"audio": 1.0, "text": 0.5}]
    pipe = build_pipeline(spec)
    assert "pca" in pipe.named_steps["features"].transformers[0][1].named_steps
    pipe.set_params(**{k: v[0] for k, v in grid[-1].items()})
    df = toy_frame()
    Z = pipe.fit(df, df["label"]).named_steps["features"].transform(df)
    assert Z.shape[1] == 3 + 3  # audio PCA(3) + text
    # the text block was weighted by 2: its spread doubled
    np.testing.assert_allclose(Z[:, 3:].std(axis=0), 2.0, rtol=1e-6)


def test_fusion_weights_list_maps_onto_blocks_in_order():
    spec = load_spec(toy_spec(grid={"fusion.weights": [[1.0, 3.0]]}))
    assert translate_params(spec, {"fusion.weights": [1.0, 3.0]}) == {
        "features__transformer_weights": {"audio": 1.0, "text": 3.0}
    }


# --------------------------------------------------------------------------- late fusion
@pytest.mark.parametrize("fusion", ["voting", "stacking", "hybrid", "adaptive"])
def test_late_fusions_build_per_modality_branches(fusion):
    pipe = build_pipeline(toy_spec(fusion))
    fused = pipe.named_steps["fusion"]
    names = [n for n, _ in fused.estimators]
    assert names == (["fused", "audio", "text"] if fusion == "hybrid" else ["audio", "text"])
    df = toy_frame()
    pipe.fit(df, df["label"])
    proba = pipe.predict_proba(df)
    assert proba.shape == (len(df), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    acc = (pipe.predict(df) == df["label"]).mean()
    assert acc > 0.5


def test_voting_uses_the_weights():
    df = toy_frame()
    y = df["label"].to_numpy()
    spec = toy_spec("voting")
    only_audio = build_pipeline(load_spec({**spec, "fusion": {"type": "voting",
                                                             "weights": [1.0, 0.0]}}))  # fmt: skip
    only_audio.fit(df, y)
    audio_branch = only_audio.named_steps["fusion"].named_estimators_["audio"]
    np.testing.assert_allclose(only_audio.predict_proba(df), audio_branch.predict_proba(df))


def test_adaptive_fusion_follows_the_more_confident_branch():
    class Fixed(ClassifierMixin, BaseEstimator):
        def __init__(self, p=None):
            self.p = p

        def fit(self, X, y):
            self.classes_ = np.array(["a", "b"])
            return self

        def predict_proba(self, X):
            return np.tile(self.p, (len(X), 1))

    X = np.zeros((3, 1))
    y = np.array(["a", "b", "a"])
    sure = Fixed(np.array([0.95, 0.05]))
    unsure = Fixed(np.array([0.4, 0.6]))
    cold = AdaptiveFusion([("s", sure), ("u", unsure)], temperature=0.01).fit(X, y)
    np.testing.assert_allclose(cold.predict_proba(X)[0], [0.95, 0.05], atol=1e-6)
    hot = AdaptiveFusion([("s", sure), ("u", unsure)], temperature=1e6).fit(X, y)
    np.testing.assert_allclose(hot.predict_proba(X)[0], [0.675, 0.325], atol=1e-4)
    w = cold.modality_weights(X)
    assert w.shape == (3, 2) and w[0, 0] > 0.99
    ent = AdaptiveFusion([("s", sure), ("u", unsure)], confidence="entropy").fit(X, y)
    assert ent.modality_weights(X)[0, 0] > 0.5
    with pytest.raises(ConfigError, match="temperature"):
        AdaptiveFusion([("s", sure)], temperature=0).fit(X, y)


class LookupClassifier(ClassifierMixin, BaseEstimator):
    """Memorises its training rows (feature 0 is the row number): perfect on rows it was fit
    on, uniform on any other row. In-sample predictions would be one-hot."""

    def __init__(self, tag=0):
        self.tag = tag

    def fit(self, X, y):
        X = np.asarray(X)
        self.classes_ = np.unique(y)
        self.memory_ = {int(round(r)): lab for r, lab in zip(X[:, 0], y, strict=True)}
        return self

    def predict_proba(self, X):
        X = np.asarray(X)
        out = np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))
        for i, r in enumerate(X[:, 0]):
            lab = self.memory_.get(int(round(r)))
            if lab is not None:
                out[i] = (self.classes_ == lab).astype(float)
        return out

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class RecordingMeta(LogisticRegression):
    seen: list = []

    def fit(self, X, y, sample_weight=None):
        RecordingMeta.seen.append(np.array(X, copy=True))
        return super().fit(X, y, sample_weight=sample_weight)


def test_stacking_meta_learner_sees_only_out_of_fold_predictions():
    df = toy_frame()
    y = df["label"].to_numpy()
    branch = Pipeline([
        ("features", ColumnTransformer([("row", ExtraFeatures(columns=["row"]), ["id", "row"])])),
        ("clf", LookupClassifier()),
    ])  # fmt: skip
    RecordingMeta.seen.clear()
    st = StackingFusion(
        [("one", branch), ("two", branch)], RecordingMeta(), cv=3, groups="speaker"
    ).fit(df, y)
    (meta_X,) = RecordingMeta.seen
    # every row's branch scores came from a model that never saw that row: uniform, never
    # the one-hot vector an in-sample prediction would give
    np.testing.assert_allclose(meta_X, 0.25)
    # while the refitted branches do memorise (so the test above can fail)
    assert st.named_estimators_["one"].predict_proba(df).max() == 1.0
    # the inner folds never split a speaker
    for train, test in st.inner_splits_:
        assert not set(df["speaker"].iloc[train]) & set(df["speaker"].iloc[test])


def test_stacking_without_groups_warns_and_still_works():
    df = toy_frame().drop(columns=["speaker"])
    pipe = build_pipeline(toy_spec("stacking"))
    with pytest.warns(UserWarning, match="not grouped by speaker"):
        pipe.fit(df, df["label"])


def test_late_fusion_needs_two_branches():
    spec = toy_spec("voting")
    spec["features"] = {"audio": spec["features"]["audio"]}
    with pytest.raises(ConfigError, match="at least two branches"):
        load_spec(spec)


def test_branch_classifier_overrides_and_meta_params_are_gridable():
    spec = load_spec(toy_spec(
        {"type": "stacking", "classifiers": {"text": {"name": "svc"}}, "meta": {"name": "logreg"},
         "cv": 3},
        grid={"classifier.C": [0.5], "fusion.classifiers.text.C": [2.0], "fusion.meta.C": [3.0]},
    ))  # fmt: skip
    (cand,) = param_grid(spec)
    assert cand == {
        "fusion__audio__clf__C": [0.5],
        "fusion__text__clf__C": [2.0],
        "fusion__final_estimator__C": [3.0],
    }
    pipe = build_pipeline(spec)
    assert type(pipe.named_steps["fusion"].estimators[1][1].named_steps["clf"]).__name__ == "SVC"


def test_hybrid_ties_block_options_across_fused_and_modality_branches():
    spec = load_spec(toy_spec("hybrid", grid={"features.audio.pca": [2]}))
    (cand,) = param_grid(spec)
    assert set(cand) == {
        "fusion__fused__features__audio__pca__n_components",
        "fusion__audio__features__audio__pca__n_components",
    }


# --------------------------------------------------------------------------- extra blocks
def test_extra_block_from_csv_npz_and_npy(tmp_path):
    df = toy_frame(n_speakers=2, per_class=2)
    ids = df["id"].tolist()
    M = np.arange(len(ids) * 3, dtype=float).reshape(len(ids), 3)
    pd.DataFrame({"id": ids[::-1], **{f"v{j}": M[::-1, j] for j in range(3)}}).to_csv(
        tmp_path / "x.csv", index=False
    )
    np.savez(tmp_path / "x.npz", ids=np.array(ids), features=M)
    np.save(tmp_path / "x.npy", M)
    (tmp_path / "x.ids.txt").write_text("\n".join(ids) + "\n")
    for name in ("x.csv", "x.npz", "x.npy"):
        ext = ExtraFeatures(file=str(tmp_path / name))
        np.testing.assert_allclose(ext.fit_transform(df.iloc[::-1]), M[::-1], err_msg=name)
    assert list(ExtraFeatures(file=str(tmp_path / "x.csv")).get_feature_names_out()) == [
        "v0", "v1", "v2",
    ]  # fmt: skip


def test_extra_block_file_resolves_against_the_spec_folder(tmp_path):
    df = toy_frame(n_speakers=2, per_class=2)
    pd.DataFrame({"id": df["id"], "v": np.arange(len(df))}).to_csv(tmp_path / "f.csv",
                                                                  index=False)  # fmt: skip
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        'name = "s"\n[features.x]\ntype = "extra"\nfile = "f.csv"\nscale = false\n'
        '[classifier]\nname = "logreg"\n'
    )
    pipe = build_pipeline(load_spec(spec_file))
    Z = pipe.named_steps["features"].fit_transform(df, df["label"])
    np.testing.assert_allclose(Z[:, 0], np.arange(len(df)))


def test_extra_block_reports_missing_rows_per_item(tmp_path):
    df = toy_frame(n_speakers=2, per_class=2)
    pd.DataFrame({"id": df["id"][2:], "v": 1.0}).to_csv(tmp_path / "f.csv", index=False)
    res = extract(ExtraFeatures(file=str(tmp_path / "f.csv")), df)
    assert [f.id for f in res.failures] == df["id"][:2].tolist()
    assert res.features.shape == (len(df) - 2, 1)
    with pytest.raises(BatchError, match="2 row"):
        ExtraFeatures(file=str(tmp_path / "f.csv")).transform(df)
    filled = ExtraFeatures(file=str(tmp_path / "f.csv"), missing="zero").transform(df)
    assert filled[:2].tolist() == [[0.0], [0.0]]


def test_extra_block_errors_are_clear(tmp_path):
    df = toy_frame(n_speakers=1, per_class=1)
    with pytest.raises(ConfigError, match="exactly one of columns"):
        ExtraFeatures().transform(df)
    with pytest.raises(DataError, match="column 'nope' does not exist"):
        ExtraFeatures(columns=["nope"]).transform(df)
    np.save(tmp_path / "m.npy", np.zeros((2, 2)))
    with pytest.raises(DataError, match="ids"):
        ExtraFeatures(file=str(tmp_path / "m.npy")).transform(df)


# --------------------------------------------------------------------------- speaker norm
def _norm_frame():
    df = toy_frame(n_speakers=4, per_class=3)
    return df[["id", "speaker", "label", *A_COLS]]


def test_speaker_normalizer_standardises_each_speaker_with_its_own_stats():
    df = _norm_frame()
    sn = SpeakerNormalizer(ExtraFeatures(columns=A_COLS))
    Z = sn.fit_transform(df)
    for _, rows in df.groupby("speaker").groups.items():
        np.testing.assert_allclose(Z[rows].mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(Z[rows].std(axis=0), 1, atol=1e-9)
    assert sorted(sn.speaker_stats_) == sorted(df["speaker"].unique())


def test_speaker_normalizer_never_reads_labels():
    df = _norm_frame()
    a = SpeakerNormalizer(ExtraFeatures(columns=A_COLS)).fit(df, df["label"]).transform(df)
    shuffled = df["label"].sample(frac=1.0, random_state=1).to_numpy()
    b = SpeakerNormalizer(ExtraFeatures(columns=A_COLS)).fit(df, shuffled).transform(df)
    c = (
        SpeakerNormalizer(ExtraFeatures(columns=A_COLS))
        .fit(df.drop(columns="label"))
        .transform(df.drop(columns="label"))
    )
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_unseen_speakers_use_the_rows_given_and_single_rows_fall_back_with_a_warning():
    df = _norm_frame()
    train = df[df["speaker"] != "spk3"]
    test = df[df["speaker"] == "spk3"]
    sn = SpeakerNormalizer(ExtraFeatures(columns=A_COLS)).fit(train)
    assert "spk3" not in sn.speaker_stats_
    Z = sn.transform(test)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)
    # a seen speaker keeps its training statistics, even for a single row
    one_seen = sn.transform(train.iloc[:1])
    np.testing.assert_allclose(one_seen, sn.transform(train)[:1])
    # a single file of an unseen speaker: global statistics and a warning
    with pytest.warns(SpeakerNormalizationWarning, match="several utterances per speaker"):
        single = sn.transform(test.iloc[:1])
    raw = test[A_COLS].to_numpy()[:1]
    np.testing.assert_allclose(single, (raw - sn.mean_) / sn.scale_)


def test_speaker_normalisation_in_a_spec_wraps_every_extractor():
    spec = load_spec(toy_spec(speaker_normalization=True, grid={"features.audio.columns":
                                                                [A_COLS]}))  # fmt: skip
    pipe = build_pipeline(spec)
    for name, block, cols in pipe.named_steps["features"].transformers:
        step = block.named_steps["extract"]
        assert isinstance(step, GroupNormalizer) and step.by == "speaker", name
        assert "speaker" in cols
    (cand,) = param_grid(spec)
    assert "features__audio__extract__transformer__columns" in cand
    df = toy_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpeakerNormalizationWarning)
        pipe.fit(df, df["label"]).predict(df)


def test_spy_classifier_registration_is_possible(monkeypatch):
    # register_classifier is the hook that test_cv's spies use; a registered name validates
    monkeypatch.setitem(CLASSIFIERS, "test_lookup", None)  # removed again after the test
    monkeypatch.setitem(DEFAULT_GRIDS, "test_lookup", None)
    register_classifier("test_lookup", LookupClassifier, grid={"tag": [0, 1]})
    spec = load_spec(toy_spec(classifier={"name": "test_lookup"},
                              grid={"classifier.tag": [0, 1]}))  # fmt: skip
    assert len(param_grid(spec)) == 2


# --------------------------------------------------------------------------- one name each
def test_groups_override_reaches_the_stacking_inner_folds():
    """`--groups session` (fit_final(groups=)) groups the meta-learner's folds by session too,
    not only the outer ones by speaker."""
    from emoclassic.evaluation import fit_final

    df = toy_frame()
    df["session"] = df["speaker"].map(lambda s: "A" if s in ("spk0", "spk1", "spk2") else "B")
    df.loc[df["speaker"] == "spk5", "session"] = "C"
    spec = load_spec(toy_spec({"type": "stacking", "cv": 3}))
    est = fit_final(spec, df, params={}, groups="session")
    (st,) = [s for _, s in est.steps if isinstance(s, StackingFusion)]
    assert st.groups == "session"
    for train, test in st.inner_splits_:
        assert not set(df["session"].iloc[train]) & set(df["session"].iloc[test])


def test_old_parameter_names_warn_and_still_work():
    df = toy_frame()
    y = df["label"].to_numpy()
    branch = Pipeline([("features", ExtraFeatures(columns=A_COLS)), ("clf", LogisticRegression())])
    with pytest.warns(FutureWarning, match="use groups="):
        st = StackingFusion([("one", branch), ("two", branch)], cv=3, group_column="speaker")
        st.fit(df, y)
    for train, test in st.inner_splits_:
        assert not set(df["speaker"].iloc[train]) & set(df["speaker"].iloc[test])
    norm = _norm_frame().rename(columns={"speaker": "who"})
    with pytest.warns(FutureWarning, match="use speaker_column="):
        old = SpeakerNormalizer(ExtraFeatures(columns=A_COLS), column="who").fit_transform(norm)
    new = SpeakerNormalizer(ExtraFeatures(columns=A_COLS), speaker_column="who").fit_transform(norm)
    np.testing.assert_array_equal(old, new)
    with pytest.raises(ConfigError, match="give only speaker_column"):
        SpeakerNormalizer(ExtraFeatures(columns=A_COLS), speaker_column="a",
                          column="who").fit(norm)
