"""The Typer app: emoclassic's error policy, logging set-up and run state, the root callback.

Exit codes: 0 success; 1 a batch finished but some items failed (they are listed); 2 a usage,
data, configuration or model error (one line on stderr naming the file or field and the fix;
``--debug`` shows the traceback).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..exceptions import EmoclassicError
from ._options import Debug, Quiet

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2

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


# --------------------------------------------------------------------------- logging
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


# --------------------------------------------------------------------------- callback
def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

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


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``emoclassic``)."""
    command = typer.main.get_command(app)
    command.main(args=argv, prog_name="emoclassic")
