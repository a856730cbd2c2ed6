"""save_features: an extraction result written to .npz, .csv or .parquet, atomically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoclassic.exceptions import ConfigError
from emoclassic.features import ExtractionResult, save_features


@pytest.fixture
def result() -> ExtractionResult:
    return ExtractionResult(
        features=np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32),
        ids=["u1", "u2"],
        failures=[],
        feature_names=["f0", "f1"],
        ok=np.array([True, True]),
    )


def test_npz(result, tmp_path):
    out = save_features(result, tmp_path / "sub" / "x.npz")
    assert out == tmp_path / "sub" / "x.npz"
    with np.load(out) as z:
        np.testing.assert_array_equal(z["X"], result.features)
        assert list(z["ids"]) == ["u1", "u2"] and list(z["feature_names"]) == ["f0", "f1"]


def test_csv(result, tmp_path):
    frame = pd.read_csv(save_features(result, str(tmp_path / "x.csv")))
    assert list(frame.columns) == ["id", "f0", "f1"]
    assert list(frame["id"]) == ["u1", "u2"] and frame["f1"].tolist() == [2.0, 4.5]


def test_parquet(result, tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.read_parquet(save_features(result, tmp_path / "x.parquet"))
    assert list(frame.columns) == ["id", "f0", "f1"]


def test_unknown_suffix_writes_nothing(result, tmp_path):
    with pytest.raises(ConfigError, match=r"\.npz, \.parquet or \.csv"):
        save_features(result, tmp_path / "x.txt")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(result, tmp_path, monkeypatch):
    out = tmp_path / "x.csv"
    out.write_text("old\n")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        save_features(result, out)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]  # no temporary file left
