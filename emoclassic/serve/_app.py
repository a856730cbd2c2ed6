"""The Starlette app over one warm :class:`~emoclassic.recognizer.Recognizer`.

Routes: ``GET /`` (the page), ``GET /health``, ``GET /model`` (the model card), ``POST
/predict``. Every answer is JSON except the page; every error is one line
``{"error": "..."}`` with a 4xx status (a 500 only for a bug, logged here, never with a
traceback in the body).

A request body is read at most ``max_bytes`` far: a ``Content-Length`` above it is refused
before reading, and a body without one (chunked) is counted while it arrives and refused as
soon as it passes the limit (413). The body is then decoded in memory: the form's parts are
kept in memory (no temporary files), the clip decoded by soundfile from the bytes, and the
prediction (decoding included) runs in Starlette's thread pool so that the event loop keeps
answering other requests meanwhile.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .._json import jsonable
from ..exceptions import AudioError, EmoclassicError
from ._form import FormError, Part, parse_body

__all__ = ["DEFAULT_MAX_BYTES", "create_app", "public_card", "warm_up"]

logger = logging.getLogger("emoclassic.serve")

#: the default request size limit (25 MiB: about 13 minutes of 16 kHz 16-bit mono WAV)
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
#: how far past the limit a body is still read (and dropped) so that the client gets the 413
DRAIN_BYTES = 1024 * 1024
#: the fields POST /predict reads
FIELDS = ("audio", "text", "window", "hop", "smooth")
#: the options among them, with their types (the Recognizer's own keyword options)
OPTIONS: dict[str, type] = {"window": float, "hop": float, "smooth": int}
#: what a card's local paths are removed from /model (the card names the model file already)
_PATH_KEYS = ("model_path", "card_path", "manifest_path", "warnings")
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
_PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
             "connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
             "form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


class _Refused(Exception):
    """A bad request: its HTTP status and one line for ``{"error": ...}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _json(document: Any, status: int = 200, headers: Mapping[str, str] | None = None
          ) -> Response:  # fmt: skip
    body = json.dumps(jsonable(document), ensure_ascii=False, allow_nan=False)
    return Response(body, status_code=status, media_type="application/json",
                    headers={**_HEADERS, **(headers or {})})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json({"error": _one_line(message)}, status, headers)


# --------------------------------------------------------------------------- what the model is
def public_card(recognizer: Any) -> dict[str, Any]:
    """The model card as ``emoclassic info --format json`` shows it (with ``sha256_ok`` and
    ``version_notes``), less the local paths of the model and its card (``model_file``, the
    file's name, stays)."""
    card: dict[str, Any] = dict(recognizer.info)
    if recognizer.path is not None:
        from ..artifacts import inspect_model

        try:
            card = inspect_model(recognizer.path)
        except EmoclassicError as exc:  # trusted without its card: what load_model returned
            logger.debug("model card not inspected: %s", exc)
    return {k: v for k, v in card.items() if k not in _PATH_KEYS}


def _model_name(recognizer: Any) -> str | None:
    if recognizer.info.get("name"):
        return str(recognizer.info["name"])
    return Path(recognizer.path).stem if recognizer.path else None


