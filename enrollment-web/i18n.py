"""Polish by default, English on request: the two texts sit side by side where they are used.

A page says ``t("Zaloguj", "Log in")``; the language is the visitor's choice kept in the session
(``?lang=en``), never guessed, so a page and its ``<html lang>`` always agree (WCAG 3.1.1).
"""

from __future__ import annotations

from flask import request, session

__all__ = ["LANGUAGES", "current_language", "t", "remember_language"]

LANGUAGES = ("pl", "en")


def current_language() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "pl"


def remember_language() -> None:
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang


def t(pl: str, en: str) -> str:
    return en if current_language() == "en" else pl
