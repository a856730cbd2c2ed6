"""Active learning: the strategies on known probabilities, ``suggest`` through the one
prediction path, the picks CSV and page, and ``emoclassic suggest`` end to end.

A tiny audio model is fitted once for the module on the shared demo corpus; the pool is that
corpus without its label columns.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from typer.testing import CliRunner

from emoclassic.active import entropy, margin, pool_space, rank, suggest, top_two, write_picks
from emoclassic.cli import app
from emoclassic.data import read_manifest
from emoclassic.exceptions import BatchError, ConfigError, DataError

SPEC = """
name = "tiny_active"
[features.audio]
type = "pooled"
preset = "compact"
[classifier]
name = "logreg"
[cv]
scheme = "group"
n_splits = 2
"""

#: known probabilities: margins 0.2, 0.0, 0.85, 0.01, 0.2 and entropies computed by hand below
PROBA = np.array([
    [0.5, 0.3, 0.2, 0.0],
    [0.5, 0.5, 0.0, 0.0],
    [0.9, 0.05, 0.05, 0.0],
    [0.34, 0.33, 0.33, 0.0],
    [0.4, 0.2, 0.2, 0.2],
])


def _h(*ps: float) -> float:
    return -sum(p * math.log(p) for p in ps if p > 0)


def run(*args) -> SimpleNamespace:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return SimpleNamespace(code=result.exit_code, out=result.stdout, err=result.stderr)


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not ln.endswith("...")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- strategies
def test_margin_and_entropy_match_hand_computed_values():
    np.testing.assert_allclose(margin(PROBA), [0.2, 0.0, 0.85, 0.01, 0.2], atol=1e-12)
    hand = [_h(0.5, 0.3, 0.2), _h(0.5, 0.5), _h(0.9, 0.05, 0.05), _h(0.34, 0.33, 0.33),
            _h(0.4, 0.2, 0.2, 0.2)]
    np.testing.assert_allclose(entropy(PROBA), hand, atol=1e-12)
    best, second = top_two(PROBA)
    assert best.tolist() == [0, 0, 0, 0, 0]
    assert second.tolist() == [1, 1, 1, 1, 1]  # ties go to the lower column


def test_margin_ranks_smallest_first_ties_in_pool_order():
    # margins 0.2, 0.0, 0.85, 0.01, 0.2: row 0 and row 4 tie, row 0 comes first
    assert rank(PROBA, 5, "margin").tolist() == [1, 3, 0, 4, 2]
    assert rank(PROBA, 2, "margin").tolist() == [1, 3]


def test_entropy_ranks_largest_first():
    # entropies: 1.030, 0.693, 0.394, 1.099, 1.332 -> rows 4, 3, 0, 1, 2
    assert rank(PROBA, 5, "entropy").tolist() == [4, 3, 0, 1, 2]
    # the two uncertainty measures disagree on row 1 (a tie of two) and row 4 (spread)
    assert rank(PROBA, 1, "margin").tolist() == [1]
    assert rank(PROBA, 1, "entropy").tolist() == [4]


def test_random_is_a_seeded_permutation():
    a = rank(PROBA, 5, "random", seed=3)
    assert sorted(a.tolist()) == [0, 1, 2, 3, 4]
    assert a.tolist() == rank(PROBA, 5, "random", seed=3).tolist()
    draws = {tuple(rank(np.full((40, 3), 1 / 3), 5, "random", seed=s)) for s in range(5)}
    assert len(draws) == 5


def test_n_larger_than_the_pool_ranks_the_whole_pool():
    assert len(rank(PROBA, 50, "margin")) == 5
    assert len(rank(PROBA, 50, "diverse", features=np.eye(5))) == 5


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight clusters of 10 items; cluster 0 holds the 10 most uncertain items."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.vstack([c + 0.1 * rng.normal(size=(10, 2)) for c in centres])
    m = np.concatenate([np.linspace(0.0, 0.1, 10), np.linspace(0.2, 0.3, 10),
                        np.linspace(0.4, 0.5, 10)])
    proba = np.stack([0.5 + m / 2, 0.5 - m / 2], axis=1)  # margin = m
    return proba, X


def test_diverse_spreads_picks_over_clusters():
    proba, X = _clusters()
    cluster = np.repeat([0, 1, 2], 10)
    assert set(cluster[rank(proba, 3, "margin")]) == {0}  # margin: one corner
    for seed in range(5):
        picks = rank(proba, 3, "diverse", features=X, seed=seed, candidates=10)
        assert np.all(np.diff(margin(proba)[picks]) >= 0)  # the most uncertain first
        assert len(set(cluster[picks])) == 3, picks
        assert len(set(picks.tolist())) == 3
    # only uncertain candidates: with candidates=1 diverse is margin's choice, re-ordered
    picks = rank(proba, 3, "diverse", features=X, seed=0, candidates=1)
    assert sorted(picks.tolist()) == [0, 1, 2]


def test_diverse_with_identical_items_still_picks_distinct_ones():
    picks = rank(np.full((6, 2), 0.5), 4, "diverse", features=np.zeros((6, 3)), seed=0)
    assert sorted(picks.tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "3"])
def test_bad_n_is_refused(n):
    with pytest.raises(ConfigError, match="n="):
        rank(PROBA, n, "margin")


def test_unknown_strategy_is_refused():
    with pytest.raises(ConfigError, match="strategy 'least'.*margin, entropy, random, diverse"):
        rank(PROBA, 2, "least")
    with pytest.raises(ConfigError, match="features"):
        rank(PROBA, 2, "diverse")


# --------------------------------------------------------------------------- suggest()
class KnownProba(ClassifierMixin, BaseEstimator):
    """A 'model' whose probabilities per id are given: suggest's ranking checked by hand."""

    def __init__(self, table=None):
        self.table = table

    def fit(self, X, y=None):
        return self

    @property
    def classes_(self):
        return np.array(["anger", "joy", "neutral", "sadness"])

    def predict_proba(self, X):
        return np.array([self.table[i] for i in X["id"]])


