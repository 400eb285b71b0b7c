"""The access log line of a request, written by the app itself: gunicorn's default format and
the id of the API key the request came with (``key=-`` for none; ``API_KEY_ENVIRON``), never
its secret. Under gunicorn its own logger writes the same line (regca/server.py); granian's
access log knows nothing of the WSGI environ, so there the app writes it."""

from __future__ import annotations

import logging
import time

from edge.wsgi import API_KEY_ENVIRON

__all__ = ["AccessLogged"]


class AccessLogged:
    """WSGI middleware: one line per request to ``logger`` once its body has been sent."""

    def __init__(self, app, logger: logging.Logger):
        self.app, self.log = app, logger

    def __call__(self, environ, start_response):
        status = ["-"]

        def recording(code, headers, exc_info=None):
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        body = self.app(environ, recording)
        sent = 0
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            self._write(environ, status[0], sent)

    def _write(self, environ, status: str, sent: int) -> None:
        query = environ.get("QUERY_STRING")
        target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        self.log.info('%s - - [%s] "%s %s %s" %s %s "%s" "%s" key=%s',
                      environ.get("REMOTE_ADDR", "-"), when, environ.get("REQUEST_METHOD"),
                      target, environ.get("SERVER_PROTOCOL"), status, sent or "-",
                      environ.get("HTTP_REFERER", "-"), environ.get("HTTP_USER_AGENT", "-"),
                      environ.get(API_KEY_ENVIRON) or "-")
