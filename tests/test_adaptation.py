"""Domain adaptation steps: per-speaker and per-corpus normalisation, CORAL, their spec keys,
saved models that adapt to a new corpus, and the fallback for groups too small."""

from __future__ import annotations

import logging
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import ledoit_wolf_shrinkage as sk_ledoit_wolf
from sklearn.utils.estimator_checks import parametrize_with_checks

from emoclassic.artifacts import load_model, save_model
from emoclassic.evaluation import fit_final, run_cv
from emoclassic.exceptions import ConfigError
from emoclassic.fusion import (
    CORAL,
    DEFAULT_MIN_ROWS,
    AdaptationWarning,
    GroupNormalizer,
    SpeakerNormalizationWarning,
    SpeakerNormalizer,
    build_pipeline,
    param_grid,
    said_once,
)
from emoclassic.fusion._coral import ledoit_wolf_shrinkage
from emoclassic.prediction import predict_manifest
from emoclassic.spec import load_spec

COLS = ["f0", "f1", "f2", "f3"]
CLASSES = ["anger", "sadness"]


def corpus_rows(corpus: str, n: int, *, gain=1.0, offset=0.0, seed=0, speakers=4) -> pd.DataFrame:
    """Two classes apart along f0 (and f1), the whole corpus scaled by ``gain`` and moved by
    ``offset`` (one number, or one per feature): what a microphone and a room do to every item
    of a corpus."""
    rng = np.random.default_rng(seed)
    y = np.array([CLASSES[i % 2] for i in range(n)])
    sign = np.where(y == "anger", 1.0, -1.0)
    X = rng.normal(0, 1, (n, len(COLS)))
    X[:, 0] += 2.0 * sign
    X[:, 1] += 1.0 * sign + 0.5 * X[:, 2]  # some correlation for CORAL to see
    X = X * gain + np.asarray(offset)
    return pd.DataFrame({
        "id": [f"{corpus}{i}" for i in range(n)], "path": None, "text": None, "label": y,
        "speaker": [f"{corpus}-s{i % speakers}" for i in range(n)], "corpus": corpus,
        **{c: X[:, j] for j, c in enumerate(COLS)},
    })  # fmt: skip


def spec_dict(**top) -> dict:
    block = top.pop("block", {})
    return {
        "name": "adapt",
        "features": {"acoustic": {"type": "extra", "columns": COLS, **block}},
        "classifier": {"name": "logreg"},
        "cv": {"scheme": "group", "n_splits": 2},
        **top,
    }


# --------------------------------------------------------------------------- estimators
@parametrize_with_checks([GroupNormalizer(), GroupNormalizer(by="corpus", with_std=False),
                          SpeakerNormalizer(), CORAL(),
                          CORAL(shrinkage=0.5, n_components=2, min_rows=3)])  # fmt: skip
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AdaptationWarning)  # a few rows: the fallback
        check(estimator)


