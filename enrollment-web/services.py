"""What the pages are given (regca/roles.py): the registration authority, which acts, and a
read-only view of the store, which the pages read through; never the CA's context."""

from __future__ import annotations

from flask import current_app

from ca.services import ReadOnlyStore
from ra.authority import RegistrationAuthority
from ra.sessions import WebSessions

__all__ = ["authority", "store", "sessions"]


def authority() -> RegistrationAuthority:
    return current_app.config["REGCA_RA"]


def store() -> ReadOnlyStore:
    return current_app.config["REGCA_STORE"]


def sessions() -> WebSessions:
    return current_app.config["WEB_SESSIONS"]
