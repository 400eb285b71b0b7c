"""How the enrollment web answers the core's error kinds, decided once for every page.

A refusal about what was typed into a form is shown on that form, with the status below; one
that is not about the form (an object of another JST, or none at all) goes on to the error page,
so that the form says nothing more about it. The core's kinds carry no status (ca/errors.py),
and their messages are the API's English: a page says ``messages.explain``'s sentence instead.
"""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ca.errors import (
    BackedOff,
    Conflict,
    Forbidden,
    Malformed,
    NotFound,
    PayloadTooLarge,
    RegCAError,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from ca.store.outage import database_unavailable
from enrollment_web.guessing import wait_message
from enrollment_web.i18n import t
from enrollment_web.messages import explain
from ra.token import TokenError

__all__ = ["status_of", "form_status", "page_message", "error_page", "install_error_pages"]

# The first kind that matches decides. A token that refuses (wrong PIN, full, already
# initialised) is the officer's to fix at the reader, so its form answers 400, not 409.
_STATUS: tuple[tuple[type[RegCAError], int], ...] = (
    (Forbidden, 403),
    (NotFound, 404),
    (TokenError, 400),
    (Unauthorized, 401),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (Malformed, 400),
    (Unprocessable, 400),
    (TooManyRequests, 429),
)
_NOT_ABOUT_THE_FORM = (Forbidden, NotFound)
_SERVICE_FAULT = 503  # the HSM, configuration, a dependency, or a bare RegCAError: try later


def status_of(exc: RegCAError) -> int:
    """The page status for an error kind."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return _SERVICE_FAULT


def form_status(exc: RegCAError) -> int:
    """The status of a form page that shows ``explain(exc)``; re-raises the kinds that belong
    on the error page instead (call it inside the ``except`` that caught ``exc``)."""
    if isinstance(exc, _NOT_ABOUT_THE_FORM):
        raise exc
    return status_of(exc)


def _said_by_the_web(exc: RegCAError) -> bool:
    """Whether a page raised the kind itself, its message already in the visitor's language
    (``raise NotFound(t(...))``): where it was raised is the traceback's innermost frame."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith(
        "enrollment_web.")


def page_message(exc: RegCAError) -> str:
    """What the error page says for ``exc``: the web's own words, or ``messages.explain``'s
    sentence for the core's (whose messages are the API's English)."""
    return exc.message if _said_by_the_web(exc) else explain(exc)[1]


def error_page(status: int, message: str):
    return render_template("error.html", status=status, message=message), status


def install_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return error_page(400, t("Formularz wygasł lub nie pochodzi z tej strony "
                                 "(brak ważnego tokenu CSRF). Wróć i spróbuj ponownie.",
                                 "The form expired or did not come from this site (no valid "
                                 "CSRF token). Go back and try again."))

    @app.errorhandler(RegCAError)
    def _regca(exc: RegCAError):
        if isinstance(exc, BackedOff):  # RFC 6585 §4: say when to come back
            body, status = error_page(429, wait_message(exc))
            return body, status, {"Retry-After": str(exc.retry_after)}
        return error_page(status_of(exc), page_message(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        messages = {403: t("Brak uprawnień do tej strony lub tej JST.",
                           "You are not allowed to see this page or this JST."),
                    404: t("Nie ma takiej strony.", "No such page."),
                    429: t("Zbyt wiele prób. Spróbuj ponownie za minutę.",
                           "Too many attempts. Try again in a minute.")}
        return error_page(exc.code or 500, messages.get(exc.code, exc.description or ""))

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        if database_unavailable(exc):
            app.logger.error("database unavailable: %s", type(exc).__name__)
            return error_page(503, t("Baza danych jest chwilowo niedostępna. Spróbuj za chwilę.",
                                     "The database is unavailable just now. Try again shortly."))
        app.logger.exception("unexpected error")
        return error_page(500, t("Błąd wewnętrzny; operator znajdzie szczegóły w dzienniku.",
                                 "Internal error; the operator will find details in the log."))
