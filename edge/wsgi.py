"""Plain-WSGI helpers shared by the protocol services (OCSP, TSA, repository): no framework,
and outside the core, which knows no HTTP status."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

__all__ = ["API_KEY_ENVIRON", "respond", "json_response", "read_body", "BodyTooLarge"]

# The WSGI environ key a front sets to the id of the API key a request came with, so that
# `regca serve`'s access log names the key (never the secret) beside the request.
API_KEY_ENVIRON = "regca.api_key"

_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 413: "Content Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


class BodyTooLarge(Exception):
    pass


def respond(start_response: Callable, status: int, body: bytes, content_type: str,
            headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    start_response(f"{status} {_REASONS.get(status, 'Status')}",
                   [("Content-Type", content_type), ("Content-Length", str(len(body))),
                    *headers])
    return [body]


def json_response(start_response: Callable, status: int, payload: dict) -> list[bytes]:
    return respond(start_response, status, json.dumps(payload).encode(), "application/json")


_DRAIN_LIMIT = 8 * 1024 * 1024


def _drain(stream, length: int, most: int = _DRAIN_LIMIT) -> None:
    """Read and drop a refused body of moderate size (up to ``most`` bytes), so the client
    finishes sending and reads our error instead of a reset connection; larger ones are cut
    off."""
    left = min(length, most)
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)


def read_body(environ: dict, limit: int, drain: int = _DRAIN_LIMIT) -> bytes:
    """The whole request body, whatever its transfer encoding, refusing more than ``limit``
    bytes without keeping them (BodyTooLarge). A body with Content-Length is refused before a
    byte is read; a chunked one (no Content-Length: the server decodes it and ends the stream,
    ``wsgi.input_terminated``; from a server that does not, the body is empty) is read until its
    end and refused once it passes the limit, so
    nothing is ever handed on cut short. An excess of up to ``drain`` bytes is read and dropped
    so that the client reads the refusal instead of a reset connection."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    if length > limit:
        _drain(stream, length, drain)
        raise BodyTooLarge(f"request body over {limit} bytes")
    if length:
        return stream.read(length)
    if not environ.get("wsgi.input_terminated"):
        # Without a length, only a server that ends the stream itself (gunicorn, Werkzeug's)
        # says where the body ends; reading another's would wait for the client to hang up.
        return b""
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(65536, limit + 1 - len(data)))
        if not chunk:
            return bytes(data)
        data += chunk
    _drain(stream, drain, drain)
    raise BodyTooLarge(f"request body over {limit} bytes")
