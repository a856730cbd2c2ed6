"""Every example a user can copy works or names only things that exist.

Command lines in README.md, docs/*.md and the commands' --help epilogs are parsed by the real
CLI (the command, its options and their values must be accepted), every ``--pipeline`` value
must resolve (a shipped name or a file of the repository), and every repository path the text
names (``pipelines/*.toml``, ``docs/*.md``, ``benchmarks/*.py``...) must exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from emoclassic.cli import app
from emoclassic.spec import resolve_spec

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
STOP = {">", ">>", "|", "&&", ";", "2>", "&"}
#: files the examples tell the user to create or that earlier example steps write
USER_FILES = re.compile(r"^(my[\w-]*|new|big|clip|long_call)\b|^(artifacts|data|recordings)/")


def _code_lines(text: str) -> list[str]:
    """Lines inside fenced code blocks, with backslash continuations joined."""
    out, inside, pending = [], False, ""
    for line in text.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


def _commands(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        m = re.match(r"^\s*(?:\$\s*)?(?:\.venv/bin/)?emoclassic(\s.*)?$", line.split("#")[0])
        if m:
            found.append((m.group(1) or "").strip())
    return found


def _doc_examples() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for cmd in _commands(_code_lines(doc.read_text(encoding="utf-8"))):
            out.append((doc.relative_to(REPO).as_posix(), cmd))
    return out


def _help_examples() -> list[tuple[str, str]]:
    group = typer.main.get_command(app)
    out = []
    for name, command in group.commands.items():
        for cmd in _commands(_code_lines(command.epilog or "")):
            out.append((f"emoclassic {name} --help", cmd))
    return out


EXAMPLES = _doc_examples() + _help_examples()


def test_examples_were_found():
    where = {w for w, _ in EXAMPLES}
    assert "README.md" in where and "docs/cli.md" in where
    assert sum(w.endswith("--help") for w in where) >= 8  # every command has one


def _argv(cmd: str) -> list[str]:
    lexer = shlex.shlex(cmd, posix=True, punctuation_chars=";&|>")
    lexer.whitespace_split = True
    argv = []
    for token in lexer:
        if token in STOP or token.startswith(">"):
            break
        argv.append(token)
    return argv


@pytest.mark.parametrize(("where", "cmd"), EXAMPLES, ids=[f"{w}: {c[:60]}" for w, c in EXAMPLES])
def test_example_parses_and_names_existing_specs(where, cmd, monkeypatch):
    monkeypatch.chdir(REPO)  # docs speak from the repository root
    argv = _argv(cmd)
    group = typer.main.get_command(app)
    if "..." in argv:  # an elliptical sketch ("emoclassic fit ... --backend dask")
        argv = [a for a in argv if a != "..."]
        partial = True
    else:
        partial = False
    if not argv or argv[0].startswith("-"):  # top-level options only
        group.make_context("emoclassic", argv, resilient_parsing=True)
        return
    name = argv[0]
    command = group.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None, f"{where}: unknown command {name!r} in `{cmd}`"
    with group.make_context("emoclassic", [name], resilient_parsing=True) as parent:
        try:
            ctx = command.make_context(name, argv[1:], parent=parent,
                                       resilient_parsing=partial)
        except Exception as exc:  # a click usage error: wrong option or value
            pytest.fail(f"{where}: `emoclassic {cmd}` does not parse: {exc}")
    pipeline = ctx.params.get("pipeline")
    if pipeline and not USER_FILES.match(str(pipeline)):
        resolve_spec(pipeline)  # raises with the list of shipped names


#: illustrative names in the docs (error-message samples, placeholders), not files
ILLUSTRATIVE = {"pipelines/x.toml", "pipelines/NAME.toml"}
PATH_IN_TEXT = re.compile(
    r"(?<![\w/.-])((?:pipelines|docs|benchmarks|tests|emoclassic)/[\w./-]+\.(?:toml|md|py|png))"
)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_repository_paths_named_in_docs_exist(doc):
    missing = sorted({m for m in PATH_IN_TEXT.findall(doc.read_text(encoding="utf-8"))
                      if m not in ILLUSTRATIVE and not (REPO / m).exists()
                      and not (doc.parent / m).exists()})
    assert not missing, f"{doc.name} names files that do not exist: {missing}"
