"""One CLI grammar: --format table|json|csv on every command that prints results, progress
bars only for a person at a terminal, help printed once, completion, paths in errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from emoclassic.cli import POOLED_PRESETS, _output, app
from emoclassic.data import make_demo_corpus

SPEC = """
name = "tiny"
[features.audio]
type = "pooled"
preset = "compact"
[classifier]
name = "logreg"
[cv]
scheme = "group"
n_splits = 3
"""


def run(*args) -> SimpleNamespace:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return SimpleNamespace(code=result.exit_code, out=result.stdout, err=result.stderr)


def cli(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    """The real console entry point in a child process (stdout/stderr are pipes, not ttys)."""
    return subprocess.run([sys.executable, "-m", "emoclassic.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmt")
    make_demo_corpus(root / "corpus", n_speakers=3, n_per_class=3, seed=5)
    (root / "tiny.toml").write_text(SPEC)
    cache = root / "cache"
    manifest = root / "corpus" / "manifest.csv"
    model = root / "tiny.joblib"
    res = run("fit", "--manifest", manifest, "--pipeline", root / "tiny.toml", "--out", model,
              "--cache", cache, "-q")
    assert res.code == 0, res.err
    return SimpleNamespace(root=root, manifest=manifest, cache=cache, model=model,
                           spec=root / "tiny.toml")


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --------------------------------------------------------------------------- --format
def test_pipelines_in_every_format():
    res = run("pipelines")
    assert res.code == 0 and "recommended-audio" in res.out and "measured:" in res.out
    doc = json.loads(run("pipelines", "--format", "json").out)
    names = [p["name"] for p in doc["pipelines"]]
    assert "recommended-audio" in names
    assert set(doc["pipelines"][0]) == {"name", "description", "measured", "path"}
    rows = _csv(run("pipelines", "-f", "csv").out)
    assert [r["name"] for r in rows] == names
    shown = run("pipelines", "--show", "demo")
    assert shown.code == 0 and 'name = "demo"' in shown.out


def test_cv_json_is_exactly_the_report(env, tmp_path):
    res = run("cv", "--manifest", env.manifest, "--pipeline", env.spec, "--out", tmp_path / "cv",
              "--cache", env.cache, "--format", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)  # the whole of stdout is one JSON document
    assert doc == json.loads((tmp_path / "cv" / "cv_report.json").read_text())
    assert 0 <= doc["metrics"]["ua"] <= 1
    assert "cv_report.html" in res.err  # the files written are said on stderr
    res = run("cv", "--manifest", env.manifest, "--pipeline", env.spec, "--out", tmp_path / "c2",
              "--cache", env.cache, "--format", "csv", "--ablation", "-q")
    rows = _csv(res.out)
    assert rows[0]["run"] == "tiny" and float(rows[0]["ua"]) == pytest.approx(
        doc["metrics"]["ua"], abs=1e-3)


def test_fit_json_is_the_model_card(env, tmp_path):
    model = tmp_path / "m.joblib"
    res = run("fit", "--manifest", env.manifest, "--pipeline", env.spec, "--out", model,
              "--cache", env.cache, "--format", "json", "-q")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    card = json.loads(model.with_suffix(".json").read_text())
    assert doc["sha256"] == card["sha256"] and doc["labels"] == card["labels"]
    assert doc["model_path"] == str(model)
    rows = _csv(run("fit", "--manifest", env.manifest, "--pipeline", env.spec, "--out", model,
                    "--cache", env.cache, "--format", "csv", "-q").out)
    assert rows[0]["labels"].split(";") == card["labels"]


def test_score_json_equals_its_out_file(env, tmp_path):
    out = tmp_path / "score.json"
    res = run("score", "--model", env.model, "--manifest", env.manifest, "--out", out,
              "--cache", env.cache, "--format", "json", "-q")
    assert res.code == 0, res.err
    assert json.loads(res.out) == json.loads(out.read_text())
    rows = _csv(run("score", "--model", env.model, "--manifest", env.manifest,
                    "--cache", env.cache, "-f", "csv", "-q").out)
    assert float(rows[0]["ua"]) == pytest.approx(json.loads(out.read_text())["metrics"]["ua"],
                                                 abs=1e-3)


def test_info_json_and_its_alias(env):
    a = json.loads(run("info", env.model, "--format", "json").out)
    b = json.loads(run("info", env.model, "--json").out)
    assert a == b and a["sha256_ok"] is True
    rows = {r["field"]: r["value"] for r in _csv(run("info", env.model, "-f", "csv").out)}
    assert rows["sha256"] == a["sha256"]


def test_features_json_and_csv(env, tmp_path):
    out = tmp_path / "f.npz"
    res = run("features", "--manifest", env.manifest, "--out", out, "--cache", env.cache,
              "--preset", "compact", "--format", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["n_items"] == 36 and doc["n_features"] > 0 and doc["failed"] == []
    assert doc["out"] == str(out) and "wrote" in res.err
    rows = _csv(run("features", "--manifest", env.manifest, "--out", out, "--cache", env.cache,
                    "--preset", "compact", "-f", "csv", "-q").out)
    assert rows[0]["n_items"] == "36"


def test_unknown_format_is_one_line():
    res = run("pipelines", "--format", "yaml")
    assert res.code == 2 and res.err.strip() == "error: --format 'yaml': choose table, json or csv"


# --------------------------------------------------------------------------- progress
def test_progress_only_for_a_person_at_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert _output("table") is True
    assert _output("json") is False and _output("csv") is False
    assert _output("json", True) is True  # asked for
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # redirected to a file or a pipe
    assert _output("table") is False
    assert _output("table", True) is True


def test_redirected_stderr_gets_no_bars(env, tmp_path):
    res = cli("features", "--manifest", env.manifest, "--out", tmp_path / "a.npz",
              "--cache", "none", "--preset", "compact")
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr and "it/s" not in res.stderr and "clip" not in res.stderr
    res = cli("features", "--manifest", env.manifest, "--out", tmp_path / "b.npz",
              "--cache", "none", "--preset", "compact", "--format", "json", "--progress")
    assert res.returncode == 0
    json.loads(res.stdout)  # bars never reach stdout
    assert "PooledFeatures" in res.stderr  # but were drawn on stderr, as asked


# --------------------------------------------------------------------------- help etc.
def test_bare_command_prints_the_help_once():
    res = cli()
    assert res.returncode == 0
    assert res.stdout.count("Usage:") == 1, res.stdout


def test_shell_completion_is_on():
    res = cli(env={"_EMOCLASSIC_COMPLETE": "complete_bash", "COMP_WORDS": "emoclassic pip",
                   "COMP_CWORD": "1"})
    assert res.stdout.split() == ["pipelines"]
    res = cli(env={"_EMOCLASSIC_COMPLETE": "complete_bash",
                   "COMP_WORDS": "emoclassic cv --pipeline recommended-t", "COMP_CWORD": "3"})
    assert res.stdout.split() == ["recommended-text"]


def test_preset_help_names_every_preset():
    from emoclassic.audio import PRESETS

    assert tuple(PRESETS) == POOLED_PRESETS
    res = run("features", "--help")
    flat = " ".join(res.out.replace("│", " ").split())
    for name in POOLED_PRESETS:
        assert name in flat, name


def test_errors_name_the_folder_a_relative_path_resolved_against(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    Path("sub/m.csv").write_text("path,label\na.wav,anger\n")
    res = run("cv", "--manifest", "sub/nope.csv", "--pipeline", "demo")
    assert res.code == 2 and f"working folder {tmp_path}" in res.err
    res = run("cv", "--manifest", "sub/m.csv", "--pipeline", "demo")
    assert res.code == 2 and f"{tmp_path / 'sub'}, the manifest's folder" in res.err
    res = run("cv", "--manifest", "sub/m.csv", "--pipeline", "nope.toml")
    assert res.code == 2 and f"working folder {tmp_path}" in res.err
    assert "recommended-audio" in res.err
    res = run("cv", "--corpus", "emodb:nodir", "--pipeline", "demo")
    assert res.code == 2 and f"working folder {tmp_path}" in res.err


def test_features_set_opensmile(env, tmp_path):
    pytest.importorskip("opensmile")
    out = tmp_path / "gemaps.csv"
    res = run("features", "--manifest", env.manifest, "--set", "opensmile", "--out", out,
              "--cache", env.cache, "--format", "json", "-q")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["n_items"] == 36 and doc["n_features"] == 88  # eGeMAPSv02 functionals
    res = run("features", "--manifest", env.manifest, "--set", "opensmile", "--preset", "nope",
              "--out", out, "--cache", "none", "-q")
    assert res.code == 2 and "eGeMAPSv02" in res.err and len(res.err.strip().splitlines()) == 1
    res = run("features", "--manifest", env.manifest, "--set", "text", "--preset", "compact",
              "--out", out)
    assert res.code == 2 and "--preset applies to --set pooled or opensmile" in res.err


def test_cached_features_rerun_gives_the_same_file_without_scikit_learn(env, tmp_path):
    import numpy as np

    cache = tmp_path / "cache"
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    assert cli("features", "--manifest", env.manifest, "--cache", cache, "--out", first,
               "-q").returncode == 0
    code = ("import sys; from emoclassic.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
            "assert 'sklearn' not in sys.modules, 'the cached path imported scikit-learn'\n"
            "sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code, "features", "--manifest", str(env.manifest),
                          "--cache", str(cache), "--out", str(second), "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    a, b = np.load(first), np.load(second)
    np.testing.assert_array_equal(a["X"], b["X"])
    assert a["ids"].tolist() == b["ids"].tolist()
