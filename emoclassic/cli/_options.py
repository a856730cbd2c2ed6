"""The options the commands share, each declared once.

Two groups recur on most commands:

* data selection, ``--manifest``/``--corpus`` and the manifest's column names, handed to a
  command as one :class:`DataArgs` (whose :meth:`DataArgs.load` reads the rows);
* the run tail, ``--jobs``, ``--cache``, ``--backend``/``--scheduler``, ``--format``,
  ``--progress`` where the command has them and ``--quiet``/``--debug`` on all, handed as one
  :class:`RunArgs` once logging and the output format are set up.

A command takes parameters named ``data`` and ``run`` and is decorated with
:func:`shared_options`, which puts the groups' options into the signature Typer reads
(``__signature__``): ``--manifest``/``--corpus`` where ``data`` stands, the run tail after the
command's own options, then the column names, then ``--quiet``/``--debug``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from ..exceptions import DataError

DEFAULT_OUT = Path("artifacts")
DEFAULT_CACHE = "artifacts/cache"
FORMATS = ("table", "json", "csv")


def _complete_pipeline(incomplete: str) -> list[str]:
    """Shell completion of --pipeline: the shipped spec names (files complete as usual)."""
    from ..spec import shipped_specs

    return [s.name for s in shipped_specs() if s.name.startswith(incomplete)]


# --------------------------------------------------------------------------- one command's
Trust = Annotated[
    bool,
    typer.Option(
        "--trust",
        help="Load a model without its model card or from another scikit-learn release. "
        "A .joblib runs code when loaded: only for files you trust.",
    ),
]
PipelineOpt = Annotated[
    str,
    typer.Option("--pipeline", "-p", help="A shipped spec's name (see `emoclassic pipelines`) "
                 "or your own .toml spec file.", metavar="NAME|FILE",
                 autocompletion=_complete_pipeline),
]
ModelOpt = Annotated[
    Path, typer.Option("--model", help="Model file written by `emoclassic fit`.", metavar="MODEL")
]

# --------------------------------------------------------------------------- data selection
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
SpeakerCol = Annotated[str, typer.Option(help="Manifest column saying who spoke (what "
                                          "speaker normalisation reads).")]
ExtraOpt = Annotated[
    list[str] | None,
    typer.Option("--extra", help="Features of an extra block for these rows: NAME=FILE "
                 "(.csv/.npz/.npy keyed by id); repeat for several blocks.",
                 metavar="NAME=FILE"),
]


def extra_files(values: list[str] | None) -> dict[str, str]:
    """``--extra NAME=FILE`` options as ``{NAME: FILE}``."""
    from ..exceptions import ConfigError

    out: dict[str, str] = {}
    for value in values or []:
        name, sep, file = value.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise ConfigError(f"--extra {value}: give NAME=FILE (the model's extra block and a "
                              ".csv/.npz/.npy of its features keyed by id)")
        if name.strip() in out:
            raise ConfigError(f"--extra {name.strip()}: given twice; give each block once")
        out[name.strip()] = file.strip()
    return out


GroupsOpt = Annotated[
    str | None,
    typer.Option(help="Column whose values must not be split across folds (default: the "
                 "spec's cv.groups, the speaker; e.g. session or corpus).", metavar="COLUMN"),
]

# --------------------------------------------------------------------------- the run tail
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel worker processes.")]
CacheOpt = Annotated[
    str,
    typer.Option(help="Feature cache folder ('none' disables caching).", metavar="DIR"),
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
Format = Annotated[
    str,
    typer.Option("--format", "-f", help="What stdout holds: table (for people), json (one "
                 "JSON document; schemas in docs/cli.md) or csv. Files written with --out "
                 "keep the format of their suffix.", metavar="table|json|csv"),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
ProgressOpt = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bars on stderr (default: only "
                 "when stderr is a terminal and --format is table).", show_default=False),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]


def cache_folder(cache: str | None) -> str | None:
    """The ``--cache`` value as the library takes it: None for no folder ('none', '')."""
    if cache is None or cache.strip().lower() in ("", "none", "off", "no"):
        return None
    return cache


@dataclass(frozen=True)
class DataArgs:
    """Where a command's utterances come from: ``--manifest`` or ``--corpus``, and the names of
    the manifest's columns."""

    manifest: ManifestOpt = None
    corpus: CorpusOpt = None
    label_column: LabelCol = "label"
    text_column: TextCol = "text"
    path_column: PathCol = "path"
    speaker_column: SpeakerCol = "speaker"

    @property
    def given(self) -> bool:
        return self.manifest is not None or self.corpus is not None

    def load(self, *, require_labels: bool = True, check_files: bool = True):
        """The rows of ``--manifest`` or ``--corpus``. ``check_files=False`` leaves missing
        audio files to the batch (listed as failed items) instead of refusing the manifest."""
        from ..data import load_manifest_or_corpus

        options: dict[str, Any] = {}
        if self.manifest is not None:
            options = {
                "label_column": self.label_column,
                "text_column": self.text_column,
                "path_column": self.path_column,
                "speaker_column": self.speaker_column,
                "require_labels": require_labels,
                "check_files": check_files,
            }
        frame = load_manifest_or_corpus(manifest=self.manifest, corpus=self.corpus, **options)
        if not len(frame):
            raise DataError(
                f"{self.manifest or self.corpus}: no utterances; check the manifest or the folder"
            )
        return frame


