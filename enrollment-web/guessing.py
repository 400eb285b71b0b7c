"""The web side of guessed secrets: who is guessing (the client's address, as ``ra.backoff``
counts it) and the page a backed-off guess gets, 429 with Retry-After (RFC 6585 §4)."""

from __future__ import annotations

from flask import render_template, request

from ca.errors import BackedOff
from enrollment_web.forms import add_error
from enrollment_web.i18n import t
from ra.backoff import source_of

__all__ = ["client_source", "wait_message", "backed_off_page", "backed_off_field"]


def client_source() -> str:
    """The client's address; behind a reverse proxy, the proxy must hand it on (README)."""
    return source_of(request.remote_addr)


def wait_message(exc: BackedOff) -> str:
    return t(f"Zbyt wiele nieudanych prób. Spróbuj ponownie za {exc.retry_after} s.",
             f"Too many failed attempts. Try again in {exc.retry_after} s.")


def backed_off_page(exc: BackedOff, template: str, **context):
    """``template`` with the wait as its error, status 429 and Retry-After."""
    return (render_template(template, error=wait_message(exc), **context), 429,
            {"Retry-After": str(exc.retry_after)})


def backed_off_field(form, name: str, exc: BackedOff) -> tuple[int, dict[str, str]]:
    """The wait said next to the guessed field ``name``; the answer's status and headers."""
    add_error(form, name, wait_message(exc))
    return 429, {"Retry-After": str(exc.retry_after)}
