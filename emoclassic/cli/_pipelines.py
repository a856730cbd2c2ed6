"""``emoclassic pipelines``: the shipped pipeline specs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import EXIT_OK, _examples, app
from ._options import RunArgs, shared_options
from ._output import _print_csv, _print_json

Show = Annotated[
    str | None,
    typer.Option(help="Print this shipped spec's TOML (to copy and edit).", metavar="NAME"),
]


@app.command(
    epilog=_examples(
        "emoclassic pipelines",
        "emoclassic pipelines --format json",
        "emoclassic pipelines --show recommended-audio > my-audio.toml",
    )
)
@shared_options("fmt")
def pipelines(show: Show = None, *, run: RunArgs) -> int:
    """List the pipeline specs that ship with emoclassic: name, description, measured figures.

    Any command's `--pipeline` takes one of these names or a path to your own .toml file.
    """
    from ..spec import load_spec, shipped_specs

    if show is not None:
        spec = load_spec(show)  # a name or a path; errors list the shipped names
        typer.echo(Path(spec.source or show).read_text(encoding="utf-8"), nl=False)
        return EXIT_OK
    specs = shipped_specs()
    if run.fmt == "json":
        _print_json({"pipelines": [s.to_dict() for s in specs]})
    elif run.fmt == "csv":
        _print_csv(["name", "description", "measured", "path"],
                   [[s.name, s.description, s.measured, str(s.path)] for s in specs])
    else:
        width = max(len(s.name) for s in specs)
        lines = []
        for s in specs:
            lines.append(f"{s.name:<{width}}  {s.description}")
            if s.measured:
                lines.append(f"{'':<{width}}  measured: {s.measured}")
        lines.append(f"\n{len(specs)} specs in {specs[0].path.parent}; use a name or your own "
                     "file with --pipeline (emoclassic pipelines --show NAME prints one)")
        typer.echo("\n".join(lines))
    return EXIT_OK
