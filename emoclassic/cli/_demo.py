"""``emoclassic demo``: the generated corpus through the main job, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import EXIT_OK, _examples, app
from ._options import DEFAULT_OUT, RunArgs, shared_options
from ._output import _say


@app.command(epilog=_examples("emoclassic demo --out artifacts/demo --jobs 2"))
@shared_options("jobs", "progress")
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.", metavar="DIR")] = DEFAULT_OUT
    / "demo",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the generated corpus.")] = 0,
    speakers: Annotated[int, typer.Option(min=3, help="Speakers in the generated corpus.")] = 8,
    per_class: Annotated[
        int, typer.Option(min=2, help="Utterances per speaker and class.")
    ] = 12,
    *,
    run: RunArgs,
) -> int:
    """Generate the demo corpus and run the main job on it end to end.

    Writes the corpus, a fused pipeline's grid-search CV with modality ablation (reports and
    plots), the final model with its model card, a spectrogram example and a prediction.
    """
    from ..demo import run_demo

    _say(f"running the demo into {out} ...")
    paths = run_demo(out, seed=seed, n_jobs=run.jobs, n_speakers=speakers,
                     n_per_class=per_class, progress=run.bars)
    summary = paths.get("summary") if isinstance(paths, dict) else None
    if summary:
        typer.echo(summary)
    for key, value in paths.items():
        if key != "summary":
            typer.echo(f"{key:>18}: {value}")
    return EXIT_OK
