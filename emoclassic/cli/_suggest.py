"""``emoclassic suggest``: which unlabelled utterances to annotate next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import _examples, app
from ._options import DataArgs, ExtraOpt, ModelOpt, RunArgs, Trust, extra_files, shared_options
from ._output import _finish, _say, _tell

STRATEGY_HELP = ("margin (smallest top-1 minus top-2 probability first), entropy (largest "
                 "first), random, or diverse (uncertain items spread over the model's feature "
                 "space).")


@app.command(
    epilog=_examples(
        "emoclassic suggest --model artifacts/demo/model.joblib "
        "--manifest artifacts/demo/corpus/manifest.csv --n 20 --out artifacts/picks.csv",
        "emoclassic suggest --model model.joblib recordings/ --n 50 --strategy diverse "
        "--out picks.csv",
    )
)
@shared_options("jobs", "cache", "progress")
def suggest(
    model: ModelOpt,
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Unlabelled audio files or folders (searched recursively).",
                       metavar="FILE|DIR..."),
    ] = None,
    *,
    data: DataArgs,
    n: Annotated[int, typer.Option("--n", "-n", help="How many utterances to suggest.")] = 50,
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP,
                                          metavar="margin|entropy|random|diverse")] = "margin",
    seed: Annotated[int, typer.Option(help="Seed of the random and diverse strategies.")] = 0,
    out: Annotated[Path, typer.Option(help="The picks (CSV, a manifest for `predict`); a page "
                                      "to listen to them is written beside it (.html).",
                                      metavar="PICKS.csv")] = Path("artifacts/picks.csv"),
    extra: ExtraOpt = None,
    trust: Trust = False,
    run: RunArgs,
) -> int:
    """Rank unlabelled utterances by how much their label would help the model: the ones to
    annotate next.

    The pool needs no label column. The picks CSV holds id, path, text, rank, score,
    predicted_label and second_label (the model's guesses, never a `label` column) and the
    columns `predict` reads; the page beside it plays them in order. Items that cannot be
    read are listed on stderr and skipped (exit 1).
    """
    from ..active._page import check_out, page_path
    from ..active._strategies import check_request
    from ..exceptions import ConfigError

    n, strategy = check_request(n, strategy)  # bad options fail before the model is loaded
    out = check_out(out)
    extras = extra_files(extra)
    if data.given and inputs:
        raise ConfigError("give FILE|DIR arguments or --manifest/--corpus, not both")
    if not data.given and not inputs:
        raise ConfigError("no pool given: pass --manifest POOL.csv, --corpus NAME:DIR or "
                          "FILE|DIR arguments of unlabelled utterances")

    from ..active import suggest as rank_pool
    from ..active import write_picks
    from ..artifacts import check_writable
    from ..data import prediction_inputs

    check_writable(out)
    check_writable(page_path(out))
    rows = prediction_inputs(data.load(require_labels=False, check_files=False)
                             if data.given else inputs)  # fmt: skip
    _say(f"ranking {len(rows)} item(s) with {model.name} ({strategy}) ...")
    picks = rank_pool(model, rows, n=n, strategy=strategy, seed=seed, cache=run.cache_dir,
                      n_jobs=run.jobs, progress=run.bars, extra=extras, trust=trust)
    paths = write_picks(picks, out)
    typer.echo(_picks_table(picks))
    _tell(f"wrote {paths['picks']} ({len(picks)} of {picks.attrs.get('n_pool')} item(s)) and "
          f"{paths['page']}")
    return _finish(picks.attrs.get("failures") or [], len(picks))


def _picks_table(picks) -> str:
    width = min(48, max([len("id")] + [len(str(i)) for i in picks["id"]]))
    score = picks.attrs.get("score", "score")
    lines = [f"{'rank':>4}  {'id':<{width}}  {'predicted':<12}{'second':<12}{score:>8}"]
    for row in picks.itertuples(index=False):
        ident = str(row.id)
        ident = ident if len(ident) <= width else "..." + ident[-(width - 3):]
        lines.append(f"{row.rank:>4}  {ident:<{width}}  {str(row.predicted_label):<12}"
                     f"{str(row.second_label):<12}{row.score:>8.3f}")
    return "\n".join(lines)
