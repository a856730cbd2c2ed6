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
    fold_summary,
    plot_confusion,
    plot_folds,
    render_html,
    render_markdown,
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


def test_write_reports_writes_seven_files_atomically(report, tmp_path):
    paths = write_reports(report, tmp_path / "out")
    assert set(paths) == {"json", "markdown", "html", "confusion", "folds", "reliability",
                          "risk_coverage"}  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["confusion.png", "cv_report.html", "cv_report.json", "cv_report.md",
                     "folds.png", "reliability.png", "risk_coverage.png"]  # fmt: skip
    loaded = json.loads(paths["json"].read_text())
    assert loaded["metrics"] == report["metrics"]
    for key in ("confusion", "folds", "reliability", "risk_coverage"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    for heading in ("## Scores", "## Calibration", "## Per class", "## Per fold",
                    "majority baseline", "calibration error (ECE)",
                    "![reliability diagram](reliability.png)", "## Abstaining",
                    "![risk-coverage curve](risk_coverage.png)",
                    "![scores per fold](folds.png)", "![confusion matrix](confusion.png)"):
        assert heading in md
    html = paths["html"].read_text()
    embedded = [b64.split("'")[0] for b64 in html.split("data:image/png;base64,")[1:]]
    assert [base64.b64decode(b) for b in embedded] == [paths["reliability"].read_bytes(),
                                                       paths["risk_coverage"].read_bytes(),
                                                       paths["folds"].read_bytes(),
                                                       paths["confusion"].read_bytes()]
    assert "<table>" in html and "src='confusion.png'" not in html  # self-contained
    # rewriting replaces, leaving no temp files
    write_reports(report, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names


def test_per_fold_mean_and_sd_in_markdown_and_html(report, tmp_path):
    paths = write_reports(report, tmp_path)
    md, html = paths["markdown"].read_text(), paths["html"].read_text()
    for key in ("ua", "wa", "macro_f1", "weighted_f1"):
        values = [f["metrics"][key] for f in report["folds"]]
        text = f"{100 * np.mean(values):.1f} ± {100 * np.std(values, ddof=1):.1f}"
        assert f"**{text}**" in md and text in html  # the per-fold table's summary row
    summary = fold_summary(report["folds"], ["ua"])["ua"]
    assert summary["n"] == 4 and summary["sd"] > 0
    assert "model (mean ± sd of 4 folds)" in md and "mean ± sd" in html
    for f in report["folds"]:  # one row per fold, each metric
        assert f"| {f['fold']} | {100 * f['metrics']['ua']:.1f} |" in md
    assert fold_summary(report["folds"][:1], ["ua"])["ua"]["sd"] is None


def test_html_has_no_markdown_syntax(report, tmp_path):
    broken = {**report, "data": {**report["data"], "n_failed": 1, "failed": [
        {"id": "s0_1", "block": "x", "message": "cannot decode <file>"}]}}  # fmt: skip
    html = write_reports(broken, tmp_path)["html"].read_text()
    assert "`" not in html and "**" not in html
    assert "<code>speaker</code>" in html and "<strong>group</strong>" in html
    assert "<code>s0_1</code> (x): cannot decode &lt;file&gt;" in html
    assert "`speaker`" in render_markdown(broken)  # Markdown keeps its own syntax


def test_random_alexnet_weights_are_stated_in_markdown_and_html(report, tmp_path):
    random = {"pretrained": False, "source": "random", "sha256": None, "seed": 7}
    features = {**report["features"], "audio": {
        "type": "alexnet", "options": {"layer": "fc7"}, "class": "AlexNetEmbedder",
        "weights_info": random}}  # fmt: skip
    alex = {**report, "features": features}
    paths = write_reports(alex, tmp_path)
    md, html = paths["markdown"].read_text(), paths["html"].read_text()
    assert "> **Note:** Feature block `audio` (AlexNetEmbedder) uses **random AlexNet weights**" \
        in md and "seed 7" in md
    assert "<strong>random AlexNet weights</strong>" in html and "class='note'" in html
    assert "**random** (seed 7)" in md  # the feature-block table says it too
    # a pretrained block gets no note
    pretrained = {**random, "pretrained": True, "source": "/w/alexnet.pth", "sha256": "ab" * 32,
                  "seed": None}  # fmt: skip
    features["audio"]["weights_info"] = pretrained
    md = render_markdown({**report, "features": features})
    assert "random AlexNet" not in md and "pretrained (alexnet.pth, sha256 abababababab…)" in md
    # the fine-tuned AlexNet classifier, trained from random weights
    spec = {**report["spec"], "classifier": {"name": "alexnet", "seed": 3}}
    html = render_html({**report, "spec": spec})
    assert "AlexNet classifier (<code>classifier</code>) is trained from <strong>random " \
        "weights</strong>" in html and "seed 3" in html


def test_write_reports_leaves_the_matplotlib_backend_alone(report, tmp_path):
    """The user's backend stays set and pyplot is never imported (a subprocess: other tests
    may have imported pyplot already)."""
    import subprocess
    import sys

    (tmp_path / "r.json").write_text(json.dumps(report))
    code = f"""
import json, sys, matplotlib
matplotlib.use("svg")
from emoclassic.evaluation import write_reports
write_reports(json.load(open({str(tmp_path / "r.json")!r})), {str(tmp_path / "out")!r})
assert "matplotlib.pyplot" not in sys.modules
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "folds.png").is_file()
    assert (tmp_path / "out" / "reliability.png").is_file()


def test_reports_keep_the_backend_in_process(report, tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    write_reports(report, tmp_path)
    assert matplotlib.get_backend() == before


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


def test_plot_folds_returns_png(report, tmp_path):
    png = plot_folds(report["folds"], chance=1 / 3, path=tmp_path / "f.png")
    assert png[:4] == b"\x89PNG" and (tmp_path / "f.png").read_bytes() == png
    many = [{**report["folds"][0], "fold": k, "test_groups": [f"s{k}"]} for k in range(24)]
    assert plot_folds(many)[:4] == b"\x89PNG"  # LOSO-sized: labels rotate, nothing raises
