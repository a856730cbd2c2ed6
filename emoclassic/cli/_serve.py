"""``emoclassic serve``: a saved model kept warm behind HTTP (needs the ``serve`` extra)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from ._app import EXIT_OK, _examples, app
from ._options import (
    LOW_CONFIDENCE,
    AbstainBelow,
    LowConfidence,
    ModelOpt,
    RunArgs,
    Trust,
    shared_options,
)

#: the default of --max-bytes (emoclassic.serve.DEFAULT_MAX_BYTES, without importing it)
MAX_BYTES = 25 * 1024 * 1024


def _require_serve_extra() -> None:
    from ..exceptions import ConfigError

    missing = []
    for module, package in (("starlette", "starlette"), ("uvicorn", "uvicorn"),
                            ("python_multipart", "python-multipart")):  # fmt: skip
        try:
            __import__(module)
        except ImportError:
            if module == "python_multipart":
                try:  # python-multipart < 0.0.13
                    __import__("multipart.multipart")
                    continue
                except ImportError:
                    pass
            missing.append(package)
    if missing:
        raise ConfigError(f"emoclassic serve needs {', '.join(missing)}: "
                          "pip install 'emoclassic[serve]'")


@app.command(
    epilog=_examples(
        "emoclassic serve --model artifacts/demo/model.joblib",
        "curl -F audio=@clip.wav -F text=\"I can't believe it\" http://127.0.0.1:8000/predict",
        "emoclassic serve --model model.joblib --port 8080 --max-bytes 50000000",
    )
)
@shared_options()
def serve(
    model: ModelOpt,
    *,
    host: Annotated[str, typer.Option(help="Address to listen on: 127.0.0.1 is this machine "
                                      "only; put a reverse proxy in front for anything public "
                                      "(docs/server.md).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one, printed at start).",
                                      min=0, max=65535)] = 8000,
    max_bytes: Annotated[int, typer.Option("--max-bytes", help="Largest request body in bytes "
                                           "(larger ones get 413).", metavar="N",
                                           min=1)] = MAX_BYTES,
    low_confidence: LowConfidence = LOW_CONFIDENCE,
    abstain_below: AbstainBelow = None,
    trust: Trust = False,
    run: RunArgs,
) -> int:
    """Serve a model over HTTP, loaded once and kept warm: POST /predict and a web page.

    POST /predict takes a clip in form field `audio` (and `text` for models that read
    transcripts) and answers with the object `predict --format json` prints for one item;
    GET /health, GET /model (the model card) and GET / (a page to upload or record a clip)
    complete it. Binds 127.0.0.1 by default. Endpoints and limits: docs/server.md.
    """
    _require_serve_extra()
    from ..recognizer import Recognizer
    from ..serve import bind, create_app, run_server, url_of, warm_up

    sock = bind(host, port)  # a taken port fails before the model is loaded
    # the flags travel in every answer; a warning line per request would flood the log
    flagged = logging.getLogger("emoclassic.prediction")
    level = flagged.level
    if not run.debug:
        flagged.setLevel(logging.ERROR)
    try:
        recognizer = Recognizer.load(model, trust=trust, low_confidence=low_confidence,
                                     abstain_below=abstain_below)
        service = create_app(recognizer, max_bytes=max_bytes)
        took = warm_up(recognizer)
        # on stderr even with --quiet: the address is the command's result (--port 0)
        reads = ", ".join(recognizer.modalities) or "unknown inputs"
        typer.echo(f"serving {model.name} ({reads}; labels {', '.join(recognizer.labels)}) on "
                   f"{url_of(sock)}"
                   + (f" (warm-up {took * 1000:.0f} ms)" if took is not None else "")
                   + "; Ctrl+C stops", err=True)
        run_server(service, sock, log_level="debug" if run.debug else
                   "warning" if run.quiet else "info", access_log=not run.quiet)
    finally:
        flagged.setLevel(level)
        sock.close()
    return EXIT_OK
