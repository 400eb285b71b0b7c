"""Polish by default, English on request.

Short page texts sit side by side where they are used: ``t("Zaloguj", "Log in")``. What needs
grammar (plural forms: 1 zdarzenie, 2 zdarzenia, 5 zdarzeń) or names codes (roles, token states,
revocation reasons, event names) goes through Flask-Babel's catalogue in ``translations/``,
whose message ids are English. The language is the visitor's choice kept in the session
(``?lang=en``), never guessed, so a page and its ``<html lang>`` always agree (WCAG 3.1.1).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel, gettext, ngettext

from ca.months import WARSAW

__all__ = ["LANGUAGES", "TRANSLATIONS", "current_language", "t", "lt", "remember_language",
           "init_babel", "gettext", "ngettext", "WARSAW", "local_time"]

LANGUAGES = ("pl", "en")
TRANSLATIONS = Path(__file__).parent / "translations"


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as Polish local time, summer time included: the office's time,
    pages never show UTC (issue 18)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(WARSAW).strftime(fmt)


def current_language() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "pl"


def remember_language() -> None:
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang


def t(pl: str, en: str) -> str:
    return en if current_language() == "en" else pl


class lt:  # noqa: N801 - reads as the lazy twin of t()
    """``t(pl, en)`` decided when shown, not when made: a validator's message is built at
    import time, long before a visitor picks a language."""

    def __init__(self, pl: str, en: str):
        self.pl, self.en = pl, en

    def __str__(self) -> str:
        return t(self.pl, self.en)

    def __mod__(self, values) -> str:  # WTForms fills %(min)d, %(max)d this way
        return str(self) % values

    def __html__(self) -> str:
        from markupsafe import escape
        return str(escape(str(self)))


def init_babel(app: Flask) -> None:
    """Flask-Babel with the page's language; Flask-WTF then shows WTForms' own messages
    (a date it cannot read...) in that language too."""
    Babel(app, locale_selector=current_language,
          default_translation_directories=str(TRANSLATIONS))
