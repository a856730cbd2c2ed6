"""The options the commands share, each declared once.

Two groups recur on most commands:

* data selection, ``--manifest``/``--corpus`` (repeatable), ``--label-map``/``--classes`` and
  the manifest's column names, handed to a command as one :class:`DataArgs` (whose
  :meth:`DataArgs.load` reads and combines the rows);
* the run tail, ``--jobs``, ``--cache``, ``--backend``/``--scheduler``, ``--format``,
  ``--progress`` where the command has them and ``--quiet``/``--debug`` on all, handed as one
  :class:`RunArgs` once logging and the output format are set up.

A command takes parameters named ``data`` and ``run`` and is decorated with
:func:`shared_options`, which puts the groups' options into the signature Typer reads
(``__signature__``): ``--manifest``/``--corpus``/``--label-map``/``--classes`` where ``data``
stands, the run tail after the command's own options, then the column names, then
``--quiet``/``--debug``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

DEFAULT_OUT = Path("artifacts")
DEFAULT_CACHE = "artifacts/cache"
FORMATS = ("table", "json", "csv")


def _complete_pipeline(incomplete: str) -> list[str]:
    """Shell completion of --pipeline: the shipped spec names (files complete as usual)."""
    from ..spec import shipped_specs

    return [s.name for s in shipped_specs() if s.name.startswith(incomplete)]


# --------------------------------------------------------------------------- one command's
#: the default of --low-confidence (emoclassic.prediction.LOW_CONFIDENCE, without importing it:
#: ``emoclassic --help`` stays free of pandas; tests/test_cli.py checks the two agree)
LOW_CONFIDENCE = 0.5
#: --low-confidence, shared by predict, stream and serve
LowConfidence = Annotated[float, typer.Option(
    "--low-confidence", help="Flag predictions (each window too) whose top probability is "
    "below P (low_confidence).", metavar="P", min=0.0, max=1.0)]
#: --abstain-below, shared by predict, stream and serve
AbstainBelow = Annotated[float | None, typer.Option(
    "--abstain-below", help="Answer \"uncertain\" (label) when the top probability is below P "
    "(probabilities unchanged; default: never).", metavar="P", min=0.0, max=1.0)]
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
    list[Path] | None,
    typer.Option("--manifest", "-m", help="Manifest file (.csv, .tsv, .jsonl); repeat for "
                 "several (rows keep their corpus column, else the file stem).", metavar="M"),
]
CorpusOpt = Annotated[
    list[str] | None,
    typer.Option("--corpus", help="A corpus folder as NAME:DIR, e.g. emodb:data/emodb; "
                 "reader options in brackets: iemocap[classes=6]:DIR. Repeat for several.",
                 metavar="NAME:DIR"),
]
LabelMapOpt = Annotated[
    str | None,
    typer.Option("--label-map", help="Map manifest labels onto the canonical emotions: a "
                 "CSV/JSON file of original,canonical or inline angry=anger,sad=sadness.",
                 metavar="FILE|A=B,..."),
]
ClassesOpt = Annotated[
    str | None,
    typer.Option("--classes", help="Label space of the data: shared (the classes every "
                 "corpus has; the default), union, or a list a,b,c. Rows outside are dropped "
                 "and counted.", metavar="shared|union|A,B,C"),
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
    """Where a command's utterances come from: ``--manifest`` and ``--corpus`` (each
    repeatable, combined by :func:`emoclassic.data.load_inputs`), the label map and label
    space across them, and the names of the manifests' columns."""

    manifest: ManifestOpt = None
    corpus: CorpusOpt = None
    label_map: LabelMapOpt = None
    classes: ClassesOpt = None
    label_column: LabelCol = "label"
    text_column: TextCol = "text"
    path_column: PathCol = "path"
    speaker_column: SpeakerCol = "speaker"

    @property
    def manifests(self) -> tuple[Path, ...]:
        """The ``--manifest`` files (one Path given directly counts as one)."""
        if self.manifest is None:
            return ()
        if isinstance(self.manifest, str | Path):
            return (Path(self.manifest),)
        return tuple(Path(m) for m in self.manifest)

    @property
    def corpora(self) -> tuple[str, ...]:
        """The ``--corpus`` specs (one string given directly counts as one)."""
        if self.corpus is None:
            return ()
        if isinstance(self.corpus, str):
            return (self.corpus,)
        return tuple(self.corpus)

    @property
    def given(self) -> bool:
        return bool(self.manifests or self.corpora)

    @property
    def single_manifest(self) -> Path | None:
        """The one ``--manifest`` when it is the whole data, read as it is (no corpus, label
        map or class choice to apply); else None."""
        plain = not self.corpora and self.label_map is None and self.classes is None
        return self.manifests[0] if plain and len(self.manifests) == 1 else None

    def load(self, *, require_labels: bool = True, check_files: bool = True,
             other_manifests: bool = False):
        """The rows of every ``--manifest`` and ``--corpus``, on one label space (what was
        dropped rides in ``frame.attrs["emoclassic_combine"]``). ``check_files=False`` leaves
        missing audio files to the batch (listed as failed items) instead of refusing the
        manifest. ``other_manifests``: the command reads manifest files of its own too (cv's
        ``--test-manifest``), which the column names may be meant for."""
        from ..data import load_inputs
        from ..exceptions import ConfigError

        columns = {
            "label_column": self.label_column,
            "text_column": self.text_column,
            "path_column": self.path_column,
            "speaker_column": self.speaker_column,
        }
        if not self.manifests and not other_manifests:
            for option, value in columns.items():
                default = option.removesuffix("_column")
                if value != default:
                    flag = "--" + option.replace("_", "-")
                    raise ConfigError(f"{flag} {value} applies to manifest files only; drop it "
                                      "with --corpus")
        frame, _ = load_inputs(
            self.manifests, self.corpora, classes=self.classes, label_map=self.label_map,
            require_labels=require_labels, check_files=check_files, **columns,
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


_DATA_HEAD = ("manifest", "corpus", "label_map", "classes")  # where `data` stands
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
