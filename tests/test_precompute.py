"""The one precompute path and the runtime context: what cv, fit, score and predict share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoclassic import config_context, get_config
from emoclassic.evaluation import fit_final, score_model
from emoclassic.exceptions import ConfigError
from emoclassic.features import (
    Failure,
    FeatureTables,
    block_extractors,
    precompute,
    use_tables,
)
from emoclassic.fusion import build_pipeline
from emoclassic.prediction import predict_manifest
from emoclassic.spec import load_spec

SPEC = {
    "name": "tiny",
    "features": {"audio": {"type": "pooled", "preset": "compact"}},
    "classifier": {"name": "logreg"},
    "cv": {"scheme": "group", "n_splits": 2},
}


@pytest.fixture(scope="module")
def data(demo_corpus, tmp_path_factory):
    _, manifest = demo_corpus
    df = manifest.iloc[:24].reset_index(drop=True).copy()
    bad = tmp_path_factory.mktemp("bad") / "broken.wav"
    bad.write_bytes(b"not audio at all")
    df.loc[3, "path"] = str(bad)
    return df


def test_failures_are_records_with_row_path_and_block(data):
    pre = precompute(load_spec(SPEC), data)
    (f,) = pre.failures
    assert isinstance(f, Failure)
    assert f.id == str(data.loc[3, "id"]) and f.path == data.loc[3, "path"]
    assert f.block == "audio" and f.message
    assert f.to_dict() == {"id": f.id, "path": f.path, "block": "audio", "message": f.message}
    assert f.line().startswith(f"{f.id}: [audio] ")
    good = pre.good(data)
    assert len(good) == len(data) - 1 and f.id not in set(good["id"].astype(str))


def test_a_fitted_model_precomputes_the_same_tables_as_its_spec(data):
    spec = load_spec(SPEC)
    from_spec = precompute(spec, data)
    model = fit_final(spec, from_spec.good(data))
    from_model = precompute(model, data)
    assert [f.id for f in from_model.failures] == [f.id for f in from_spec.failures]
    (key,) = from_spec.tables.blocks
    np.testing.assert_array_equal(from_model.tables.blocks[key][1], from_spec.tables.blocks[key][1])
    assert [b for b, _ in block_extractors(build_pipeline(spec))] == ["audio"]


def test_extractors_read_active_tables_without_computing(data, monkeypatch):
    spec = load_spec(SPEC)
    pre = precompute(spec, data)
    model = fit_final(spec, pre.good(data))
    good = pre.good(data)
    expected = model.predict_proba(good)
    from emoclassic.audio import PooledFeatures

    def boom(self, items):  # any extraction now would be a bug
        raise AssertionError("extracted although the tables hold every row")

    monkeypatch.setattr(PooledFeatures, "_compute_batch", boom)
    with use_tables(pre.tables):
        np.testing.assert_allclose(model.predict_proba(good), expected)


def test_predict_and_score_run_on_the_good_rows_only(data):
    spec = load_spec(SPEC)
    model = fit_final(spec, precompute(spec, data).good(data))
    result = predict_manifest(model, data.drop(columns=["label"]))
    assert len(result.predictions) == len(data) - 1
    (f,) = result.failures
    assert f.block == "audio" and f.id == str(data.loc[3, "id"])
    doc = result.to_dict()["failures"][0]
    assert doc["error"] == doc["message"] and doc["block"] == "audio"  # schema v1 keeps "error"
    report = score_model(model, data)
    assert report["data"]["n_items"] == len(data) - 1
    assert [x["id"] for x in report["data"]["failed"]] == [f.id]


def test_config_context_nests_restores_and_checks(tmp_path):
    assert get_config()["cache"] is None and get_config()["n_jobs"] == 1
    with config_context(cache=tmp_path / "c", n_jobs=2) as cfg:
        assert cfg["n_jobs"] == 2
        with config_context(progress=True):
            assert get_config()["cache"] == tmp_path / "c" and get_config()["progress"]
        assert get_config()["progress"] is False
    assert get_config()["cache"] is None and get_config()["n_jobs"] == 1
    with pytest.raises(ConfigError, match="unknown runtime setting"), config_context(cache_dir="x"):
        pass
    with pytest.raises(ConfigError, match="n_jobs"), config_context(n_jobs=0):
        pass
    with config_context(cache="none"):
        assert get_config()["cache"] is None


def test_cache_comes_from_the_context_and_is_not_saved(data, tmp_path):
    spec = load_spec(SPEC)
    good = data.drop(index=3).reset_index(drop=True)
    with config_context(cache=tmp_path / "cache"):
        model = fit_final(spec, good)
    assert any((tmp_path / "cache").rglob("*.npy"))  # the vectors went to the context's store
    ext = model.named_steps["features"].transformers_[0][1].named_steps["extract"]
    assert ext.cache is None and ext.n_jobs is None  # nothing written into the model


def test_tables_pickle_as_their_matrices():
    import pickle

    tables = FeatureTables()
    tables.add("k", ["a", "b"], np.eye(2, dtype=np.float32))
    back = pickle.loads(pickle.dumps(tables))
    assert back.blocks["k"][0] == {"a": 0, "b": 1}
    np.testing.assert_array_equal(back.blocks["k"][1], np.eye(2))
    frame = pd.DataFrame({"id": ["b", "a"]})

    class Ext:  # any object with the extractor's identity methods
        def get_params(self, deep=False):
            return {}

        def _config(self):
            return {}

    from emoclassic.features import config_key

    tables.blocks[config_key(Ext())] = tables.blocks.pop("k")
    np.testing.assert_array_equal(tables.rows(Ext(), frame), np.eye(2)[[1, 0]])
    assert tables.rows(Ext(), pd.DataFrame({"id": ["zz"]})) is None
