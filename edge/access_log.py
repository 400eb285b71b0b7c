"""The access log line of a request, written by the app itself: gunicorn's default format and
the id of the API key the request came with (``key=-`` for none; ``API_KEY_ENVIRON``), never
its secret. Under gunicorn its own logger writes the same line (regca/server.py); granian's
access log knows nothing of the WSGI environ, so there the app writes it."""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote_plus

from edge.wsgi import API_KEY_ENVIRON

__all__ = ["AccessLogged", "LoggableTarget", "loggable_query", "loggable_target",
           "TARGET_ENVIRON"]

# Where gunicorn's access-log format finds the request target fit to log (regca/server.py).
TARGET_ENVIRON = "regca.log_target"

# A person's PESEL never goes into a log (the auditor's GET search takes one as ``pesel``, the
# enrolments' search box as ``q``): its value is replaced, however the parameter's name is cased
# or percent-encoded.
_REDACTED = frozenset({"pesel", "q"})


def loggable_query(query: str) -> str:
    """``query`` as the access log may keep it: the value of a ``pesel`` or ``q`` parameter
    replaced."""
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        if sep and unquote_plus(name).strip().lower() in _REDACTED:
            parts[i] = f"{name}=[redacted]"
    return "&".join(parts)


def loggable_target(environ) -> str:
    """The request's path and query as a log line shows them."""
    query = loggable_query(environ.get("QUERY_STRING") or "")
    return environ.get("PATH_INFO", "") + (f"?{query}" if query else "")


class LoggableTarget:
    """WSGI middleware for gunicorn: the target its access-log line shows (``TARGET_ENVIRON``,
    read by ``%({regca.log_target}e)s``) instead of the raw request line."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ[TARGET_ENVIRON] = loggable_target(environ)
        return self.app(environ, start_response)


class AccessLogged:
    """WSGI middleware: one line per request to ``logger``, once the body is complete.

    Most answers here are complete when the app returns (a list of bytes): their line is
    written then, and the list goes to the server as it is. Wrapping it would make granian
    step through a Python iterator and call back into Python to close it, taking the GIL twice
    more per request: a sixth of a time-stamp's CPU. A streamed body is wrapped and counted as
    it is sent; its line is written when the server closes it.
    """

    def __init__(self, app, logger: logging.Logger):
        self.app, self.log = app, logger

    def __call__(self, environ, start_response):
        status = ["-"]

        def recording(code, headers, exc_info=None):
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        # Called now, not from a generator: the server reads the status and headers when this
        # returns (granian does not wait for the first chunk).
        body = self.app(environ, recording)
        if type(body) is list:
            self._write(environ, status[0], sum(map(len, body)))
            return body
        return _Body(body, lambda sent: self._write(environ, status[0], sent))

    def _write(self, environ, status: str, sent: int) -> None:
        target = loggable_target(environ)
        when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        self.log.info('%s - - [%s] "%s %s %s" %s %s "%s" "%s" key=%s',
                      environ.get("REMOTE_ADDR", "-"), when, environ.get("REQUEST_METHOD"),
                      target, environ.get("SERVER_PROTOCOL"), status, sent or "-",
                      environ.get("HTTP_REFERER", "-"), environ.get("HTTP_USER_AGENT", "-"),
                      environ.get(API_KEY_ENVIRON) or "-")


class _Body:
    """The app's body, counted as it is sent; the line is written when the server closes it."""

    def __init__(self, body, done):
        self._body, self._done, self.sent = body, done, 0

    def __iter__(self):
        for chunk in self._body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done(self.sent)
