"""The access log line of a request, written by the app itself: gunicorn's default format and
the id of the API key the request came with (``key=-`` for none; ``API_KEY_ENVIRON``), never
its secret. Under gunicorn its own logger writes the same line (regca/server.py); granian's
access log knows nothing of the WSGI environ, so there the app writes it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import unquote_plus

from edge.wsgi import API_KEY_ENVIRON

__all__ = ["AccessLogFile", "AccessLogged", "LoggableTarget", "loggable_query",
           "loggable_target", "TARGET_ENVIRON"]

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


class AccessLogFile:
    """Appends lines to the access log, one ``write`` each.

    A line is one write(2) on a file opened with O_APPEND: the kernel puts it at the end
    whichever worker writes, so lines from several processes never interleave, and it is in
    the file when the request ends. Through ``logging`` the same line cost a third of a
    pre-signed OCSP answer's CPU (a LogRecord, the caller's frame, a lock, a flush). The file
    is opened in each process on its first line, never inherited across a fork.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: tuple[int, int] | None = None  # (pid, descriptor)
        self._second, self._when = -1, ""

    def write(self, line: str) -> None:
        fd = self._fd
        if fd is None or fd[0] != os.getpid():
            fd = self._fd = (os.getpid(), os.open(self.path, os.O_WRONLY | os.O_APPEND
                                                  | os.O_CREAT | os.O_CLOEXEC, 0o600))
        os.write(fd[1], (line + "\n").encode("utf-8", "backslashreplace"))

    def now(self) -> str:
        """The time as gunicorn's ``%(t)s`` shows it, formatted once a second."""
        second = int(time.time())
        if second != self._second:
            self._when = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
            self._second = second
        return self._when


class AccessLogged:
    """WSGI middleware: one line per request to ``log``, once the body is complete.

    Most answers here are complete when the app returns (a list of bytes): their line is
    written then, and the list goes to the server as it is. Wrapping it would make granian
    step through a Python iterator and call back into Python to close it, taking the GIL twice
    more per request: a sixth of a time-stamp's CPU. A streamed body is wrapped and counted as
    it is sent; its line is written when the server closes it.
    """

    def __init__(self, app, log: AccessLogFile):
        self.app, self.log = app, log

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
        get = environ.get
        self.log.write(
            f'{get("REMOTE_ADDR", "-")} - - [{self.log.now()}] "{get("REQUEST_METHOD")} '
            f'{loggable_target(environ)} {get("SERVER_PROTOCOL")}" {status} {sent or "-"} '
            f'"{get("HTTP_REFERER", "-")}" "{get("HTTP_USER_AGENT", "-")}" '
            f'key={get(API_KEY_ENVIRON) or "-"}')


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
