"""emoclassic's command line: a thin Typer face over the public API.

Every command is a few lines over the library; heavy packages (scikit-learn, torch, librosa)
are imported inside the commands, so ``emoclassic --help`` starts fast.

Exit codes: 0 success; 1 a batch finished but some items failed (they are listed); 2 a usage,
data, configuration or model error (one line on stderr naming the file or field and the fix;
``--debug`` shows the traceback).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .exceptions import EmoclassicError

__all__ = ["app", "main"]

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2
DEFAULT_OUT = Path("artifacts")
DEFAULT_CACHE = "artifacts/cache"

logger = logging.getLogger("emoclassic.cli")


class _State:
    """Global flags (set by the app callback or any command's own flags)."""

    debug = False
    quiet = False
    fmt = "table"


_STATE = _State()


# --------------------------------------------------------------------------- error handling
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str) -> None:
    typer.echo(f"error: {_one_line(message)}", err=True)


def _os_error_message(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or type(exc).__name__
    fixes = {
        FileNotFoundError: "check the path",
        PermissionError: "check the file's permissions or choose another location",
        IsADirectoryError: "give a file, not a folder",
        NotADirectoryError: "give a folder, not a file",
    }
    fix = next((f for t, f in fixes.items() if isinstance(exc, t)), "check the path")
    return f"{name}: {reason}; {fix}" if name else f"{reason}; {fix}"


def _click_exceptions():
    """Click's exception module: vendored inside recent typer, a dependency of older ones."""
    try:
        from typer._click import exceptions
    except ImportError:  # typer < 0.2x depends on click itself
        from click import exceptions
    return exceptions


class _Group(TyperGroup):
    """Runs commands with emoclassic's error policy: one line, exit 2, traceback on --debug."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        cx = _click_exceptions()
        argv = list(sys.argv[1:] if args is None else args)
        _STATE.debug = "--debug" in argv
        _STATE.quiet = "--quiet" in argv or "-q" in argv
        code = EXIT_OK
        saved_logging = _save_logging()
        try:
            rv = super().main(
                args=argv,
                prog_name=prog_name or "emoclassic",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = rv if isinstance(rv, int) else EXIT_OK
        except cx.NoArgsIsHelpError as exc:
            # With rich installed, building the help (in the exception) already printed it;
            # the message is then empty. Without rich it is the help text, printed here once.
            if exc.format_message().strip():
                typer.echo(exc.format_message())
            code = EXIT_OK
        except cx.UsageError as exc:
            hint = ""
            if exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            _error(f"{exc.format_message()}{hint}")
            code = EXIT_ERROR
        except cx.ClickException as exc:
            _error(exc.format_message())
            code = exc.exit_code
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("aborted", err=True)
            code = 130
        except EmoclassicError as exc:
            if _STATE.debug:
                traceback.print_exc()
            _error(str(exc))
            code = EXIT_ERROR
        except BrokenPipeError:  # `emoclassic predict ... | head`: the reader left
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
            code = EXIT_PARTIAL
        except OSError as exc:
            if _STATE.debug:
                traceback.print_exc()
            _error(_os_error_message(exc))
            code = EXIT_ERROR
        except Exception as exc:  # noqa: BLE001 - the CLI must never dump a raw traceback
            if _STATE.debug:
                traceback.print_exc()
            first = str(exc).splitlines()[0] if str(exc) else ""
            _error(
                f"{type(exc).__name__}: {first} (unexpected; rerun with --debug for the "
                "traceback and report it if the input looks right)"
            )
            code = EXIT_ERROR
        finally:
            _restore_logging(saved_logging)
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=_Group,
    name="emoclassic",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _examples(*commands: str) -> str:
    """A help epilog showing example command lines verbatim."""
    body = "\n".join(commands)
    return f"**Example{'s' if len(commands) > 1 else ''}**\n\n```\n{body}\n```"


# --------------------------------------------------------------------------- shared options
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]
Trust = Annotated[
    bool,
    typer.Option(
        "--trust",
        help="Load a model without its manifest or from another scikit-learn release. "
        "A .joblib runs code when loaded: only for files you trust.",
    ),
]
ManifestOpt = Annotated[
    Path | None,
    typer.Option("--manifest", "-m", help="Manifest file (.csv, .tsv, .jsonl).", metavar="M"),
]
CorpusOpt = Annotated[
    str | None,
    typer.Option("--corpus", help="A corpus folder as NAME:DIR, e.g. emodb:data/emodb; "
                 "reader options in brackets: iemocap[classes=6]:DIR.",
                 metavar="NAME:DIR"),
]
LabelCol = Annotated[str, typer.Option(help="Manifest column holding the labels.")]
TextCol = Annotated[str, typer.Option(help="Manifest column holding the transcripts.")]
PathCol = Annotated[str, typer.Option(help="Manifest column holding the audio paths.")]
SpeakerCol = Annotated[str, typer.Option(help="Manifest column holding the speaker ids.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel worker processes.")]
CacheOpt = Annotated[
    str,
    typer.Option(help="Feature cache folder ('none' disables caching).", metavar="DIR"),
]
def _complete_pipeline(incomplete: str) -> list[str]:
    """Shell completion of --pipeline: the shipped spec names (files complete as usual)."""
    from .spec import shipped_specs

    return [s.name for s in shipped_specs() if s.name.startswith(incomplete)]


PipelineOpt = Annotated[
    str,
    typer.Option("--pipeline", "-p", help="A shipped spec's name (see `emoclassic pipelines`) "
                 "or your own .toml spec file.", metavar="NAME|FILE",
                 autocompletion=_complete_pipeline),
]
BackendOpt = Annotated[
    str,
    typer.Option("--backend", help="Where parallel work runs: local (processes here) or dask "
                 "(a Dask cluster; see docs/scaling.md).", metavar="local|dask"),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address (tcp://HOST:8786) or scheduler "
                 "JSON file; without it --backend dask starts a local cluster of --jobs "
                 "workers.", metavar="ADDRESS"),
]
FORMATS = ("table", "json", "csv")
Format = Annotated[
    str,
    typer.Option("--format", "-f", help="What stdout holds: table (for people), json (one "
                 "JSON document; schemas in docs/cli.md) or csv. Files written with --out "
                 "keep the format of their suffix.", metavar="table|json|csv"),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bars on stderr (default: only "
                 "when stderr is a terminal and --format is table).", show_default=False),
]
ModelOpt = Annotated[
    Path, typer.Option("--model", help="Model file written by `emoclassic fit`.", metavar="MODEL")
]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    _emoclassic_cli = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


_LOGGERS = ("emoclassic", "emoclassic.features")


class _Seen(logging.Filter):
    """Remembers what was logged, so a warning the library also logged is not shown twice."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.append(record.getMessage())
        return True


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings as one log line (not file:line + source), skipping ones already logged."""
    text = _one_line(str(message))
    seen = next(
        (f for h in logging.getLogger("emoclassic").handlers for f in h.filters
         if isinstance(f, _Seen)),
        None,
    )
    if seen is not None and any(text in m or m in text for m in seen.messages[-200:]):
        return
    prefix = "" if category is UserWarning else f"{category.__name__}: "
    logging.getLogger("emoclassic.cli").warning("%s%s", prefix, text)


def _save_logging():
    import warnings

    state = [(lg, lg.level, list(lg.handlers)) for lg in map(logging.getLogger, _LOGGERS)]
    return state, warnings.showwarning


def _restore_logging(saved) -> None:
    """Leave the process's logging as it was (the CLI may run inside another program)."""
    import warnings

    state, showwarning = saved
    for lg, level, handlers in state:
        lg.setLevel(level)
        lg.handlers[:] = handlers
    warnings.showwarning = showwarning


def _setup(quiet: bool = False, debug: bool = False) -> None:
    """Route library logs to stderr at the level the flags ask for (undone after the command)."""
    _STATE.quiet = _STATE.quiet or quiet
    _STATE.debug = _STATE.debug or debug
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    root = logging.getLogger("emoclassic")
    if not any(getattr(h, "_emoclassic_cli", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler.addFilter(_Seen())
        root.addHandler(handler)
        import warnings

        warnings.showwarning = _show_warning
    if _STATE.debug:
        root.setLevel(logging.DEBUG)
    elif _STATE.quiet:
        root.setLevel(logging.ERROR)
    else:
        root.setLevel(logging.WARNING)
    # Commands list failed items themselves; the extractors' per-item warnings would repeat them.
    logging.getLogger("emoclassic.features").setLevel(
        logging.DEBUG if _STATE.debug else logging.ERROR
    )


def _output(fmt: str, progress: bool | None = None) -> bool:
    """Check ``--format`` and decide whether progress bars are drawn.

    Bars are for a person watching a terminal: not when stderr is redirected to a log, and
    not in json/csv runs, whose consumer is a program, unless ``--progress`` asks for them.
    """
    from .exceptions import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose table, json or csv")
    _STATE.fmt = fmt
    if progress is not None:
        return progress
    if _STATE.quiet or fmt != "table":
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _print_json(document: Any) -> None:
    """Stdout as exactly one JSON document (NaN written as null)."""
    from .artifacts import _jsonable

    typer.echo(json.dumps(_jsonable(document), indent=2, ensure_ascii=False, allow_nan=False))


def _print_csv(header: list[str], rows: list[list[Any]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else (_fmt(v) if isinstance(v, float) else v)
                         for v in row])
    typer.echo(buf.getvalue(), nl=False)


def _tell(message: str) -> None:
    """A result line for people: stdout in table runs, stderr (unless -q) in json/csv runs."""
    if _STATE.fmt == "table":
        typer.echo(message)
    else:
        _say(message)


def _say(message: str) -> None:
    """Progress and summaries on stderr (stdout stays machine-readable)."""
    if not _STATE.quiet:
        typer.echo(message, err=True)


def _cache(cache: str) -> str | None:
    return None if cache.strip().lower() in ("", "none", "off", "no") else cache


def _data(
    manifest: Path | None,
    corpus: str | None,
    *,
    label_column: str = "label",
    text_column: str = "text",
    path_column: str = "path",
    speaker_column: str = "speaker",
    require_labels: bool = True,
    check_files: bool = True,
):
    """The rows of ``--manifest`` or ``--corpus``. ``check_files=False`` leaves missing audio
    files to the batch (listed as failed items) instead of refusing the whole manifest."""
    from .data import load_manifest_or_corpus

    options: dict[str, Any] = {}
    if manifest is not None:
        options = {
            "label_column": label_column,
            "text_column": text_column,
            "path_column": path_column,
            "group_column": speaker_column,
            "require_labels": require_labels,
            "check_files": check_files,
        }
    frame = load_manifest_or_corpus(manifest=manifest, corpus=corpus, **options)
    if not len(frame):
        from .exceptions import DataError

        raise DataError(f"{manifest or corpus}: no utterances; check the manifest or the folder")
    return frame


def _failure_parts(f: Any) -> tuple[str, str, str | None]:
    """``(id, message, path)`` of a Failure record (or its dict form)."""
    if hasattr(f, "to_dict"):
        f = f.to_dict()
    if isinstance(f, dict):
        msg = f.get("error") or f.get("message") or ""
        if f.get("block"):
            msg = f"[{f['block']}] {msg}"
        return str(f.get("id")), _one_line(msg), f.get("path")
    return str(f[0]), _one_line(f[1]), None


def _failure_record(f: Any) -> dict[str, str | None]:
    """A failed item for JSON output: ``{"id", "path", "error"}`` (the predict schema)."""
    item, msg, path = _failure_parts(f)
    return {"id": item, "path": path, "error": msg}


def _list_failures(failures: list, *, limit: int = 50) -> None:
    """Print failed items on stderr, one per line (``id: message``)."""
    if not failures:
        return
    typer.echo(f"{len(failures)} item(s) failed:", err=True)
    for k, f in enumerate(failures):
        if k == limit:
            typer.echo(f"  ... and {len(failures) - limit} more", err=True)
            break
        item, msg, path = _failure_parts(f)
        for prefix in (path, item):
            if prefix and msg.startswith(f"{prefix}: "):
                msg = msg[len(prefix) + 2:]
                break
        typer.echo(f"  {item}: {msg}", err=True)


def _finish(failures: list, n_ok: int) -> int:
    """Report failed items and choose the exit code (1: some failed; 2: nothing worked)."""
    if not failures:
        return EXIT_OK
    if n_ok == 0 and len(failures) == 1:  # a single input: a plain one-line error
        item, msg, path = _failure_parts(failures[0])
        named = item in msg or (path is not None and path in msg)
        _error(msg if named else f"{item}: {msg}")
        return EXIT_ERROR
    _list_failures(failures)
    if n_ok == 0:
        _error(f"all {len(failures)} items failed (listed above); nothing was produced")
        return EXIT_ERROR
    return EXIT_PARTIAL


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


_HEADLINE = ("ua", "wa", "macro_f1", "weighted_f1")


def _headline(metrics: dict | None) -> str:
    """``ua=0.812 wa=0.800 macro_f1=0.790 ...`` from a metrics dict (means when nested)."""
    if not isinstance(metrics, dict):
        return ""
    parts = []
    for key in ("ua", "wa", "macro_f1", "weighted_f1"):
        value = metrics.get(key)
        if isinstance(value, dict):
            value = value.get("mean")
        if isinstance(value, (int, float)):
            parts.append(f"{key}={_fmt(float(value))}")
    return " ".join(parts)


# --------------------------------------------------------------------------- callback
def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"emoclassic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: Quiet = False,
    debug: Debug = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Speech emotion recognition by fusing audio and transcripts with classical ML.

    Start with `emoclassic demo`; then `cv`, `fit` and `predict` on your own data.
    Exit codes: 0 ok, 1 some items of a batch failed (listed), 2 usage or data error.
    """
    _setup(quiet, debug)


# --------------------------------------------------------------------------- demo
@app.command(epilog=_examples("emoclassic demo --out artifacts/demo --jobs 2"))
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.", metavar="DIR")] = DEFAULT_OUT
    / "demo",
    jobs: Jobs = 1,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the generated corpus.")] = 0,
    speakers: Annotated[int, typer.Option(min=3, help="Speakers in the generated corpus.")] = 8,
    per_class: Annotated[
        int, typer.Option(min=2, help="Utterances per speaker and class.")
    ] = 12,
    progress: ProgressOpt = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """Generate the demo corpus and run the main job on it end to end.

    Writes the corpus, a fused pipeline's grid-search CV with modality ablation (reports and
    plots), the final model with its manifest, a spectrogram example and a prediction.
    """
    _setup(quiet, debug)
    bars = _output("table", progress)
    from .demo import run_demo

    _say(f"running the demo into {out} ...")
    paths = run_demo(out, seed=seed, n_jobs=jobs, n_speakers=speakers, n_per_class=per_class,
                     progress=bars)
    summary = paths.get("summary") if isinstance(paths, dict) else None
    if summary:
        typer.echo(summary)
    for key, value in paths.items():
        if key != "summary":
            typer.echo(f"{key:>18}: {value}")
    return EXIT_OK


# --------------------------------------------------------------------------- pipelines
@app.command(
    epilog=_examples(
        "emoclassic pipelines",
        "emoclassic pipelines --format json",
        "emoclassic pipelines --show recommended-audio > my-audio.toml",
    )
)
def pipelines(
    show: Annotated[
        str | None, typer.Option(help="Print this shipped spec's TOML (to copy and edit).",
                                 metavar="NAME")
    ] = None,
    fmt: Format = "table",
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """List the pipeline specs that ship with emoclassic: name, description, measured figures.

    Any command's `--pipeline` takes one of these names or a path to your own .toml file.
    """
    _setup(quiet, debug)
    _output(fmt)
    from .spec import load_spec, shipped_specs

    if show is not None:
        spec = load_spec(show)  # a name or a path; errors list the shipped names
        typer.echo(Path(spec.source or show).read_text(encoding="utf-8"), nl=False)
        return EXIT_OK
    specs = shipped_specs()
    if fmt == "json":
        _print_json({"pipelines": [s.to_dict() for s in specs]})
    elif fmt == "csv":
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


# --------------------------------------------------------------------------- features
#: ``--set`` names: spec block types that are fixed (unlearned) per-utterance feature sets.
_SETS = ("pooled", "alexnet", "text", "opensmile")
#: The pooled presets, listed statically so that ``--help`` imports no audio code (a test
#: checks this tuple against ``emoclassic.audio.PRESETS``).
POOLED_PRESETS = ("logmel-meanstd", "compact", "default", "large", "large-vuv", "large-vq",
                  "rasta-vq")


def _make_extractor(
    name: str,
    *,
    preset: str | None,
    cache: str | None,
    jobs: int,
    alexnet_weights: Path | None,
    text_model: str | None,
    progress: bool,
):
    """The extractor of a named feature set, built through the spec's block registry."""
    from .exceptions import ConfigError
    from .fusion import make_extractor

    if name == "tfidf":
        raise ConfigError(
            "--set tfidf learns a vocabulary from the training folds, so it is not a fixed "
            "feature set; use it inside a pipeline spec (emoclassic cv)"
        )
    if name not in _SETS:
        raise ConfigError(f"--set {name!r} is unknown; choose one of {', '.join(_SETS)}")
    if preset and name not in ("pooled", "opensmile"):
        raise ConfigError(f"--preset applies to --set pooled or opensmile, not --set {name}")
    if alexnet_weights is not None and name != "alexnet":
        raise ConfigError(f"--alexnet-weights applies to --set alexnet, not --set {name}")
    if text_model is not None and name != "text":
        raise ConfigError(f"--text-model applies to --set text, not --set {name}")
    options: dict[str, Any] = {}
    if name == "pooled" and preset:
        if preset not in POOLED_PRESETS:
            raise ConfigError(
                f"--preset {preset!r} is unknown; choose one of {', '.join(POOLED_PRESETS)}"
            )
        options["preset"] = preset
    elif name == "opensmile" and preset:
        options["feature_set"] = preset
    elif name == "alexnet" and alexnet_weights is not None:
        options["weights"] = str(alexnet_weights)
    elif name == "text" and text_model is not None:
        options["model"] = text_model
    ex = make_extractor(name, options, cache=cache, n_jobs=jobs)
    if "progress" in ex.get_params(deep=False):
        ex.set_params(progress=progress)
    return ex


def _write_features(out: Path, result) -> None:
    import numpy as np

    from ._atomic import atomic_path
    from .exceptions import ConfigError

    suffix = out.suffix.lower()
    if suffix not in (".npz", ".parquet", ".csv"):
        raise ConfigError(f"--out {out}: use a .npz, .parquet or .csv file name")
    with atomic_path(out, suffix=f".tmp{suffix}") as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh,
                    X=result.features,
                    ids=np.asarray(result.ids, dtype=str),
                    feature_names=np.asarray(result.feature_names, dtype=str),
                )
        else:
            import pandas as pd

            frame = pd.DataFrame(result.features, columns=list(result.feature_names))
            frame.insert(0, "id", list(result.ids))
            if suffix == ".csv":
                frame.to_csv(tmp, index=False)
            else:
                try:
                    frame.to_parquet(tmp, index=False)
                except ImportError as exc:
                    raise ConfigError(
                        f"{out}: writing .parquet needs pyarrow "
                        "(pip install 'emoclassic[parquet]'); or write .npz or .csv"
                    ) from exc


def _write_spectrograms(folder: Path, manifest, ok_ids: set[str], kind: str) -> int:
    """One spectrogram PNG per extracted audio row (the library's writer; bad rows skipped)."""
    from .audio import save_spectrogram_pngs

    rows = manifest[manifest["id"].astype(str).isin(ok_ids) & manifest["path"].notna()]
    if not len(rows):
        return 0
    out = save_spectrogram_pngs(rows, folder, kind=kind, on_error="skip")
    return int(out["png"].notna().sum())


@app.command(
    epilog=_examples(
        "emoclassic features --corpus emodb:data/emodb --set pooled --preset large-vuv "
        "--out artifacts/features/emodb_pooled.npz",
        "emoclassic features --manifest my_clips.csv --set text --out text.csv",
        "emoclassic features --manifest my_clips.csv --set opensmile --preset ComParE_2016 "
        "--out compare.parquet --format json",
    )
)
def features(
    feature_set: Annotated[
        str, typer.Option("--set", help="pooled | alexnet | text | opensmile (the last needs "
                          "pip install \"emoclassic[opensmile]\").", metavar="SET")
    ] = "pooled",
    manifest: ManifestOpt = None,
    corpus: CorpusOpt = None,
    preset: Annotated[
        str | None,
        typer.Option(help="--set pooled: the preset (" + ", ".join(POOLED_PRESETS) + "; "
                     "default: default). --set opensmile: the openSMILE feature set "
                     "(eGeMAPSv02, ComParE_2016, ...; default: eGeMAPSv02).", metavar="NAME"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output .npz (default), .parquet or .csv.", metavar="FILE"),
    ] = None,
    cache: CacheOpt = DEFAULT_CACHE,
    jobs: Jobs = 1,
    backend: BackendOpt = "local",
    scheduler: SchedulerOpt = None,
    spectrogram_png: Annotated[
        Path | None, typer.Option(help="Also write one spectrogram PNG per file here.",
                                  metavar="DIR")
    ] = None,
    spectrogram_kind: Annotated[
        str, typer.Option(help="figure: for people (time and Hz axes, dB colour bar); cnn: "
                          "the 224x224 image a CNN is fed.", metavar="figure|cnn")
    ] = "figure",
    alexnet_weights: Annotated[
        Path | None, typer.Option(help="AlexNet weights file (default: random weights).",
                                  metavar="PATH")
    ] = None,
    text_model: Annotated[
        str | None, typer.Option(help="Sentence-transformer folder (default: MiniLM).",
                                 metavar="PATH")
    ] = None,
    fmt: Format = "table",
    progress: ProgressOpt = None,
    label_column: LabelCol = "label",
    text_column: TextCol = "text",
    path_column: PathCol = "path",
    speaker_column: SpeakerCol = "speaker",
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """Extract one feature set: the matrix with row ids and feature names.

    Bad files are listed and skipped (exit 1); every good row is kept and cached.
    """
    _setup(quiet, debug)
    bars = _output(fmt, progress)
    from .artifacts import check_writable
    from .exceptions import ConfigError
    from .features import extract

    if spectrogram_kind not in ("figure", "cnn"):
        raise ConfigError(f"--spectrogram-kind {spectrogram_kind!r}: choose figure or cnn")
    data = _data(manifest, corpus, label_column=label_column, text_column=text_column,
                 path_column=path_column, speaker_column=speaker_column, require_labels=False,
                 check_files=False)
    extractor = _make_extractor(
        feature_set, preset=preset, cache=_cache(cache), jobs=jobs,
        alexnet_weights=alexnet_weights, text_model=text_model, progress=bars,
    )
    out = out or DEFAULT_OUT / "features" / f"{feature_set}.npz"
    if out.suffix.lower() not in (".npz", ".parquet", ".csv"):
        raise ConfigError(f"--out {out}: use a .npz, .parquet or .csv file name")
    check_writable(out)
    _say(f"extracting {feature_set} features of {len(data)} utterances ...")
    result = extract(extractor, data, backend=backend, scheduler=scheduler)
    n_features = int(result.features.shape[1]) if result.ids else 0
    if result.ids:
        _write_features(out, result)
        _tell(f"wrote {len(result.ids)} x {n_features} features to {out}")
    n_png = None
    if spectrogram_png is not None and result.ids:
        n_png = _write_spectrograms(spectrogram_png, data, set(result.ids), spectrogram_kind)
        _tell(f"wrote {n_png} spectrogram PNGs to {spectrogram_png}")
    summary = {
        "feature_set": feature_set,
        "out": str(out) if result.ids else None,
        "n_items": len(result.ids),
        "n_features": n_features,
        "spectrograms": None if n_png is None else {"folder": str(spectrogram_png), "n": n_png},
        "failed": [_failure_record(f) for f in result.failures],
    }
    if fmt == "json":
        _print_json(summary)
    elif fmt == "csv":
        _print_csv(["feature_set", "out", "n_items", "n_features", "n_failed"],
                   [[feature_set, summary["out"], len(result.ids), n_features,
                     len(result.failures)]])
    return _finish(result.failures, len(result.ids))


# --------------------------------------------------------------------------- cv
@app.command(
    epilog=_examples(
        "emoclassic cv --corpus emodb:data/emodb --pipeline recommended-audio "
        "--cv logo --ablation --out artifacts/cv/emodb",
        "emoclassic cv --manifest my.csv --pipeline my-spec.toml --format json > report.json",
    )
)
def cv(
    pipeline: PipelineOpt,
    manifest: ManifestOpt = None,
    corpus: CorpusOpt = None,
    groups: Annotated[
        str | None, typer.Option(help="Manifest column grouping the folds (default: speaker).",
                                 metavar="COLUMN")
    ] = None,
    scheme: Annotated[
        str | None,
        typer.Option(
            "--cv",
            help="auto | group | groupkfold | logo | split | stratified (default: the spec's).",
            metavar="SCHEME",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder.", metavar="DIR")] = DEFAULT_OUT
    / "cv",
    jobs: Jobs = 1,
    ablation: Annotated[
        bool, typer.Option("--ablation", help="Also score each modality alone.")
    ] = False,
    cache: CacheOpt = DEFAULT_CACHE,
    backend: BackendOpt = "local",
    scheduler: SchedulerOpt = None,
    fmt: Format = "table",
    progress: ProgressOpt = None,
    label_column: LabelCol = "label",
    text_column: TextCol = "text",
    path_column: PathCol = "path",
    speaker_column: SpeakerCol = "speaker",
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """Cross-validate a pipeline spec (nested grid search), write cv_report.json/.md/.html.

    `--format json` prints the cv_report itself (the content of cv_report.json).
    """
    _setup(quiet, debug)
    bars = _output(fmt, progress)
    from .artifacts import check_writable
    from .evaluation import run_cv, write_reports
    from .spec import load_spec

    check_writable(out / "cv_report.json")  # fail now, not after the cross-validation
    spec = load_spec(pipeline)
    data = _data(manifest, corpus, label_column=label_column, text_column=text_column,
                 path_column=path_column, speaker_column=speaker_column)
    _say(f"cross-validating {getattr(spec, 'name', pipeline)} on {len(data)} utterances ...")
    report = run_cv(
        spec, data, scheme=scheme, groups=groups, n_jobs=jobs, ablation=ablation,
        cache=_cache(cache), progress=bars, backend=backend, scheduler=scheduler,
    )
    paths = write_reports(report, out) or {}
    if fmt == "json":  # the report exactly as written to cv_report.json
        typer.echo(Path(paths["json"]).read_text(encoding="utf-8").rstrip("\n"))
    elif fmt == "csv":
        _print_csv(["run", *_HEADLINE], _cv_rows(report))
    else:
        typer.echo(_cv_summary(report))
    for key, value in paths.items():
        _tell(f"{key:>12}: {value}")
    failed = (report.get("data") or {}).get("failed") or []
    if failed:  # the run finished without these items
        _list_failures(failed)
        return EXIT_PARTIAL
    return EXIT_OK


def _mean(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("mean")
    return float(value) if isinstance(value, (int, float)) else None


def _cv_rows(report: dict) -> list[list[Any]]:
    """One CSV row per run: the pipeline, then each ablation."""
    runs = [(report.get("name", "pipeline"), report.get("metrics"))]
    for name, entry in (report.get("ablation") or {}).items():
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        runs.append((name, metrics if metrics else entry))
    return [[name, *(_mean((m or {}).get(k)) for k in _HEADLINE)] for name, m in runs]


def _cv_summary(report: dict) -> str:
    lines = [f"{report.get('name', 'pipeline')}: {_headline(report.get('metrics'))}"]
    ablation = report.get("ablation") or {}
    for name, entry in ablation.items():
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        lines.append(f"  {name:>12}: {_headline(metrics if metrics else entry)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- fit
def _params_from(path: Path) -> tuple[dict | None, dict | None]:
    """Best parameters and metrics of a cv_report.json."""
    from .exceptions import ConfigError

    if path.is_dir():
        path = path / "cv_report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg}); give a cv_report.json") from exc
    if not isinstance(report, dict):
        raise ConfigError(f"{path}: not a cv_report.json (no object at top level)")
    params = report.get("best_params")
    if params is None:
        params = (report.get("final") or {}).get("best_params")
    if params is None:
        raise ConfigError(
            f"{path}: has no 'best_params'; run `emoclassic cv` on a spec with a grid, or drop "
            "--params-from"
        )
    return params, report.get("metrics")


@app.command(
    epilog=_examples(
        "emoclassic fit --corpus emodb:data/emodb --pipeline recommended-audio "
        "--params-from artifacts/cv/emodb/cv_report.json --out artifacts/emodb.joblib",
    )
)
def fit(
    pipeline: PipelineOpt,
    manifest: ManifestOpt = None,
    corpus: CorpusOpt = None,
    out: Annotated[Path, typer.Option(help="Model file to write (.joblib; a .json manifest "
                                      "is written beside it).", metavar="MODEL.joblib")] =
    DEFAULT_OUT / "model.joblib",
    params_from: Annotated[
        Path | None, typer.Option(help="Use the best parameters of this cv_report.json.",
                                  metavar="REPORT")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Train only on these splits, e.g. train or train,dev.")
    ] = None,
    jobs: Jobs = 1,
    cache: CacheOpt = DEFAULT_CACHE,
    backend: BackendOpt = "local",
    scheduler: SchedulerOpt = None,
    fmt: Format = "table",
    progress: ProgressOpt = None,
    label_column: LabelCol = "label",
    text_column: TextCol = "text",
    path_column: PathCol = "path",
    speaker_column: SpeakerCol = "speaker",
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """Fit the final model on all (or some splits of the) data and save it with its model card.

    The model card is MODEL.json beside MODEL.joblib; `--format json` prints it.
    """
    _setup(quiet, debug)
    bars = _output(fmt, progress)
    from .artifacts import check_writable, save_model
    from .evaluation import fit_final
    from .exceptions import ConfigError
    from .spec import load_spec

    if out.suffix.lower() != ".joblib":
        raise ConfigError(f"--out {out}: a model file name must end in .joblib (model.joblib)")
    check_writable(out)  # fail now, not after the training
    spec = load_spec(pipeline)
    data = _data(manifest, corpus, label_column=label_column, text_column=text_column,
                 path_column=path_column, speaker_column=speaker_column)
    data = _select_splits(data, split)
    params, cv_metrics = _params_from(params_from) if params_from is not None else (None, None)
    _say(f"fitting {getattr(spec, 'name', pipeline)} on {len(data)} utterances ...")
    estimator = fit_final(spec, data, params=params, cache=_cache(cache), n_jobs=jobs,
                          backend=backend, scheduler=scheduler, progress=bars)
    fit_info = getattr(estimator, "emoclassic_fit_", None) or {}
    failed = fit_info.get("failed") or []
    info = save_model(
        estimator, out, spec=spec, train_manifest=data, cv_metrics=cv_metrics,
        extra={"params": fit_info.get("best_params", params), "n_fitted": fit_info.get("n_items"),
               "n_failed": len(failed)},
    )
    if fmt == "json":
        _print_json(info)
    elif fmt == "csv":
        _print_csv(["model", "model_card", "name", "labels", "n_fitted", "n_failed"],
                   [[info["model_path"], info["manifest_path"], info.get("name"),
                     ";".join(info.get("labels") or []), fit_info.get("n_items"), len(failed)]])
    else:
        typer.echo(f"wrote {info['model_path']} and {info['manifest_path']}")
        typer.echo(f"labels: {', '.join(info.get('labels') or [])}")
    if failed:  # the model was fitted without these items
        _list_failures(failed)
        return EXIT_PARTIAL
    return EXIT_OK


def _select_splits(data, split: str | None):
    if not split:
        return data
    from .exceptions import DataError

    wanted = [s.strip() for s in split.split(",") if s.strip()]
    if "split" not in data.columns:
        raise DataError(f"--split {split}: the data has no 'split' column; drop --split")
    chosen = data[data["split"].astype(str).isin(wanted)]
    if not len(chosen):
        have = sorted(data["split"].dropna().astype(str).unique())
        raise DataError(f"--split {split}: no rows; the data has splits {have}")
    return chosen.reset_index(drop=True)


# --------------------------------------------------------------------------- score
@app.command(
    epilog=_examples(
        "emoclassic score --model artifacts/emodb.joblib --corpus ravdess:data/ravdess "
        "--out artifacts/emodb_on_ravdess.json",
        "emoclassic score --model artifacts/demo/model.joblib "
        "--manifest artifacts/demo/corpus/manifest.csv --format json",
    )
)
def score(
    model: ModelOpt,
    manifest: ManifestOpt = None,
    corpus: CorpusOpt = None,
    split: Annotated[str | None, typer.Option(help="Score only this split (e.g. test).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the report here (JSON).",
                                             metavar="REPORT.json")] = None,
    trust: Trust = False,
    jobs: Jobs = 1,
    cache: CacheOpt = DEFAULT_CACHE,
    fmt: Format = "table",
    progress: ProgressOpt = None,
    label_column: LabelCol = "label",
    text_column: TextCol = "text",
    path_column: PathCol = "path",
    speaker_column: SpeakerCol = "speaker",
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """Score a saved model on labelled data, across corpora too (labels mapped, drops listed).

    `--format json` prints the score report (the same document `--out` writes).
    """
    _setup(quiet, debug)
    bars = _output(fmt, progress)
    from ._atomic import atomic_write_json
    from .artifacts import _jsonable, check_writable, load_model
    from .evaluation import score_model

    if out is not None:
        check_writable(out)
    estimator, _info = load_model(model, trust=trust)
    data = _data(manifest, corpus, label_column=label_column, text_column=text_column,
                 path_column=path_column, speaker_column=speaker_column)
    _say(f"scoring {model} on {len(data)} utterances ...")
    report = score_model(estimator, data, split=split, cache=_cache(cache), n_jobs=jobs,
                         progress=bars)
    if out is not None:
        atomic_write_json(out, _jsonable(report))
    rdata = report.get("data") or {}
    dropped = rdata.get("dropped_labels") or {}
    if fmt == "json":
        _print_json(report)
    elif fmt == "csv":
        metrics = report.get("metrics") or {}
        _print_csv(["model", "n_items", *_HEADLINE, "n_failed"],
                   [[str(model), rdata.get("n_items"), *(_mean(metrics.get(k)) for k in _HEADLINE),
                     len(rdata.get("failed") or [])]])
    else:
        typer.echo(f"{model.name}: {_headline(report.get('metrics'))}")
    if dropped:
        _tell(
            "left out (labels the model does not know): "
            + ", ".join(f"{k} ({v})" for k, v in dropped.items())
        )
    if out is not None:
        _tell(f"wrote {out}")
    failed = rdata.get("failed") or []
    if failed:
        _list_failures(failed)
        return EXIT_PARTIAL
    return EXIT_OK


# --------------------------------------------------------------------------- predict
def _read_text_file(path: Path) -> str:
    from .exceptions import DataError

    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DataError(f"--text-file {path}: not UTF-8 text; save it as UTF-8") from exc
    if not text:
        raise DataError(f"--text-file {path}: the file is empty; write the transcript in it")
    return text


@app.command(
    epilog=_examples(
        "emoclassic predict --model artifacts/demo/model.joblib clip.wav "
        "--text \"I can't believe you did that\"",
        "emoclassic predict --model model.joblib recordings/ --format json > predictions.json",
        "emoclassic predict --model model.joblib --manifest new.csv --format csv",
        "emoclassic predict --model model.joblib long_call.wav --window 5",
    )
)
def predict(
    model: ModelOpt,
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Audio files or folders (searched recursively).",
                       metavar="FILE|DIR..."),
    ] = None,
    manifest: ManifestOpt = None,
    corpus: CorpusOpt = None,
    text: Annotated[str | None, typer.Option(help="Transcript of the one recording (or, with "
                                             "no FILE, text alone for a text model).")] = None,
    text_file: Annotated[Path | None, typer.Option(help="File holding the transcript.",
                                                   metavar="F")] = None,
    speaker: Annotated[str | None, typer.Option(help="Speaker id of all the given files (for "
                                                "speaker-normalised models).")] = None,
    window: Annotated[float | None, typer.Option(help="Window length in seconds: per-window "
                                                 "and whole-file results (files over 30 s are "
                                                 "windowed anyway).", metavar="SECONDS")] = None,
    fmt: Format = "table",
    progress: ProgressOpt = None,
    jobs: Jobs = 1,
    cache: Annotated[str | None, typer.Option(help="Feature cache folder (default: a temporary "
                                              "one).", metavar="DIR")] = None,
    trust: Trust = False,
    label_column: LabelCol = "label",
    text_column: TextCol = "text",
    path_column: PathCol = "path",
    speaker_column: SpeakerCol = "speaker",
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """Predict the emotion of new recordings (any sample rate, any channels).

    Prints per-class probabilities; bad files are listed on stderr and the others still
    predicted (exit 1). `--format json` is the stable machine-readable form (docs/cli.md).
    """
    _setup(quiet, debug)
    bars = _output(fmt, progress)
    from .exceptions import ConfigError

    if text is not None and text_file is not None:
        raise ConfigError("give the transcript once: --text or --text-file, not both")
    if text_file is not None:
        text = _read_text_file(text_file)
    inputs = list(inputs or [])
    table = manifest is not None or corpus is not None
    if table and inputs:
        raise ConfigError("give FILE|DIR arguments or --manifest/--corpus, not both")
    if not table and not inputs and text is None:
        raise ConfigError("nothing to predict: give audio FILE|DIR arguments or --manifest M")

    from .prediction import collect_audio_files, files_to_manifest

    if table:
        if text is not None:
            raise ConfigError("--text applies to FILE arguments; with --manifest put the "
                              "transcripts in its 'text' column")
        data = _data(manifest, corpus, label_column=label_column, text_column=text_column,
                     path_column=path_column, speaker_column=speaker_column,
                     require_labels=False, check_files=False)
        if speaker is not None:
            data["speaker"] = speaker
    elif inputs:
        files = collect_audio_files(inputs)
        if text is not None and len(files) > 1:
            raise ConfigError(
                f"--text applies to one recording but {len(files)} were given; use a manifest "
                "with a 'text' column for several"
            )
        data = files_to_manifest(files, text=text, speaker=speaker)
    else:
        import pandas as pd

        data = pd.DataFrame([{"id": "text", "path": None, "text": text, "speaker": speaker}])

    from .artifacts import load_model
    from .prediction import predict_manifest, probability_source

    estimator, info = load_model(model, trust=trust)
    _say(f"predicting {len(data)} item(s) with {model.name} ...")
    result = predict_manifest(
        estimator, data, info=info, window=window, cache=_cache(cache) if cache else None,
        n_jobs=jobs, progress=bars,
    )
    model_info = {
        "path": str(model),
        "name": info.get("name"),
        "sha256": info.get("sha256"),
        "labels": result.labels,
        "modalities": info.get("modalities"),
        "probabilities": probability_source(estimator),
    }
    if fmt == "json":
        _print_json(result.to_dict(model_info))
    elif fmt == "csv" and result.predictions:
        typer.echo(_predictions_csv(result), nl=False)
    elif result.predictions:
        typer.echo(_predictions_table(result))
    return _finish(result.failures, len(result.predictions))


def _predictions_table(result) -> str:
    labels = result.labels
    id_width = min(60, max([len("id")] + [len(p["id"]) for p in result.predictions]))
    head = f"{'id':<{id_width}}  {'label':<12}" + "".join(f"{lab[:9]:>10}" for lab in labels)
    lines = [head]
    for p in result.predictions:
        ident = p["id"] if len(p["id"]) <= id_width else "..." + p["id"][-(id_width - 3):]
        probs = "".join(f"{p['probabilities'][lab]:>10.3f}" for lab in labels)
        lines.append(f"{ident:<{id_width}}  {p['label']:<12}{probs}")
        for w in p.get("windows") or []:
            span = f"  [{w['start']:.1f}-{w['end']:.1f} s]"
            wprobs = "".join(f"{w['probabilities'][lab]:>10.3f}" for lab in labels)
            lines.append(f"{span:<{id_width}}  {w['label']:<12}{wprobs}")
    return "\n".join(lines)


def _predictions_csv(result) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "path", "window", "start", "end", "label",
                     *[f"p_{lab}" for lab in result.labels]])
    for p in result.predictions:
        writer.writerow([p["id"], p["path"] or "", "", "", "", p["label"],
                         *[f"{p['probabilities'][lab]:.6f}" for lab in result.labels]])
        for k, w in enumerate(p.get("windows") or []):
            writer.writerow([p["id"], p["path"] or "", k, f"{w['start']:.3f}", f"{w['end']:.3f}",
                             w["label"],
                             *[f"{w['probabilities'][lab]:.6f}" for lab in result.labels]])
    return buf.getvalue()


# --------------------------------------------------------------------------- info
@app.command(epilog=_examples("emoclassic info artifacts/demo/model.joblib",
                              "emoclassic info artifacts/demo/model.joblib --format json"))
def info(
    model: Annotated[Path, typer.Argument(help="Model file (.joblib).", metavar="MODEL.joblib")],
    fmt: Format = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> int:
    """Show a model's card (MODEL.json) and check its sha256, without loading the .joblib."""
    _setup(quiet, debug)
    if as_json:
        fmt = "json"
    _output(fmt)
    from .artifacts import inspect_model
    from .exceptions import ModelError

    data = inspect_model(model)
    if fmt == "json":
        _print_json(data)
    elif fmt == "csv":
        _print_csv(["field", "value"], _info_rows(data))
    else:
        typer.echo(_info_text(data))
    if not data["sha256_ok"]:
        raise ModelError(
            f"{data['model_path']}: sha256 does not match its manifest: the file was altered or "
            "is corrupt; re-copy it or re-create it with `emoclassic fit`"
        )
    return EXIT_OK


def _info_rows(d: dict) -> list[list[Any]]:
    """The card's scalar fields, and lists joined by ';', as field/value rows."""
    rows: list[list[Any]] = []
    for key, value in d.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            rows.append([key, value])
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            rows.append([key, ";".join(value)])
    return rows


def _info_text(d: dict) -> str:
    lines = [
        f"model:        {d['model_path']}",
        f"name:         {d.get('name')}",
        f"created:      {d.get('created')}",
        f"sha256:       {d.get('sha256')} ({'ok' if d.get('sha256_ok') else 'MISMATCH'})",
        f"estimator:    {d.get('estimator')}",
        f"modalities:   {', '.join(d.get('modalities') or [])}",
        f"labels:       {', '.join(d.get('labels') or [])}",
    ]
    if d.get("speaker_normalization"):
        lines.append("speaker normalisation: yes (needs several utterances per speaker)")
    notes = {k: (old, new) for k, old, new in d.get("version_notes") or []}
    vers = d.get("versions") or {}
    lines.append("versions:     " + ", ".join(
        f"{k} {v}" + (f" (installed: {notes[k][1]})" if k in notes else "")
        for k, v in vers.items() if v is not None
    ))
    for feat in d.get("features") or []:
        cls = feat.get("class", "?")
        extras = [f"{k}={feat[k]}" for k in ("preset", "layer", "pooling") if k in feat]
        if isinstance(feat.get("text_model"), dict):
            tm = feat["text_model"]
            extras.append(f"text model {tm.get('name')} (sha256 {str(tm.get('sha256'))[:12]})")
        if isinstance(feat.get("weights"), dict):
            w = feat["weights"]
            extras.append("pretrained weights" if w.get("pretrained") else
                          f"random weights (seed {w.get('seed')})")
        lines.append(f"feature:      {cls}" + (f" ({'; '.join(extras)})" if extras else ""))
    train = d.get("training_data") or {}
    if train:
        lines.append(f"trained on:   {train.get('n_utterances')} utterances; per class "
                     + ", ".join(f"{k}={v}" for k, v in (train.get("per_class") or {}).items()))
        if train.get("per_speaker"):
            lines.append(f"speakers:     {len(train['per_speaker'])}")
    if d.get("cv_metrics"):
        lines.append(f"cv metrics:   {_headline(d['cv_metrics'])}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``emoclassic``)."""
    command = typer.main.get_command(app)
    command.main(args=argv, prog_name="emoclassic")


if __name__ == "__main__":  # pragma: no cover
    main()