def _known_pool() -> pd.DataFrame:
    ids = [f"u{k}" for k in range(len(PROBA))]
    return pd.DataFrame({"id": ids, "text": [f"utterance {k}" for k in range(len(PROBA))],
                         "label": ["anger"] * len(PROBA), "speaker": ["a", "a", "b", "b", "c"],
                         "votes": ["anger:2"] * len(PROBA), "note": list("vwxyz")})


def test_suggest_ranks_a_pool_by_hand_computed_margins():
    model = KnownProba({f"u{k}": p for k, p in enumerate(PROBA)})
    picks = suggest(model, _known_pool(), n=3, strategy="margin")
    assert picks["id"].tolist() == ["u1", "u3", "u0"]
    np.testing.assert_allclose(picks["score"], [0.0, 0.01, 0.2], atol=1e-6)
    assert picks["rank"].tolist() == [1, 2, 3]
    assert picks["predicted_label"].tolist() == ["anger"] * 3
    assert picks["second_label"].tolist() == ["joy"] * 3
    assert list(picks.columns[:7]) == ["id", "path", "text", "rank", "score", "predicted_label",
                                       "second_label"]
    assert "label" not in picks.columns and "votes" not in picks.columns
    assert picks["speaker"].tolist() == ["a", "b", "a"] and "note" in picks.columns
    assert picks.attrs["strategy"] == "margin" and picks.attrs["n_pool"] == 5
    assert picks.attrs["failures"] == []
    ent = suggest(model, _known_pool(), n=5, strategy="entropy")
    assert ent["id"].tolist() == ["u4", "u3", "u0", "u1", "u2"]
    assert ent.attrs["score"] == "entropy"
    np.testing.assert_allclose(ent["score"].iloc[0], _h(0.4, 0.2, 0.2, 0.2), atol=1e-5)


def test_suggest_without_feature_tables_spreads_over_probabilities():
    model = KnownProba({f"u{k}": p for k, p in enumerate(PROBA)})
    picks = suggest(model, _known_pool(), n=3, strategy="diverse", seed=1)
    assert picks["id"].iloc[0] == "u1" and picks["id"].is_unique
    assert picks.attrs["space"] == "predicted probabilities"


def test_suggest_refuses_bad_requests_before_predicting():
    model = KnownProba({})
    with pytest.raises(ConfigError, match="n=0"):
        suggest(model, _known_pool(), n=0)
    with pytest.raises(ConfigError, match="strategy 'smallest'"):
        suggest(model, _known_pool(), strategy="smallest")
    with pytest.raises(DataError, match="no rows"):
        suggest(model, _known_pool().iloc[:0])
    with pytest.raises(DataError, match="not found"):
        suggest(model, "no_such_pool.csv")


# --------------------------------------------------------------------------- real model
@pytest.fixture(scope="module")
def env(tmp_path_factory, demo_corpus):
    folder, manifest = demo_corpus
    root = tmp_path_factory.mktemp("active")
    (root / "spec.toml").write_text(SPEC)
    cache = root / "cache"
    res = run("fit", "--manifest", folder / "manifest.csv", "--pipeline", root / "spec.toml",
              "--out", root / "model.joblib", "--cache", cache, "-q")
    assert res.code == 0, res.err
    pool = manifest.drop(columns=["label", "label_original"])
    pool_file = root / "pool.csv"
    pool.to_csv(pool_file, index=False)
    return SimpleNamespace(root=root, model=root / "model.joblib", cache=cache, pool=pool,
                           pool_file=pool_file, manifest=manifest)


