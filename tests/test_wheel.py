"""The package as a user gets it: a wheel installed into a fresh folder, run from elsewhere.

Builds the wheel from a copy of the source (no build isolation, so no download), installs it
with ``pip install --no-deps --target`` (dependencies come from this environment), and runs
the console script from a folder outside the repository: the shipped specs must be there and
addressable by name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from emoclassic.data import make_demo_corpus

REPO = Path(__file__).resolve().parents[1]


def _pip(*args: str, cwd: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True,
                         text=True, env={**os.environ, "PIP_NO_INDEX": "1"})
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip("not a source checkout")
    pytest.importorskip("setuptools", minversion="77")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "emoclassic", src / "emoclassic",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), ".",
         cwd=src)
    (wheel,) = (root / "dist").glob("emoclassic-*.whl")
    target = root / "site"
    _pip("install", "--no-deps", "-q", "--target", str(target), str(wheel), cwd=root)
    return wheel, target


def _run(target: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    script = target / "bin" / "emoclassic"
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run([str(script), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env)


def test_wheel_ships_the_specs_and_licence(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "emoclassic/pipelines/recommended-audio.toml" in names
    assert "emoclassic/pipelines/demo.toml" in names
    assert "emoclassic/serve/page.html" in names  # the server's page is package data
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: BSD-3-Clause" in text
    assert "Classifier: License ::" not in text
    assert "Project-URL:" in text
    assert "xgboost-cpu>=2.1; sys_platform == \"linux\"" in text
    assert "xgboost>=2.1; sys_platform != \"linux\"" in text


def test_installed_cli_runs_named_specs_outside_the_repository(installed, tmp_path):
    _, target = installed
    elsewhere = tmp_path / "elsewhere"
    make_demo_corpus(elsewhere / "corpus", n_speakers=3, n_per_class=2, seed=1)
    where = subprocess.run(
        [sys.executable, "-c", "import emoclassic; print(emoclassic.__file__)"],
        cwd=elsewhere, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(target)},
    )
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr

    res = _run(target, "pipelines", "--format", "json", cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    listed = {p["name"]: p for p in json.loads(res.stdout)["pipelines"]}
    assert "recommended-audio" in listed
    assert listed["recommended-audio"]["path"].startswith(str(target))

    res = _run(target, "cv", "--pipeline", "recommended-audio", "--manifest",
               "corpus/manifest.csv", "--format", "json", "--cache", "none", "--out", "cv",
               cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["name"] == "recommended-audio" and 0.0 <= report["metrics"]["ua"] <= 1.0
    assert (elsewhere / "cv" / "cv_report.html").is_file()
