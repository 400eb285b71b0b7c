"""The one error mapper for ``/api/v1`` (CONTRACT.md, "Errors on /api/v1").

The core's error kinds carry no HTTP status; this table gives each its status, as Boulder's
``web/probs.go`` does for ``errors/errors.go``. Every app under ``/api/v1`` (the signing API, the
RA API) installs it, so one kind answers the same everywhere. The body is always
``{"error": {"code", "message"}}``: the kind's code, Flask's own 404/405/413 by name, and
``internal`` for anything unexpected. Every 5xx is logged; a 500 (a bare RegCAError, a broken
configuration, an exception nobody raised on purpose) never describes itself to the caller. A
database that is away is the service's fault but not a bug: 503 ``dependency_unavailable``, as
an HSM that is away is 503 ``hsm_unavailable``.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ca.errors import (
    ConfigurationError,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    HsmUnavailable,
    Malformed,
    NotFound,
    PayloadTooLarge,
    RegCAError,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from ca.store.outage import database_unavailable

__all__ = ["STATUS", "status_of", "problem", "install_problems", "api_fallback"]

log = logging.getLogger("regca.api")

# Kind -> status. A kind not listed answers as its nearest listed ancestor; RegCAError itself
# (raised bare, or a kind nobody mapped) is the service's fault.
STATUS: dict[type[RegCAError], int] = {
    Malformed: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    Unprocessable: 422,
    TooManyRequests: 429,
    RegCAError: 500,
    ConfigurationError: 500,
    HsmUnavailable: 503,
    DependencyUnavailable: 503,
}

# Flask's own refusals that have a name in the contract; others answer by their HTTP name.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}

_INTERNAL_MESSAGE = "internal error; the operator will find the details in the service log"
_DATABASE_AWAY = "the database is unavailable; try again shortly"


def status_of(exc: RegCAError) -> int:
    """The HTTP status of an error kind: its own entry in STATUS, else its nearest ancestor's."""
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def problem(status: int, code: str, message: str) -> Response:
    """The contract's JSON error body with ``status``."""
    body = {"error": {"code": code, "message": message}}
    return Response(json.dumps(body, ensure_ascii=False), status, mimetype="application/json")


def _http_code(exc: HTTPException) -> str:
    if exc.code in _HTTP_CODES:
        return _HTTP_CODES[exc.code]
    return (exc.name or "bad request").lower().replace(" ", "_").replace("-", "_")


def install_problems(app: Flask) -> None:
    """Answer every error raised in ``app``'s views as the contract's JSON problem."""

    @app.errorhandler(RegCAError)
    def _kind(exc: RegCAError):
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s (%s)", request.method, request.path, exc.message,
                      exc.code)
        if status == 500:  # the service is broken, not busy: its details are the operator's
            return problem(500, exc.code, _INTERNAL_MESSAGE)
        return problem(status, exc.code, exc.message)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        message = (f"the body is over the {limit}-byte limit" if limit
                   else "the body is too large")
        return problem(413, PayloadTooLarge.code, message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return problem(exc.code or 500, _http_code(exc), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if database_unavailable(exc):
            log.error("%s %s failed: database unavailable: %s", request.method, request.path,
                      type(exc).__name__)
            return problem(503, DependencyUnavailable.code, _DATABASE_AWAY)
        # The traceback goes to the log for the operator; the caller learns nothing internal.
        log.exception("%s %s: unexpected %s", request.method, request.path,
                      type(exc).__name__)
        return problem(500, "internal", _INTERNAL_MESSAGE)


def api_fallback() -> Flask:
    """An app without routes for the rest of ``/api/v1``: a path no API serves answers the
    JSON 404 here, not the enrollment web's HTML page."""
    app = Flask("api-v1")
    install_problems(app)
    return app
