"""The options commands share are declared once (emoclassic/cli/_options.py) and come out the
same on every command that has them."""

from __future__ import annotations

import pytest
import typer

from emoclassic.cli import app
from emoclassic.cli._options import DataArgs, RunArgs, cache_folder, shared_options
from emoclassic.exceptions import DataError

DATA_OPTIONS = ("--manifest", "--corpus", "--label-column", "--text-column", "--path-column",
                "--speaker-column")


def _options(command) -> dict[str, object]:
    return {p.opts[0]: p for p in command.params if p.opts and p.opts[0].startswith("--")}


def test_shared_options_are_alike_on_every_command():
    commands = typer.main.get_command(app).commands
    with_data = [c for c in commands.values() if "--manifest" in _options(c)]
    assert sorted(c.name for c in with_data) == ["cv", "features", "fit", "predict", "score",
                                                 "suggest"]
    for name in ("--quiet", "--debug", *DATA_OPTIONS, "--jobs", "--format", "--progress"):
        found = [_options(c)[name] for c in commands.values() if name in _options(c)]
        assert len({(tuple(p.opts), p.help, p.metavar, repr(p.default)) for p in found}) == 1
    for command in with_data:  # the columns come last, before --quiet/--debug
        names = [p.name for p in command.params if p.name != "help"]
        assert names[-6:] == ["label_column", "text_column", "path_column", "speaker_column",
                              "quiet", "debug"]


def test_shared_options_checks_its_arguments():
    with pytest.raises(ValueError, match="unknown shared options"):
        shared_options("nope")

    def no_run(quiet: bool = False) -> int:
        return 0

    with pytest.raises(TypeError, match="takes `run`"):
        shared_options()(no_run)


def test_the_command_gets_the_groups_as_dataclasses():
    seen = {}

    @shared_options("jobs", "cache")
    def command(name: str, data: DataArgs, *, run: RunArgs) -> int:
        seen.update(name=name, data=data, run=run)
        return 0

    params = list(command.__signature__.parameters)
    assert params == ["name", "manifest", "corpus", "label_map", "classes", "jobs", "cache",
                      "label_column",
                      "text_column", "path_column", "speaker_column", "quiet", "debug"]
    defaults = {n: p.default for n, p in command.__signature__.parameters.items()
                if n != "name"}
    assert command(name="x", **{**defaults, "cache": "none", "jobs": 3}) == 0
    assert seen["data"] == DataArgs()
    assert (seen["run"].jobs, seen["run"].cache_dir, seen["run"].bars) == (3, None, False)


def test_cache_folder():
    assert cache_folder(None) is None and cache_folder(" None ") is None
    assert cache_folder("") is None and cache_folder("off") is None
    assert cache_folder("artifacts/cache") == "artifacts/cache"


def test_empty_manifest_is_a_data_error(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n")
    with pytest.raises(DataError):
        DataArgs(manifest=manifest).load()