def test_suggest_on_a_real_model_uses_its_training_feature_space(env):
    from emoclassic.artifacts import load_model
    from emoclassic.features import precompute
    from emoclassic.prediction import PreparedModel

    picks = suggest(env.model, env.pool, n=12, strategy="diverse", cache=env.cache, seed=2)
    assert len(picks) == 12 and picks["id"].is_unique
    assert picks.attrs["space"].startswith("audio: the model's training PCA")
    # the spread: 12 uncertain picks are not all one speaker's or one predicted class's
    assert picks["speaker"].nunique() > 1
    # the same picks from tables computed beforehand (a simulation's path): nothing recomputed
    estimator, info = load_model(env.model)
    pre = precompute(estimator, env.pool)
    again = suggest(estimator, env.pool, n=12, strategy="diverse", tables=pre.tables, seed=2)
    assert again["id"].tolist() == picks["id"].tolist()
    # the space itself: one row per item, from the detector fitted on the training rows
    prepared = PreparedModel.of(estimator, info)
    Z, how = pool_space(prepared, pre.tables, env.pool["id"].tolist())
    assert Z.shape[0] == len(env.pool) and "training PCA" in how
    # a model saved without a detector: the pool's own principal components
    del estimator.emoclassic_ood_
    Z, how = pool_space(PreparedModel.of(estimator, info), pre.tables, env.pool["id"].tolist())
    assert Z.shape == (len(env.pool), 16) and how == "audio: the pool's PCA (16)"
    np.testing.assert_allclose(np.mean(np.sum(Z ** 2, axis=1)), 1.0)


def test_suggest_takes_a_recognizer_as_the_model(env):
    from emoclassic import Recognizer

    rec = Recognizer.load(env.model)
    a = suggest(rec, env.pool, n=5, cache=env.cache)
    b = suggest(env.model, env.pool, n=5, cache=env.cache)
    assert a["id"].tolist() == b["id"].tolist()
    assert a.attrs["model"] == "tiny_active"


def test_windowed_items_take_the_mean_of_their_windows():
    from emoclassic.active._space import _row_index

    index = {"a": 0, "b#w0": 1, "b#w1": 2, "c#w": 3}
    assert _row_index(index, ["a", "b"]) == [[0], [1, 2]]
    assert _row_index(index, ["c"]) is None


def test_picks_file_is_a_prediction_manifest_without_labels(env, tmp_path):
    picks = suggest(env.model, env.pool_file, n=6, strategy="margin", cache=env.cache)
    margins = picks["score"].to_numpy()
    assert np.all(np.diff(margins) >= 0)
    paths = write_picks(picks, tmp_path / "out" / "picks.csv")
    back = read_manifest(paths["picks"], require_labels=False)
    assert back["id"].tolist() == picks["id"].tolist()
    assert back["label"].isna().all()  # the schema column is there, empty: nothing to mistake
    header = paths["picks"].read_text().splitlines()[0].split(",")
    assert "label" not in header and "label_original" not in header
    assert [Path(p).resolve() for p in back["path"]] == \
        [Path(p).resolve() for p in picks["path"]]  # fmt: skip


def test_page_plays_the_picks_in_order(env, tmp_path):
    picks = suggest(env.model, env.pool, n=4, strategy="entropy", cache=env.cache)
    paths = write_picks(picks, tmp_path / "deep" / "picks.csv")
    page = paths["page"]
    assert page == tmp_path / "deep" / "picks.html"
    text = page.read_text()
    srcs = re.findall(r"<audio controls preload='none' src='([^']+)'>", text)
    assert len(srcs) == 4
    for src, path in zip(srcs, picks["path"], strict=True):
        assert not src.startswith("/")  # relative to the page
        assert (page.parent / unquote(src)).resolve() == Path(path).resolve()
    positions = [text.index(f">{i}</td>") for i in picks["id"]]
    assert positions == sorted(positions)
    for row in picks.itertuples():
        assert row.predicted_label in text and row.second_label in text


def test_segments_play_their_part_of_the_file(tmp_path):
    picks = pd.DataFrame({"id": ["a"], "path": [str(tmp_path / "long.wav")], "text": ["hi"],
                          "rank": [1], "score": [0.1], "predicted_label": ["joy"],
                          "second_label": ["anger"], "start": [1.5], "end": [3.0]})
    paths = write_picks(picks, tmp_path / "picks.csv")
    assert "src='long.wav#t=1.5,3'" in paths["page"].read_text()


