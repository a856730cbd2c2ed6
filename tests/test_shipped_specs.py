"""Shipped specs: package data addressed by name, one source with the repository's pipelines/."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoclassic.exceptions import ConfigError
from emoclassic.spec import load_spec, resolve_spec, shipped_spec_path, shipped_specs

REPO = Path(__file__).resolve().parents[1]


def test_every_shipped_spec_loads_and_has_a_description():
    specs = shipped_specs()
    names = [s.name for s in specs]
    assert {"demo", "recommended-audio", "recommended-text", "recommended-fusion"} <= set(names)
    for s in specs:
        assert s.path.stem == s.name, f"{s.path}: name must equal the file name"
        assert s.description and "\n" not in s.description
        spec = load_spec(s.name)
        assert spec.name == s.name and spec.measured == s.measured


def test_recommended_specs_state_measured_figures():
    measured = {s.name: s.measured for s in shipped_specs()}
    for name in ("recommended-audio", "recommended-audio-speaker-norm", "recommended-text",
                 "recommended-fusion", "demo"):
        assert any(ch.isdigit() for ch in measured[name]), name


def test_repository_pipelines_folder_is_the_package_copy():
    repo = REPO / "pipelines"
    if not repo.exists():
        pytest.skip("not a source checkout")
    package = {p.name: p.read_bytes() for p in shipped_specs()[0].path.parent.glob("*.toml")}
    here = {p.name: p.read_bytes() for p in repo.glob("*.toml")}
    assert here == package, "pipelines/ and emoclassic/pipelines/ differ: keep one source"


def test_name_path_and_suffix_resolve_to_the_same_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no pipelines/ folder here: the name must still work
    by_name = resolve_spec("demo")
    assert by_name == resolve_spec("demo.toml") == shipped_spec_path("demo")
    assert load_spec(str(by_name)).to_dict() == load_spec("demo").to_dict()


def test_an_existing_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("demo").write_text('name = "mine"\n[features.t]\ntype = "text"\n'
                            '[classifier]\nname = "logreg"\n')
    assert load_spec("demo").name == "mine"


def test_unknown_name_lists_the_shipped_ones_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_spec("no-such-spec")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path) in msg and "recommended-audio" in msg
    for bad in ("../demo", "", ".hidden"):
        assert shipped_spec_path(bad) is None
