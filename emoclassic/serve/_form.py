"""Request bodies already read into memory, as named fields: multipart forms (python-multipart's
streaming parser, every part kept in memory: no spooled temporary files), URL-encoded forms
and JSON objects.

The body is bounded before it gets here (the app reads at most ``max_bytes``), so holding
the parts in memory costs no more than the body itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

__all__ = ["FormError", "Part", "parse_body"]

#: more parts than this is not a prediction request (audio, text, window, hop, smooth)
MAX_PARTS = 16


class FormError(ValueError):
    """The body is not a well-formed form or JSON object (one line; HTTP 400)."""


@dataclass(frozen=True)
class Part:
    """One field of a request: its bytes, and for an uploaded file its name and type."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise FormError(f"field '{self.name}' is not UTF-8 text; send it as UTF-8") from None


def _multipart():
    try:
        from python_multipart import multipart
    except ImportError:  # python-multipart < 0.0.13 named its module `multipart`
        from multipart import multipart  # type: ignore[no-redef]
    return multipart


def _fields(parts: list[Part]) -> dict[str, Part]:
    out: dict[str, Part] = {}
    if len(parts) > MAX_PARTS:
        raise FormError(f"{len(parts)} form fields; a prediction takes at most {MAX_PARTS}")
    for part in parts:
        if part.name in out:
            raise FormError(f"field '{part.name}' given twice; give each field once")
        out[part.name] = part
    return out


def parse_multipart(body: bytes, content_type: str) -> dict[str, Part]:
    """The fields of a ``multipart/form-data`` body."""
    mp = _multipart()
    _, params = mp.parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise FormError("multipart/form-data without a boundary; let the client build the form "
                        "(curl -F audio=@clip.wav)")
    parts: list[Part] = []
    state: dict = {}

    def on_part_begin() -> None:
        state.update(headers={}, chunks=[], field=b"", value=b"")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["chunks"].append(data[start:end])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state.update(field=b"", value=b"")

    def on_part_end() -> None:
        if len(parts) >= MAX_PARTS:
            raise FormError(f"more than {MAX_PARTS} form fields; a prediction takes fewer")
        headers = state["headers"]
        kind, options = mp.parse_options_header(headers.get(b"content-disposition"))
        name = options.get(b"name")
        if kind != b"form-data" or name is None:
            raise FormError("a multipart part without Content-Disposition: form-data; name=...")
        filename = options.get(b"filename")
        ctype = headers.get(b"content-type")
        parts.append(Part(
            name=name.decode("utf-8", "replace"),
            data=b"".join(state["chunks"]),
            filename=None if filename is None else filename.decode("utf-8", "replace"),
            content_type=None if ctype is None else ctype.decode("latin-1"),
        ))

    callbacks = {"on_part_begin": on_part_begin, "on_part_data": on_part_data,
                 "on_part_end": on_part_end, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end}
    parser = mp.MultipartParser(boundary, callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except FormError:
        raise
    except Exception as exc:  # noqa: BLE001 - the parser raises several types on bad input
        msg = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise FormError(f"the multipart body is malformed ({msg}); let the client build the "
                        "form (curl -F audio=@clip.wav)") from None
    if not parts and body.strip():
        raise FormError("the multipart body holds no field (is its boundary right?)")
    return _fields(parts)


def parse_urlencoded(body: bytes) -> dict[str, Part]:
    """The fields of an ``application/x-www-form-urlencoded`` body (text fields only)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_PARTS)
    except UnicodeDecodeError:
        raise FormError("the form is not UTF-8; send it as UTF-8") from None
    except ValueError as exc:
        raise FormError(" ".join(str(exc).split())) from None
    return _fields([Part(name=k, data=v.encode("utf-8")) for k, v in pairs])


def parse_json(body: bytes) -> dict[str, Part]:
    """The members of a JSON object, each as a text field (numbers as their JSON text)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise FormError(f"the body is not valid UTF-8 JSON{where}; send an object such as "
                        '{"text": "..."}') from None
    if not isinstance(doc, dict):
        raise FormError(f'the JSON body is a {type(doc).__name__}, not an object; send '
                        '{"text": "..."}')
    parts = []
    for key, value in doc.items():
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            raise FormError(f"JSON member '{key}' is a {type(value).__name__}; give a string "
                            "or number")
        data = value if isinstance(value, str) else json.dumps(value)
        parts.append(Part(name=str(key), data=data.encode("utf-8")))
    return _fields(parts)


def parse_body(body: bytes, content_type: str) -> tuple[str, dict[str, Part]]:
    """``(kind, fields)`` of a request body: kind ``form`` (multipart or URL-encoded),
    ``json`` or ``audio`` (the body is the clip itself: field ``audio``).

    Raises :class:`LookupError` for a media type that is none of these.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        return "form", parse_multipart(body, content_type)
    if media == "application/x-www-form-urlencoded":
        return "form", parse_urlencoded(body)
    if media == "application/json" or media.endswith("+json"):
        return "json", parse_json(body)
    if media.startswith("audio/") or media == "application/octet-stream":
        return "audio", {"audio": Part(name="audio", data=body, content_type=media)}
    raise LookupError(media or "none")
