"""Serving a published object (a CRL, a CA certificate, the CP/CPS) the way HTTP clients and
caches expect: HEAD with the same headers as GET and no body (RFC 9110 §9.3.2), validators
(ETag, Last-Modified) and conditional GET answered ``304 Not Modified`` (RFC 9110 §13), and a
Cache-Control max-age that never reaches past what the object itself says is current (a CRL's
nextUpdate, a certificate's notAfter)."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.wsgi import respond

__all__ = ["Representation", "serve_representation"]


@dataclass(frozen=True)
class Representation:
    body: bytes
    content_type: str
    last_modified: dt.datetime  # aware UTC
    expires: dt.datetime | None = None  # no cache may keep it past this (aware UTC)
    etag: str = field(init=False)

    def __post_init__(self):
        if self.last_modified.tzinfo is None:
            raise ValueError("last_modified must be timezone-aware")
        # A strong validator: the same bytes in every worker and on every host.
        object.__setattr__(self, "etag",
                           '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"')


def _http_date(t: dt.datetime) -> str:
    return email.utils.format_datetime(t.astimezone(dt.timezone.utc), usegmt=True)


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def _not_modified(environ: dict, rep: Representation) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present (weak comparison, §13.1.2);
    otherwise If-Modified-Since, and an unparseable date is ignored."""
    none_match = environ.get("HTTP_IF_NONE_MATCH")
    if none_match is not None:
        tags = _tags(none_match)
        return "*" in tags or rep.etag in tags
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if not since:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        return False
    return rep.last_modified.replace(microsecond=0) <= when


def serve_representation(environ: dict, start_response: Callable, rep: Representation,
                         max_age: int, now: dt.datetime) -> list[bytes]:
    """Answer GET or HEAD for ``rep``; other methods get 405. ``max_age`` is the longest a
    cache may keep it, cut to what is left before ``rep.expires``."""
    method = environ.get("REQUEST_METHOD")
    if method not in ("GET", "HEAD"):
        return respond(start_response, 405, b"GET or HEAD only\n", "text/plain",
                       [("Allow", "GET, HEAD")])
    if rep.expires is not None:
        max_age = max(0, min(max_age, int((rep.expires - now).total_seconds())))
    headers = [("ETag", rep.etag), ("Last-Modified", _http_date(rep.last_modified)),
               ("Cache-Control", f"public, max-age={max_age}, no-transform")]
    if _not_modified(environ, rep):
        start_response("304 Not Modified", headers)
        return []
    start_response("200 OK", [("Content-Type", rep.content_type),
                              ("Content-Length", str(len(rep.body))), *headers])
    return [] if method == "HEAD" else [rep.body]
