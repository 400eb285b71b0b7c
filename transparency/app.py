"""``/transparency/v1``: the signed tree head, inclusion and consistency proofs, entries
(CONTRACT.md, "Issuance transparency log"). Plain WSGI, read-only: the front holds a
``LogReader`` (ca/transparency.py) and nothing else of the core, no key.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

from ca.errors import DependencyUnavailable, Malformed, RegCAError
from ca.store.outage import database_unavailable
from ca.transparency import LogReader
from edge.problems import status_of
from edge.wsgi import json_response

__all__ = ["TransparencyApp"]

_PREFIX = "/transparency/v1/"


def _int(query: dict, name: str) -> int:
    values = query.get(name)
    if not values:
        raise Malformed(f"query parameter {name} is required")
    try:
        value = int(values[0])
    except ValueError:
        raise Malformed(f"{name} must be an integer") from None
    if value < 0:
        raise Malformed(f"{name} must not be negative")
    return value


class TransparencyApp:
    def __init__(self, log: LogReader):
        self.log = log

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return json_response(start_response, 405, {"error": {
                "code": "method_not_allowed", "message": "only GET"}})
        try:
            body = self._answer(path.removeprefix(_PREFIX), query)
        except RegCAError as exc:
            status = status_of(exc)
            message = exc.message if status < 500 else "the log is not available now"
            return json_response(start_response, status,
                                 {"error": {"code": exc.code, "message": message}})
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return json_response(start_response, 503, {"error": {
                "code": DependencyUnavailable.code, "message": "the log is not available now"}})
        if body is None:
            return json_response(start_response, 404, {"error": {
                "code": "not_found", "message": f"no route for {path}"}})
        return json_response(start_response, 200, body)

    def _answer(self, name: str, query: dict) -> dict | None:
        b64 = base64.b64encode
        if name == "sth":
            return self.log.latest().to_json()
        if name == "proof":
            serial = (query.get("serial") or [""])[0]
            if not serial:
                raise Malformed("query parameter serial is required")
            return self.log.inclusion(serial).to_json()
        if name == "consistency":
            first, second = _int(query, "first"), _int(query, "second")
            proof = self.log.consistency(first, second)
            return {"first": first, "second": second,
                    "proof": [b64(h).decode() for h in proof]}
        if name == "entries":
            start, end = _int(query, "start"), _int(query, "end")
            return {"entries": [{"index": i, "leaf": b64(e).decode()}
                                for i, e in self.log.entries(start, end)]}
        return None