def test_group_normalizer_standardises_each_corpus_and_adapts_to_a_new_one():
    train = pd.concat([corpus_rows("a", 40), corpus_rows("b", 40, gain=2, offset=5, seed=1)])
    norm = GroupNormalizer(by="corpus").fit(train[["corpus", *COLS]])
    assert sorted(norm.group_stats_) == ["a", "b"]
    Z = norm.transform(train[["corpus", *COLS]])
    for corpus in ("a", "b"):
        rows = (train["corpus"] == corpus).to_numpy()
        np.testing.assert_allclose(Z[rows].mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(Z[rows].std(axis=0), 1, atol=1e-9)
    new = corpus_rows("c", 30, gain=3, offset=-7, seed=2)
    Zc = norm.transform(new[["corpus", *COLS]])  # a new corpus: its own statistics
    np.testing.assert_allclose(Zc.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(Zc.std(axis=0), 1, atol=1e-9)
    assert DEFAULT_MIN_ROWS == {"speaker": 2, "corpus": 10}
    assert GroupNormalizer(by="corpus")._min_rows() == 10
    assert GroupNormalizer()._min_rows() == 2


def test_ledoit_wolf_shrinkage_is_sklearns():
    rng = np.random.default_rng(0)
    for n, d in [(50, 10), (20, 300), (300, 40)]:
        X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        X -= X.mean(axis=0)
        assert ledoit_wolf_shrinkage(X) == pytest.approx(sk_ledoit_wolf(X, assume_centered=True))


def test_coral_aligns_a_new_corpus_to_the_training_statistics():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(5, 5))
    src = rng.normal(size=(400, 5)) @ mix
    coral = CORAL(shrinkage=0.0).fit(src)
    np.testing.assert_allclose(coral.transform(src), src, atol=1e-9)  # itself: unchanged
    tgt = rng.normal(size=(600, 5)) @ rng.normal(size=(5, 5)) * 3 + 7
    out = coral.transform(tgt)
    np.testing.assert_allclose(out.mean(axis=0), src.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(np.cov(out.T, bias=True), np.cov(src.T, bias=True), atol=1e-8)
    # framed: rows of a corpus seen in training pass unchanged, a new corpus is aligned
    frame = pd.DataFrame(np.vstack([src[:50], tgt]), columns=[f"x{i}" for i in range(5)])
    frame["corpus"] = ["train"] * 50 + ["new"] * len(tgt)
    coral = CORAL(shrinkage=0.0).fit(frame.iloc[:50].assign(corpus="train"))
    got = coral.transform(frame)
    np.testing.assert_array_equal(got[:50], src[:50])
    assert not np.allclose(got[50:], tgt)
    assert coral.get_feature_names_out().tolist() == [f"x{i}" for i in range(5)]


def test_coral_at_full_shrinkage_is_per_corpus_standardisation_on_the_training_scale():
    train = corpus_rows("a", 80)[["corpus", *COLS]]
    new = corpus_rows("c", 50, gain=3, offset=[4, -2, 1, 0], seed=5)[["corpus", *COLS]]
    coral = CORAL(shrinkage=1.0).fit(train)
    standardised = GroupNormalizer(by="corpus").fit(train).transform(new)
    np.testing.assert_allclose(coral.transform(new),
                               standardised * coral.scale_ + coral.mean_, atol=1e-9)
    assert CORAL().shrinkage == 0.9  # the default (see the module docs for why)


def test_coral_in_thousands_of_dimensions_stays_cheap_and_finite():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(120, 3000)) * rng.uniform(0.1, 10, 3000)
    coral = CORAL(n_components=20, shrinkage="ledoit-wolf").fit(src)
    assert coral.components_.shape == (3000, 20)
    assert 0 < coral.shrinkage_ < 1  # Ledoit-Wolf: far fewer rows than dimensions
    out = coral.transform(src[:40] * 2 + 1)
    assert out.shape == (40, 3000) and np.isfinite(out).all()
    with pytest.raises(ConfigError, match="shrinkage"):
        CORAL(shrinkage=2.0).fit(src)
    with pytest.raises(ConfigError, match="n_components"):
        CORAL(n_components=0).fit(src)


# --------------------------------------------------------------------------- the fallback
def test_a_new_corpus_below_the_minimum_falls_back_and_is_said_once(caplog):
    train = corpus_rows("a", 60)
    spec = load_spec(spec_dict(normalization="corpus", adaptation="coral",
                               block={"weight": 1.0}))  # fmt: skip
    est = fit_final(spec, train, params={})
    small = corpus_rows("c", DEFAULT_MIN_ROWS["corpus"] - 1, gain=3, offset=9, seed=3)
    with (caplog.at_level(logging.WARNING, logger="emoclassic"),
          pytest.warns(AdaptationWarning, match="fewer than 10 rows of a corpus unseen")):
        res = predict_manifest(est, small)
    said = [r for r in caplog.records if "per-corpus statistics" in r.getMessage()]
    assert len(said) == 1  # two adaptation steps, one message
    assert len(res.predictions) == len(small)
    # with the training statistics the shifted corpus lands on one side: no adaptation
    assert len({p["label"] for p in res.predictions}) == 1
    # at the minimum the batch uses its own statistics, silently
    enough = corpus_rows("c", DEFAULT_MIN_ROWS["corpus"], gain=3, offset=9, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AdaptationWarning)
        predict_manifest(est, enough)
    # outside prediction each step says it; a said_once scope says each message once
    steps = [GroupNormalizer(by="corpus").fit(train[["corpus", *COLS]]) for _ in range(2)]
    caplog.clear()
    with (caplog.at_level(logging.WARNING, logger="emoclassic"), said_once(),
          pytest.warns(SpeakerNormalizationWarning)):  # the old name, the same class
        for step in steps:
            step.transform(small[["corpus", *COLS]])
    assert len(caplog.records) == 1


# --------------------------------------------------------------------------- saved models
@pytest.mark.parametrize("keys", [{"normalization": "corpus"}, {"adaptation": "coral"},
                                  {"normalization": "corpus", "adaptation": "coral"}])
def test_a_saved_model_adapts_to_a_shifted_corpus(keys, tmp_path):
    train = pd.concat([corpus_rows("a", 60),
                       corpus_rows("b", 60, gain=0.5, offset=[-1, 1, 0, 2], seed=1)])
    shifted = corpus_rows("c", 40, gain=2.0, offset=[9, 6, -5, 3], seed=2)
    truth = shifted["label"].tolist()

    def accuracy(spec: dict) -> tuple[float, dict]:
        spec = load_spec(spec)
        path = tmp_path / f"{spec.normalization}-{spec.adaptation}.joblib"
        save_model(fit_final(spec, train, params={}), path, spec=spec)
        est, info = load_model(path)
        res = predict_manifest(est, shifted.drop(columns="label"), info=info)
        return float(np.mean([p["label"] == t for p, t in zip(res.predictions, truth,
                                                                strict=True)])), info  # fmt: skip

    plain, plain_info = accuracy(spec_dict())
    adapted, info = accuracy(spec_dict(**keys))
    assert plain <= 0.6  # the offset pushes every item to one class
    assert adapted >= 0.85
    assert plain_info["normalization"] == "none" and plain_info["adaptation"] == "none"
    assert info["normalization"] == keys.get("normalization", "none")
    assert info["adaptation"] == keys.get("adaptation", "none")
    assert info["speaker_normalization"] is False
    assert info["spec"]["normalization"] == keys.get("normalization", "none")


def test_a_speaker_normaliser_pickled_before_the_rename_still_loads():
    train = corpus_rows("a", 24)[["speaker", *COLS]]
    old = SpeakerNormalizer().fit(train)
    state = dict(old.__getstate__())
    state["speaker_stats_"] = state.pop("group_stats_")  # the layout of 0.1 models
    clone = SpeakerNormalizer.__new__(SpeakerNormalizer)
    clone.__setstate__(state)
    np.testing.assert_array_equal(clone.transform(train), old.transform(train))
    assert sorted(clone.speaker_stats_) == sorted(train["speaker"].unique())
    again = pickle.loads(pickle.dumps(clone))
    np.testing.assert_array_equal(again.transform(train), old.transform(train))


# --------------------------------------------------------------------------- the spec keys
def test_speaker_normalization_is_an_alias_of_normalization_speaker():
    old, new = load_spec(spec_dict(speaker_normalization=True)), load_spec(
        spec_dict(normalization="speaker"))
    both = load_spec(spec_dict(speaker_normalization=True, normalization="speaker"))
    for spec in (old, new, both):
        assert spec.normalization == "speaker" and spec.speaker_normalization is True
        step = build_pipeline(spec).named_steps["features"].transformers[0][1]["extract"]
        assert isinstance(step, GroupNormalizer) and step.by == "speaker"
    assert load_spec(spec_dict(speaker_normalization=False, normalization="corpus")
                     ).normalization == "corpus"  # fmt: skip
    assert load_spec(old.to_dict()).normalization == "speaker"
    with pytest.raises(ConfigError, match=r"speaker_normalization=true and normalization="
                                          r"'corpus' disagree"):  # fmt: skip
        load_spec(spec_dict(speaker_normalization=True, normalization="corpus"))
    with pytest.raises(ConfigError, match=r"\[features.acoustic\]\.speaker_normalization=false "
                                          r"and normalization='speaker' disagree"):  # fmt: skip
        load_spec(spec_dict(block={"speaker_normalization": False, "normalization": "speaker"}))
    with pytest.raises(ConfigError, match=r"normalization='session'; valid: none, speaker"):
        load_spec(spec_dict(normalization="session"))
    with pytest.raises(ConfigError, match=r"adaptation='tca'; valid: none, coral"):
        load_spec(spec_dict(block={"adaptation": "tca"}))
    with pytest.raises(ConfigError, match="frames block .* drop normalization"):
        load_spec({"name": "f", "features": {"f": {"type": "frames", "normalization": "corpus"}},
                   "classifier": {"name": "lstm"}})


def test_blocks_choose_their_own_steps_and_the_grid_reaches_through_them():
    spec = load_spec({
        "name": "two", "normalization": "speaker",
        "features": {
            "a": {"type": "extra", "columns": COLS[:2], "normalization": "corpus",
                  "adaptation": "coral"},
            "b": {"type": "extra", "columns": COLS[2:]},
            "c": {"type": "extra", "columns": COLS, "speaker_normalization": False},
        },
        "classifier": {"name": "logreg"},
        "grid": {"features.a.columns": [COLS[:2]], "features.b.columns": [COLS[2:]]},
    })  # fmt: skip
    assert [spec.block_normalization(b) for b in "abc"] == ["corpus", "speaker", "none"]
    assert spec.adaptation_protocol() == {
        "normalization": "a=corpus, b=speaker, c=none", "adaptation": "a=coral, b=none, c=none",
        "speaker_normalization": True}  # fmt: skip
    ct = build_pipeline(spec).named_steps["features"]
    blocks = {name: (pipe["extract"], cols) for name, pipe, cols in ct.transformers}
    a, cols = blocks["a"]
    assert isinstance(a, CORAL) and isinstance(a.transformer, GroupNormalizer)
    assert a.transformer.by == "corpus" and "corpus" in cols
    assert blocks["b"][0].by == "speaker" and "speaker" in blocks["b"][1]
    assert not isinstance(blocks["c"][0], GroupNormalizer)
    (cand,) = param_grid(spec)
    assert "features__a__extract__transformer__transformer__columns" in cand
    assert "features__b__extract__transformer__columns" in cand
    df = pd.concat([corpus_rows("a", 30), corpus_rows("b", 30, gain=2, seed=1)])
    build_pipeline(spec).set_params(**{k: v[0] for k, v in cand.items()}).fit(df, df["label"])


def test_reports_name_the_normalisation_and_the_adaptation():
    df = pd.concat([corpus_rows("a", 40), corpus_rows("b", 40, gain=2, offset=3, seed=1)])
    r = run_cv(spec_dict(speaker_normalization=True, adaptation="coral"), df)
    assert r["protocol"]["normalization"] == "speaker"
    assert r["protocol"]["speaker_normalization"] is True  # the old key, kept
    assert r["protocol"]["adaptation"] == "coral"
    r = run_cv(spec_dict(normalization="corpus"), df)
    assert (r["protocol"]["normalization"], r["protocol"]["adaptation"]) == ("corpus", "none")
    assert r["protocol"]["speaker_normalization"] is False


# --------------------------------------------------------------------------- in-corpus
def test_in_corpus_the_corpus_steps_cost_nothing_on_the_demo_corpus(demo_corpus, tmp_path):
    """One corpus: every test fold's corpus was seen in training, so per-corpus normalisation
    is the training standardisation and CORAL the identity (the issue's target: never more
    than 1 point UA below no normalisation in-corpus)."""
    _, manifest = demo_corpus
    base = {"name": "demo-audio", "features": {"audio": {"type": "pooled", "preset": "compact"}},
            "classifier": {"name": "logreg"}, "cv": {"scheme": "group", "n_splits": 2}}
    ua = {}
    for keys in ({}, {"normalization": "corpus"}, {"adaptation": "coral"}):
        report = run_cv({**base, **keys}, manifest, cache=tmp_path / "cache")
        ua[tuple(keys.values()) or ("none",)] = report["metrics"]["ua"]
    assert ua[("none",)] > 0.4  # chance: 0.25
    assert ua[("corpus",)] >= ua[("none",)] - 0.01
    assert ua[("coral",)] >= ua[("none",)] - 0.01


def test_train_on_some_corpora_test_on_a_shifted_one():
    """The cross-corpus protocol (``run_cv(test_sets=)``): the test corpus is new to the model,
    so the corpus steps adapt to it; the report says which steps were used."""
    train = pd.concat([corpus_rows("a", 40),
                       corpus_rows("b", 40, gain=0.5, offset=[-1, 1, 0, 2], seed=1)])
    shifted = corpus_rows("c", 40, gain=2.0, offset=[9, 6, -5, 3], seed=2)
    ua = {}
    for keys in ({}, {"normalization": "corpus"}, {"adaptation": "coral"}):
        report = run_cv(spec_dict(**keys), train, test_sets={"c": shifted})
        ua[tuple(keys.values()) or ("none",)] = report["cross_corpus"]["c"]["metrics"]["ua"]
        assert report["protocol"]["normalization"] == keys.get("normalization", "none")
    assert ua[("none",)] <= 0.6
    assert ua[("corpus",)] >= 0.85 and ua[("coral",)] >= 0.85


def test_speakers_of_two_corpora_with_the_same_codes_keep_their_own_statistics():
    # RAVDESS and CREMA-D both number their speakers: corpus a's "s0" is not corpus b's
    a = corpus_rows("a", 40, speakers=2, seed=1)
    b = corpus_rows("b", 40, speakers=2, seed=2, gain=3.0, offset=5.0)
    for frame in (a, b):
        frame["speaker"] = [f"s{i % 2}" for i in range(len(frame))]
    both = pd.concat([a, b], ignore_index=True)
    step = GroupNormalizer(by="speaker").fit(both[["speaker", "corpus", *COLS]])
    assert sorted(step.group_stats_) == ["a:s0", "a:s1", "b:s0", "b:s1"]
    out = step.transform(both[["speaker", "corpus", *COLS]])
    for key in step.group_stats_:
        corpus, speaker = key.split(":")
        rows = ((both["corpus"] == corpus) & (both["speaker"] == speaker)).to_numpy()
        np.testing.assert_allclose(out[rows].mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(out[rows].std(axis=0), 1.0, atol=1e-9)
    # without a corpus column a speaker is its code alone, as before
    bare = GroupNormalizer(by="speaker").fit(a[["speaker", *COLS]])
    assert sorted(bare.group_stats_) == ["s0", "s1"]
    # a step fitted before the pairs (no ``corpus_pairs_``) keeps keying by the code alone
    del bare.corpus_pairs_
    np.testing.assert_allclose(bare.transform(a[["speaker", "corpus", *COLS]]),
                               bare.transform(a[["speaker", *COLS]]))  # fmt: skip


def test_a_speaker_normalised_spec_reads_the_corpus_column_when_there_is_one():
    spec = load_spec(spec_dict(normalization="speaker"))
    a = corpus_rows("a", 40, speakers=2, seed=1)
    b = corpus_rows("b", 40, speakers=2, seed=2, gain=3.0, offset=5.0)
    for frame in (a, b):
        frame["speaker"] = [f"s{i % 2}" for i in range(len(frame))]
    both = pd.concat([a, b], ignore_index=True)
    pipe = build_pipeline(spec).fit(both, both["label"])
    step = pipe.named_steps["features"].named_transformers_["acoustic"].named_steps["extract"]
    assert sorted(step.group_stats_) == ["a:s0", "a:s1", "b:s0", "b:s1"]
    # and still runs on a frame with no corpus column
    bare = a.drop(columns=["corpus"])
    step = (build_pipeline(spec).fit(bare, bare["label"]).named_steps["features"]
            .named_transformers_["acoustic"].named_steps["extract"])  # fmt: skip
    assert sorted(step.group_stats_) == ["s0", "s1"]
