"""Metrics, baselines and report files: documented keys, correct numbers, atomic writes."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from emoclassic.evaluation import (
    REPORT_KEYS,
    chance_metrics,
    compute_metrics,
    plot_confusion,
    run_cv,
    write_reports,
)

METRICS = {"ua", "wa", "macro_f1", "weighted_f1"}


def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d"]
    y = rng.choice(labels, 200, p=[0.5, 0.2, 0.2, 0.1])
    p = np.where(rng.random(200) < 0.6, y, rng.choice(labels, 200))
    m = compute_metrics(y, p, labels=labels)
    assert m["metrics"]["ua"] == pytest.approx(balanced_accuracy_score(y, p))
    assert m["metrics"]["wa"] == pytest.approx(accuracy_score(y, p))
    assert m["metrics"]["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert m["metrics"]["weighted_f1"] == pytest.approx(f1_score(y, p, average="weighted"))
    assert m["confusion"]["labels"] == labels
    assert np.sum(m["confusion"]["matrix"]) == 200
    assert m["per_class"]["a"]["support"] == int((y == "a").sum())
    assert set(m["per_class"]["a"]) == {"precision", "recall", "f1", "support"}


def test_chance_baseline_is_analytic():
    y = ["a"] * 6 + ["b"] * 3 + ["c"] * 1
    m = chance_metrics(y, labels=["a", "b", "c"])
    assert m["ua"] == pytest.approx(1 / 3)
    assert m["wa"] == pytest.approx(1 / 3)
    # per class: precision = class share, recall = 1/3
    f1 = [2 * s * (1 / 3) / (s + 1 / 3) for s in (0.6, 0.3, 0.1)]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    assert m["weighted_f1"] == pytest.approx(np.dot(f1, [0.6, 0.3, 0.1]))


def _toy_report():
    rng = np.random.default_rng(0)
    rows = []
    for s in range(4):
        for i in range(12):
            c = i % 3
            rows.append({"id": f"{s}_{i}", "label": "xyz"[c], "speaker": f"s{s}",
                         "f0": c + rng.normal(0, 0.7), "f1": rng.normal()})  # fmt: skip
    df = pd.DataFrame(rows)
    spec = {"name": "report-toy", "features": {"x": {"type": "extra", "columns": ["f0", "f1"]}},
            "classifier": {"name": "logreg"}, "grid": {"classifier.C": [0.1, 1.0]},
            "cv": {"n_splits": 4}}  # fmt: skip
    return run_cv(spec, df), df


@pytest.fixture(scope="module")
def report():
    return _toy_report()[0]


def test_cv_report_has_the_documented_keys(report):
    assert set(REPORT_KEYS) <= set(report)
    assert set(report["metrics"]) >= METRICS
    assert all(0.0 <= report["metrics"][k] <= 1.0 for k in METRICS)
    assert set(report["baselines"]) == {"majority", "chance"}
    for b in report["baselines"].values():
        assert set(b) >= METRICS
    assert report["baselines"]["chance"]["ua"] == pytest.approx(1 / 3)
    assert set(report["confusion"]) == {"labels", "matrix"}
    assert set(report["per_class"]) == {"x", "y", "z"}
    fold = report["folds"][0]
    assert {"metrics", "train_groups", "test_groups", "best_params", "n_train", "n_test"} <= set(
        fold
    )
    assert set(report["protocol"]) >= {"scheme", "groups", "n_outer_folds", "inner",
                                       "speaker_normalization", "scoring"}  # fmt: skip
    assert report["protocol"]["speaker_normalization"] is False
    assert set(report["timing"]) == {"extraction", "cv", "total"}
    assert {"emoclassic", "python", "numpy", "scipy", "librosa", "torch", "xgboost",
            "sentence-transformers"} <= set(report["versions"])  # fmt: skip
    assert report["versions"]["scikit-learn"]
    assert "attention" not in report  # only attention fusion reports it
    assert {"n_items", "classes", "groups", "failed"} <= set(report["data"])
    assert report["data"]["classes"] == {"x": 16, "y": 16, "z": 16}
    assert report["data"]["groups"] == {"s0": 12, "s1": 12, "s2": 12, "s3": 12}
    assert report["spec"]["name"] == "report-toy"
    assert report["features"]["x"]["type"] == "extra"
    assert report["best_params"]["classifier.C"] in (0.1, 1.0)
    assert len(report["grid"]["folds"]) == 4


def test_write_reports_writes_four_files_atomically(report, tmp_path):
    paths = write_reports(report, tmp_path / "out")
    assert set(paths) == {"json", "markdown", "html", "confusion"}
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["confusion.png", "cv_report.html", "cv_report.json", "cv_report.md"]
    loaded = json.loads(paths["json"].read_text())
    assert loaded["metrics"] == report["metrics"]
    assert paths["confusion"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    for heading in ("## Scores", "## Per class", "## Per fold", "majority baseline"):
        assert heading in md
    html = paths["html"].read_text()
    assert "data:image/png;base64," in html
    b64 = html.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(b64) == paths["confusion"].read_bytes()
    assert "<table>" in html and "src='confusion.png'" not in html  # self-contained
    # rewriting replaces, leaving no temp files
    write_reports(report, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names


def test_ablation_table_appears_in_markdown(report, tmp_path):
    with_ablation = {**report, "ablation": {
        "audio": {"metrics": report["baselines"]["chance"]},
        "text": {"metrics": report["baselines"]["majority"]},
        "fused": {"metrics": report["metrics"]},
    }}  # fmt: skip
    md = write_reports(with_ablation, tmp_path)["markdown"].read_text()
    assert "## Ablation" in md and "| fused |" in md


def test_nan_values_become_null(report, tmp_path):
    broken = json.loads(json.dumps(report))
    broken["folds"][0]["best_score"] = float("nan")
    path = write_reports(broken, tmp_path)["json"]
    assert json.loads(path.read_text())["folds"][0]["best_score"] is None


def test_plot_confusion_returns_png(tmp_path):
    png = plot_confusion([[3, 1], [0, 4]], ["a", "b"], path=tmp_path / "c.png")
    assert png[:4] == b"\x89PNG" and (tmp_path / "c.png").read_bytes() == png