def warm_up(recognizer: Any) -> float | None:
    """Predict one generated second (and a sentence, for models that read text) so that the
    libraries a prediction imports on first use are loaded before the first request.

    Returns the seconds it took, or None when it failed (logged; the server still starts:
    a request then reports its own error).
    """
    import numpy as np

    mods = set(recognizer.modalities)
    text = "I did not expect to hear from you today." if "text" in mods else None
    t0 = time.perf_counter()
    try:
        if "audio" in mods or not mods:
            rng = np.random.default_rng(0)
            wave = (0.05 * rng.standard_normal(16000)).astype(np.float32)
            recognizer.predict_array(wave, 16000, text, id="warm-up")
        else:
            recognizer.predict_text(text, id="warm-up")
    except EmoclassicError as exc:
        logger.warning("warm-up prediction failed (%s); requests will report their own error",
                       _one_line(exc))
        return None
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- reading requests
async def _read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (413) as soon as it is known to pass ``max_bytes``.

    Past the limit nothing more is kept; up to :data:`DRAIN_BYTES` more are still read (and
    dropped) so that a client that sends its whole body before reading the answer (urllib,
    requests, a browser's fetch) gets the 413 rather than a reset connection. A larger
    ``Content-Length`` is refused before anything is read.
    """
    def too_big(size: int | None) -> _Refused:
        what = "the request" + (f" ({size} bytes)" if size is not None else "")
        return _Refused(413, f"{what} is larger than this server's limit of {max_bytes} bytes; "
                             "send a shorter clip (or start the server with a larger "
                             "--max-bytes)", {"Connection": "close"})

    announced = None
    length = request.headers.get("content-length")
    if length is not None:
        try:
            announced = int(length)
        except ValueError:
            raise _Refused(400, f"Content-Length {length!r} is not a number of bytes") from None
        if announced > max_bytes + DRAIN_BYTES:
            raise too_big(announced)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total <= max_bytes:
            chunks.append(chunk)
        else:
            chunks.clear()
            if total > max_bytes + DRAIN_BYTES:
                break
    if total > max_bytes:
        raise too_big(announced)
    return b"".join(chunks)


def _option(name: str, raw: str) -> float | int:
    kind = OPTIONS[name]
    try:
        value = kind(raw.strip())
    except ValueError:
        unit = "a whole number of windows" if kind is int else "a number of seconds"
        raise _Refused(400, f"{name}={raw!r}: give {unit} (e.g. {name}="
                            f"{3 if kind is int else 2})") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(400, f"{name}={raw!r}: give a finite number of seconds")
    return value


def _options(query: Mapping[str, str], fields: Mapping[str, Part]) -> dict[str, Any]:
    """``window``/``hop``/``smooth`` from the query string or the body (not both)."""
    unknown = sorted(set(query) - set(OPTIONS) - {"text"})
    if unknown:
        raise _Refused(400, f"unknown query parameter(s) {', '.join(unknown)}; this route "
                            f"reads {', '.join(OPTIONS)} (and text)")
    out: dict[str, Any] = {}
    for name in OPTIONS:
        given = [raw for raw in (query.get(name), fields[name].text() if name in fields
                                 else None) if raw is not None and raw.strip()]  # fmt: skip
        if len(given) > 1:
            raise _Refused(400, f"{name} given twice (query string and body); give it once")
        if given:
            out[name] = _option(name, given[0])
    return out


def _decode(data: bytes, name: str) -> tuple[Any, int]:
    """``(samples (frames, channels) float32, rate)`` of an uploaded clip, decoded in memory as
    emoclassic decodes a file (soundfile, float32)."""
    import soundfile as sf

    if not data:
        raise _Refused(400, f"{name}: the audio is empty (0 bytes); send the clip's bytes")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            samples = f.read(dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        msg = re.sub(r"^Error opening <[^>]*>: ", "", _one_line(exc))[:120]
        msg = msg.rstrip(".") or type(exc).__name__
        raise _Refused(415, f"{name}: not audio that soundfile can read ({msg}); send WAV, "
                            "FLAC, OGG or MP3 (e.g. ffmpeg -i clip.webm clip.wav)") from None
    return samples, rate


def _upload_id(part: Part) -> str:
    """The name the prediction's ``id`` gets: the uploaded file's name, without folders."""
    name = (part.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(c for c in name if c.isprintable())[:200]
    return name or "upload"


def _plan(recognizer: Any, kind: str, fields: dict[str, Part], query: Mapping[str, str]
          ) -> Callable[[], Any]:  # fmt: skip
    """Check a request against the model and return the call that predicts it."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        hint = (" (the clip goes in field 'audio': curl -F audio=@clip.wav)"
                if "audio" not in fields else "")
        raise _Refused(400, f"unknown field(s) {', '.join(unknown)}; /predict reads "
                            f"{', '.join(FIELDS)}{hint}")
    options = _options(query, fields)
    text = fields["text"].text() if "text" in fields else query.get("text")
    if "text" in fields and query.get("text") is not None:
        raise _Refused(400, "text given twice (query string and body); give it once")
    text = text if text is not None and text.strip() else None
    audio = fields.get("audio")
    mods = set(recognizer.modalities)
    listed = ", ".join(sorted(mods))
    if "audio" in mods and audio is None:
        how = ("JSON carries no audio: " if kind == "json" else "") + (
            "send the clip as multipart form field 'audio' (curl -F audio=@clip.wav"
            + (" -F text='...'" if "text" in mods else "") + ")")
        raise _Refused(400, f"the model reads audio (modalities: {listed}); {how}")
    if mods and "audio" not in mods and audio is not None:
        raise _Refused(400, f"the model reads only text (modalities: {listed}); send field "
                            "'text' without audio")
    if "text" in mods and text is None:
        raise _Refused(400, f"the model reads transcripts (modalities: {listed}); send the "
                            "transcript in field 'text'" + (" with the audio" if "audio" in mods
                                                            else ""))
    if audio is None:
        if text is None:
            raise _Refused(400, "nothing to predict: send field 'audio' (a clip) or 'text'")
        if options:
            raise _Refused(400, f"{', '.join(options)}: windows need audio; drop the option")
        return lambda: recognizer.predict_text(text)
    name = _upload_id(audio)

    def predict_audio():
        samples, rate = _decode(audio.data, name)
        return recognizer.predict_array(samples, rate, text, id=name, **options)

    return predict_audio


