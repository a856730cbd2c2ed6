"""``benchmarks/quality/cross_corpus.py --smoke`` and ``recommended-cross-corpus`` under the
train-on/test-on protocol: two pseudo-corpora cut from a generated demo corpus (different
speakers), each direction through ``run_cv(..., test_sets=...)``."""

from __future__ import annotations

import importlib.util
import json
import logging
import warnings
from pathlib import Path

import pytest

from emoclassic.fusion import build_pipeline
from emoclassic.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "quality" / "cross_corpus.py"


@pytest.fixture(autouse=True)
def _logging_as_before():
    """The script's ``main`` configures logging for a terminal (root handler, the package's
    loggers quieted); later tests read the package's warnings with caplog."""
    root, package = logging.getLogger(), logging.getLogger("emoclassic")
    handlers, level = list(root.handlers), package.level
    yield
    root.handlers[:] = handlers
    package.setLevel(level)


@pytest.fixture(scope="module")
def bench():
    if not SCRIPT.is_file():
        pytest.skip("not a source checkout")
    spec = importlib.util.spec_from_file_location("bench_cross_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cross_corpus_spec_parses_builds_and_adapts():
    spec = load_spec("recommended-cross-corpus")
    assert spec.name == "recommended-cross-corpus" and spec.measured
    assert spec.to_dict()["normalization"] == "speaker"
    assert spec.to_dict()["adaptation"] == "coral"
    build_pipeline(spec)


def test_smoke_mode_runs_both_directions_and_writes_the_table(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench.bench, "workdir", lambda prefix="": _keep(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bench.main(["--smoke", "--systems", "anchor,recommended-cross-corpus",
                           "--options", "none"]) == 0  # fmt: skip
    rows = json.loads((tmp_path / "rows.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) and "rows" in rows else rows
    cells = {(r["system"], r["option"], r["source"], r["target"]) for r in rows}
    assert cells == {("anchor", "none", "demoa", "demob"), ("anchor", "none", "demob", "demoa"),
                     ("recommended-cross-corpus", "as shipped", "demoa", "demob"),
                     ("recommended-cross-corpus", "as shipped", "demob", "demoa")}  # fmt: skip
    for r in rows:
        assert 0.0 <= r["cross"]["ua"] <= 1.0 and 0.0 <= r["in_corpus"]["ua"] <= 1.0
        assert r["n_test"] > 0
    shipped = [r for r in rows if r["system"] == "recommended-cross-corpus"]
    assert all(r["protocol"] == {"normalization": "speaker", "adaptation": "coral"}
               for r in shipped)  # fmt: skip
    docs = (tmp_path / "benchmarks.md").read_text()
    assert "## Quality: across corpora" in docs and "demoa → demob UA" in docs


class _keep:
    """``bench.workdir`` that keeps the folder (the test reads what the run wrote)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        return None