def test_write_picks_wants_a_csv_name(tmp_path):
    with pytest.raises(ConfigError, match=r"\.csv"):
        write_picks(pd.DataFrame(), tmp_path / "picks.html")


# --------------------------------------------------------------------------- the command
@pytest.mark.parametrize("strategy", ["margin", "entropy", "random", "diverse"])
def test_cli_suggest_writes_picks_and_page(env, tmp_path, strategy):
    out = tmp_path / f"{strategy}.csv"
    res = run("suggest", "--model", env.model, "--manifest", env.pool_file, "--n", 5,
              "--strategy", strategy, "--out", out, "--cache", env.cache, "--seed", 1, "-q")
    assert res.code == 0, res.err
    picks = pd.read_csv(out)
    assert len(picks) == 5 and "label" not in picks.columns
    assert {"id", "path", "text", "score", "predicted_label", "second_label"} <= set(picks)
    assert out.with_suffix(".html").is_file()
    assert "wrote" in res.out


def test_cli_picks_feed_predict(env, tmp_path):
    out = tmp_path / "picks.csv"
    res = run("suggest", "--model", env.model, "--manifest", env.pool_file, "-n", 3,
              "--out", out, "--cache", env.cache, "-q")
    assert res.code == 0, res.err
    res = run("predict", "--model", env.model, "--manifest", out, "--format", "json", "-q")
    assert res.code == 0, res.err
    import json

    doc = json.loads(res.out)
    assert [p["id"] for p in doc["predictions"]] == pd.read_csv(out)["id"].tolist()


def test_cli_suggest_takes_files_and_folders(env, tmp_path):
    folder = Path(env.pool["path"].iloc[0]).parent
    res = run("suggest", "--model", env.model, folder, "--n", 2, "--out", tmp_path / "p.csv",
              "--cache", env.cache, "-q")
    assert res.code == 0, res.err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2


def test_cli_bad_files_are_listed_and_skipped(env, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio at all\n" * 10)
    pool = pd.concat([env.pool.iloc[:5], pd.DataFrame({"id": ["broken"], "path": [str(bad)]})])
    pool.to_csv(tmp_path / "pool.csv", index=False)
    res = run("suggest", "--model", env.model, "--manifest", tmp_path / "pool.csv", "--n", 10,
              "--out", tmp_path / "picks.csv", "--cache", "none")
    assert res.code == 1, res.err
    assert "broken" in res.err and "Traceback" not in res.err
    picks = pd.read_csv(tmp_path / "picks.csv")
    assert len(picks) == 5 and "broken" not in picks["id"].tolist()


def test_suggest_with_nothing_predictable_raises_a_batch_error(env, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio at all\n" * 10)
    with pytest.raises(BatchError, match="none of the 1 pool item") as info:
        suggest(env.model, pd.DataFrame({"id": ["b"], "path": [str(bad)]}))
    assert [f.id for f in info.value.failures] == ["b"]


def test_cli_all_items_failing_is_one_error(env, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio at all\n" * 10)
    pd.DataFrame({"id": ["b"], "path": [str(bad)]}).to_csv(tmp_path / "pool.csv", index=False)
    res = run("suggest", "--model", env.model, "--manifest", tmp_path / "pool.csv",
              "--out", tmp_path / "picks.csv", "--cache", "none")
    assert res.code == 2
    assert "could be predicted" in _one_error_line(res.err)
    assert not (tmp_path / "picks.csv").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (("--n", 0), "n=0"),
    (("--n", -3), "n=-3"),
    (("--strategy", "least"), "strategy 'least'"),
    (("--out", "picks.html"), ".csv"),
])
def test_cli_bad_options_are_one_line(env, tmp_path, args, expected):
    res = run("suggest", "--model", env.model, "--manifest", env.pool_file, *args,
              *(("--out", tmp_path / "p.csv") if "--out" not in args else ()))
    assert res.code == 2
    assert expected in _one_error_line(res.err)


def test_cli_bad_pools_are_one_line(env, tmp_path):
    res = run("suggest", "--model", env.model, "--manifest", tmp_path / "missing.csv",
              "--out", tmp_path / "p.csv")
    assert res.code == 2 and "not found" in _one_error_line(res.err)
    (tmp_path / "empty.csv").write_text("id,path,text\n")
    res = run("suggest", "--model", env.model, "--manifest", tmp_path / "empty.csv",
              "--out", tmp_path / "p.csv")
    assert res.code == 2 and "no rows" in _one_error_line(res.err)
    res = run("suggest", "--model", env.model, "--out", tmp_path / "p.csv")
    assert res.code == 2 and "no pool" in _one_error_line(res.err)