# --------------------------------------------------------------------------- the app
def _page() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def create_app(recognizer: Any, *, max_bytes: int = DEFAULT_MAX_BYTES, page: bool = True
               ) -> Starlette:  # fmt: skip
    """The ASGI app serving ``recognizer`` (a loaded :class:`~emoclassic.Recognizer`).

    ``max_bytes`` bounds a request's body (413 beyond it); ``page=False`` leaves out the web
    page at ``/``. Run it with any ASGI server, e.g. ``uvicorn.run(app, host="127.0.0.1")``.
    """
    from .. import __version__

    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes={max_bytes!r}: give a positive number of bytes")
    card = public_card(recognizer)
    health = {
        "status": "ok",
        "model": _model_name(recognizer),
        "sha256": recognizer.info.get("sha256"),
        "labels": recognizer.labels,
        "modalities": recognizer.modalities,
        "probabilities": recognizer.model_info.get("probabilities"),
        "low_confidence": recognizer.low_confidence,
        "max_bytes": max_bytes,
        "emoclassic": __version__,
    }
    html = _page() if page else None

    async def index(request: Request) -> Response:
        return HTMLResponse(html, headers={**_HEADERS, "Content-Security-Policy": _PAGE_CSP})

    async def get_health(request: Request) -> Response:
        return _json(health)

    async def get_model(request: Request) -> Response:
        return _json(card)

    async def predict(request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            body = await _read_body(request, max_bytes)
            ctype = request.headers.get("content-type", "")
            try:
                kind, fields = parse_body(body, ctype)
            except LookupError:
                raise _Refused(415, f"Content-Type {ctype or 'missing'}: send multipart/form-"
                                    "data (field 'audio', optional 'text'), JSON {\"text\": "
                                    "...} for a text model, or the clip itself as audio/wav"
                               ) from None
            call = _plan(recognizer, kind, fields, request.query_params)
            result = await run_in_threadpool(call)
        except _Refused as exc:
            logger.info("POST /predict: %d %s", exc.status, exc)
            return _error(exc.status, str(exc), exc.headers)
        except FormError as exc:
            return _error(400, str(exc))
        except ClientDisconnect:
            return _error(400, "the client closed the connection before the body was sent")
        except EmoclassicError as exc:  # AudioError, DataError, ConfigError: the input
            status = 422 if isinstance(exc, AudioError) else 400
            logger.info("POST /predict: %d %s", status, _one_line(exc))
            return _error(status, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: logged, one line to the client
            logger.exception("POST /predict failed")
            return _error(500, f"internal error ({type(exc).__name__}); the server log has the "
                               "details")
        logger.debug("POST /predict: %s in %.1f ms", result.label,
                     1000 * (time.perf_counter() - t0))
        return _json(result.to_dict())

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        method, path = request.method, request.url.path
        routes = "GET /, GET /health, GET /model, POST /predict"
        if exc.status_code == 404:
            message = f"no route {path}; the routes are {routes}"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{method} is not allowed on {path}; use {allowed or routes}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the "
                           "details")

    routes = [
        Route("/health", get_health, methods=["GET"]),
        Route("/model", get_model, methods=["GET"]),
        Route("/predict", predict, methods=["POST"]),
    ]
    if page:
        routes.insert(0, Route("/", index, methods=["GET"]))
    app = Starlette(routes=routes,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.recognizer = recognizer
    app.state.max_bytes = max_bytes
    return app
