"""JSON problems for a Flask app under /api/v1 (CONTRACT.md, "Errors on /api/v1")."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ca.errors import RegCAError

__all__ = ["install_json_errors", "problem"]


def problem(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


def install_json_errors(app: Flask) -> None:
    """Every error leaves as JSON: the core's errors by their kind, HTTP ones by status, and
    anything unexpected as a 500 without internals."""

    @app.errorhandler(RegCAError)
    def _regca(exc: RegCAError):
        status, body = exc.problem()
        return jsonify(body), status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return problem(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        app.logger.exception("unexpected error")
        return problem(500, "internal", "internal error; the operator has been notified in "
                       "the service log")
