"""Secrets that exist only once (a token's SO PIN, a pickup code) carried from the page that
made them to the PDF that prints them, without showing them on screen or storing them.

The page gets an opaque value: the secret encrypted with AES-256-GCM under a key derived from
the session-signing key (HKDF, its own ``info``), bound to its purpose and to the officer, with
the time it was made; the print view opens it within ``MAX_AGE`` and refuses anything else.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

__all__ = ["MAX_AGE", "seal", "unseal"]

MAX_AGE = dt.timedelta(minutes=30)  # the session's own lifetime: print it before you go


def _key() -> bytes:
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else secret.encode()
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"regca enrollment-web sealed printables"
                ).derive(secret)


def seal(purpose: str, owner: str, now: dt.datetime, values: dict) -> str:
    nonce = os.urandom(12)
    body = json.dumps({"at": now.isoformat(), **values}).encode()
    box = AESGCM(_key()).encrypt(nonce, body, f"{purpose}\0{owner}".encode())
    return base64.urlsafe_b64encode(nonce + box).decode()


def unseal(purpose: str, owner: str, now: dt.datetime, token: str) -> dict | None:
    """The values, or None when the token is not one this app sealed for this purpose and
    officer, or is older than ``MAX_AGE``."""
    try:
        raw = base64.urlsafe_b64decode(token.encode())
        body = AESGCM(_key()).decrypt(raw[:12], raw[12:], f"{purpose}\0{owner}".encode())
        values = json.loads(body)
        made = dt.datetime.fromisoformat(values.pop("at"))
    except (binascii.Error, ValueError, InvalidTag, KeyError, TypeError):
        return None
    if not dt.timedelta(0) <= now - made <= MAX_AGE:
        return None
    return values