@dataclass
class RunArgs:
    """How a command runs and prints; a command gets the options it names, defaults for the
    rest. ``bars`` is the decision on progress bars (see ``_output``)."""

    jobs: Jobs = 1
    cache: CacheOpt = DEFAULT_CACHE
    backend: BackendOpt = "local"
    scheduler: SchedulerOpt = None
    fmt: Format = "table"
    as_json: JsonFlag = False
    progress: ProgressOpt = None
    quiet: Quiet = False
    debug: Debug = False
    bars: bool = field(default=False, init=False)

    @property
    def cache_dir(self) -> str | None:
        return cache_folder(self.cache)

    def start(self) -> None:
        """Route logs as ``--quiet``/``--debug`` ask, check ``--format``, decide on bars."""
        # imported here: _app imports this module (the root callback's --quiet/--debug)
        from ._app import _setup
        from ._output import _output

        _setup(self.quiet, self.debug)
        if self.as_json:
            self.fmt = "json"
        self.bars = _output(self.fmt, self.progress)


_DATA_HEAD = ("manifest", "corpus")  # where the command's `data` parameter stands
_DATA_COLUMNS = tuple(f.name for f in fields(DataArgs) if f.name not in _DATA_HEAD)
_ALWAYS = ("quiet", "debug")
_OPTIONAL = tuple(f.name for f in fields(RunArgs) if f.init and f.name not in _ALWAYS)


def _parameters(cls: type, names: tuple[str, ...]) -> list[inspect.Parameter]:
    hints = get_type_hints(cls, include_extras=True)
    defaults = {f.name: f.default for f in fields(cls)}
    return [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=hints[n],
                          default=defaults[n])
        for n in names
    ]


def shared_options(*run_options: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the shared options: ``run_options`` names the run-tail members it has
    (among jobs, cache, backend, scheduler, fmt, as_json, progress; ``--quiet``/``--debug``
    always), a parameter ``data: DataArgs`` asks for the data-selection group.

    The command's own parameters keep their order; it is called with ``data=DataArgs(...)``
    and ``run=RunArgs(...)`` after :meth:`RunArgs.start`.
    """
    unknown = set(run_options) - set(_OPTIONAL)
    if unknown:
        raise ValueError(f"unknown shared options {sorted(unknown)}; choose among {_OPTIONAL}")
    optional = tuple(n for n in _OPTIONAL if n in run_options)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        declared = inspect.signature(command, eval_str=True)
        own = declared.parameters
        if "run" not in own:
            raise TypeError(f"{command.__name__}: a command with shared options takes `run`")
        takes_data = "data" in own
        params: list[inspect.Parameter] = []
        for p in own.values():
            if p.name == "data":
                params += _parameters(DataArgs, _DATA_HEAD)
            elif p.name != "run":
                params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
        params += _parameters(RunArgs, optional)
        if takes_data:
            params += _parameters(DataArgs, _DATA_COLUMNS)
        params += _parameters(RunArgs, _ALWAYS)

        @functools.wraps(command)
        def run_command(**kwargs: Any) -> Any:
            if takes_data:
                kwargs["data"] = DataArgs(**{n: kwargs.pop(n) for n in _DATA_HEAD + _DATA_COLUMNS})
            run = RunArgs(**{n: kwargs.pop(n) for n in optional + _ALWAYS})
            run.start()
            return command(**kwargs, run=run)

        run_command.__signature__ = declared.replace(parameters=params)  # type: ignore[attr-defined]
        run_command.__annotations__ = {p.name: p.annotation for p in params}
        return run_command

    return decorate
