"""Saved models: manifest contents, atomic writes, and every way loading must refuse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from emoclassic import artifacts
from emoclassic._versions import major_minor, versions
from emoclassic.artifacts import find_extractors, inspect_model, load_model, save_model
from emoclassic.exceptions import ModelError
from emoclassic.features import BaseExtractor, Item


class _FakeExtractor(BaseExtractor):
    """A stateless extractor reading numeric columns (stands in for audio/text extractors)."""

    def __init__(self, columns=("a", "b"), cache=None, n_jobs=1, on_error="raise"):
        self.columns = columns
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error

    def _items(self, X):
        return [Item(str(i), None, row) for i, row in enumerate(X[list(self.columns)].values)]

    def _compute_one(self, item):
        return np.asarray(item.payload, dtype=np.float32)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(list(self.columns), dtype=object)

    def model_identity(self):
        return {"name": "fake-text-model", "sha256": "0" * 8}

    def weights_info(self):
        return {"pretrained": False}


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["anger", "neutral", "sadness"])[np.arange(n) % 3]
    a = rng.normal(size=n) + (y == "anger") * 3
    b = rng.normal(size=n) + (y == "sadness") * 3
    return pd.DataFrame(
        {"a": a, "b": b, "label": y, "speaker": [f"s{i % 4}" for i in range(n)]}
    )


@pytest.fixture()
def fitted(tmp_path):
    df = _data()
    pipe = Pipeline(
        [
            ("features", ColumnTransformer([("fake", _FakeExtractor(cache=str(tmp_path / "c")),
                                             ["a", "b"])])),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(df, df["label"])
    return pipe, df


@pytest.fixture()
def saved(fitted, tmp_path):
    pipe, df = fitted
    path = tmp_path / "model.joblib"
    info = save_model(pipe, path, spec={"name": "toy", "speaker_normalization": False},
                      train_manifest=df, cv_metrics={"uar": 0.9})
    return path, info, pipe, df


def test_save_writes_model_and_manifest(saved, tmp_path):
    path, info, pipe, df = saved
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["sha256"] == artifacts.file_sha256(path)
    assert manifest["labels"] == ["anger", "neutral", "sadness"]
    assert manifest["format_version"] == artifacts.FORMAT_VERSION
    assert manifest["spec"]["name"] == "toy"
    assert manifest["cv_metrics"] == {"uar": 0.9}
    assert manifest["training_data"]["per_class"] == {"anger": 20, "neutral": 20, "sadness": 20}
    assert len(manifest["training_data"]["per_speaker"]) == 4
    assert manifest["created"].endswith("+00:00")
    for key in ("python", "scikit-learn", "numpy", "scipy", "torch", "librosa", "xgboost",
                "sentence-transformers", "emoclassic"):
        assert key in manifest["versions"]
    feat = manifest["features"][0]
    assert feat["class"] == "_FakeExtractor"
    assert feat["text_model"]["name"] == "fake-text-model"
    assert feat["weights"] == {"pretrained": False}
    assert "cache" not in feat
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "model.joblib", "model.json"
    ]


def test_round_trip_predicts_the_same(saved):
    path, _, pipe, df = saved
    model, info = load_model(path)
    np.testing.assert_allclose(model.predict_proba(df), pipe.predict_proba(df))
    assert info["labels"] == ["anger", "neutral", "sadness"]
    assert info["warnings"] == []


def test_training_cache_is_not_saved_but_restored(saved, tmp_path):
    path, _, pipe, _ = saved
    model, _ = load_model(path)
    fitted_clone = model.named_steps["features"].transformers_[0][1]
    assert fitted_clone.cache is None
    assert model.get_params()["features__fake__cache"] is None
    assert pipe.named_steps["features"].transformers_[0][1].cache == str(tmp_path / "c")
    assert pipe.get_params()["features__fake__cache"] == str(tmp_path / "c")


def test_runtime_settings_come_from_the_context_not_the_model(fitted):
    from emoclassic import config_context

    pipe, _ = fitted
    clone = pipe.named_steps["features"].transformers_[0][1]
    before = clone.cache
    clone.cache = None
    try:
        with config_context(cache="elsewhere"):
            assert clone._runtime("cache") == "elsewhere"  # the fitted clone sees it
        assert clone._runtime("cache") is None and clone.cache is None  # nothing rewritten
    finally:
        clone.cache = before


def test_load_accepts_the_card_path(saved):
    path, *_ = saved
    model, info = load_model(path.with_suffix(".json"))
    assert info["model_path"] == str(path)
    assert info["card_path"] == str(path.with_suffix(".json"))


def test_old_manifest_names_still_work_with_a_warning(saved):
    path, *_ = saved
    _, info = load_model(path)
    assert info["manifest_path"] == info["card_path"]  # the old key, for one release
    with pytest.warns(FutureWarning, match="card_path"):
        assert artifacts.manifest_path(path) == artifacts.card_path(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope.joblib")


def test_flipped_byte_is_caught_by_sha256(saved):
    path, *_ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256.*altered or is corrupt"):
        load_model(path)
    with pytest.raises(ModelError, match="sha256"):  # trust does not skip the checksum
        load_model(path, trust=True)
    assert inspect_model(path)["sha256_ok"] is False


def test_truncated_file_with_matching_sha_is_a_model_error(saved):
    path, *_ = saved
    path.write_bytes(path.read_bytes()[:200])
    manifest_file = path.with_suffix(".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["sha256"] = artifacts.file_sha256(path)
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="truncated or corrupt"):
        load_model(path)


def test_missing_card_is_refused_unless_trusted(saved):
    path, *_ = saved
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="model card.*missing.*--trust"):
        load_model(path)
    model, info = load_model(path, trust=True)
    assert info["trusted_without_card"] is True
    assert info["trusted_without_manifest"] is True  # the old key, for one release
    assert info["card_path"] is None
    assert info["labels"] == ["anger", "neutral", "sadness"]
    assert any("without a model card" in w for w in info["warnings"])
    with pytest.raises(ModelError, match="missing"):
        inspect_model(path)


def test_unreadable_card(saved):
    path, *_ = saved
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(path)
    path.with_suffix(".json").write_text('{"hello": 1}')
    with pytest.raises(ModelError, match="not an emoclassic model card"):
        load_model(path)


def _edit_versions(path, **changes):
    manifest_file = path.with_suffix(".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["versions"].update(changes)
    manifest_file.write_text(json.dumps(manifest))


def test_other_scikit_learn_release_is_refused_with_the_fix(saved):
    path, *_ = saved
    _edit_versions(path, **{"scikit-learn": "0.24.2"})
    with pytest.raises(ModelError, match=r"pip install 'scikit-learn==0\.24\.\*'"):
        load_model(path)
    model, info = load_model(path, trust=True)
    assert any("scikit-learn 0.24.2" in w for w in info["warnings"])
    assert hasattr(model, "predict")


def test_other_version_differences_only_warn(saved, caplog):
    path, *_ = saved
    _edit_versions(path, numpy="1.0.0")
    with caplog.at_level("WARNING", logger="emoclassic.artifacts"):
        _, info = load_model(path)
    assert any("numpy 1.0.0" in w for w in info["warnings"])
    assert "numpy 1.0.0" in caplog.text
    notes = inspect_model(path)["version_notes"]
    assert ("numpy", "1.0.0", versions()["numpy"]) in [tuple(n) for n in notes]


def test_save_rejects_bad_names_and_non_models(fitted, tmp_path):
    pipe, _ = fitted
    with pytest.raises(ModelError, match=r"\.joblib"):
        save_model(pipe, tmp_path / "model.pkl")
    with pytest.raises(ModelError, match="not a model"):
        save_model(StandardScaler(), tmp_path / "scaler.joblib")


def test_find_extractors_walks_nested_pipelines(fitted):
    pipe, _ = fitted
    found = find_extractors(pipe)
    assert [type(f).__name__ for f in found] == ["_FakeExtractor"]


def test_versions_are_read_without_importing_heavy_packages():
    import subprocess
    import sys

    code = (
        "import sys; from emoclassic._versions import versions; v = versions(); "
        "assert v['torch'] and v['scikit-learn'] and v['numpy'], v; "
        "heavy = [m for m in ('torch', 'sklearn', 'sentence_transformers', 'xgboost', 'librosa') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_major_minor():
    assert major_minor("1.9.1") == (1, 9)
    assert major_minor("2.13.0+cpu") == (2, 13)
    assert major_minor("1.10rc1") == (1, 10)
    assert major_minor(None) is None
    assert major_minor("dev") is None
