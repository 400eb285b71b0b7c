"""A browser-less visitor of the enrollment web: follows forms the way a person would, CSRF
token included, and logs staff in with password and TOTP at the test's pinned time."""

from __future__ import annotations

import re

import pyotp
from werkzeug.test import Client

from ca.field_crypto import totp_secret_of
from ca.store import accounts
from ra.users import create_user

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="(?:[a-z]+-)?csrf_token" type="hidden" value="([^"]+)"')


def add_staff(ctx, username: str, role: str, orgs=()) -> str:
    """A staff log-in whose TOTP secret is already enrolled (sealed, as the RA keeps it);
    returns the secret."""
    create_user(ctx, username, PASSWORD, role, list(orgs), actor="test")
    secret = pyotp.random_base32(32)
    sealed = ctx.fields.seal(secret, totp_secret_of(username))
    with ctx.db.transaction() as s:
        accounts.get_user(s, username).totp_secret = sealed
    return secret


def next_totp(ctx, secret: str) -> str:
    """A fresh code: the pinned clock moves on one TOTP step first, because a code already
    used must not log in again (RFC 6238 §5.2)."""
    ctx.clock.advance(seconds=30)
    return pyotp.TOTP(secret).at(ctx.now())


class Visitor:
    def __init__(self, app, ctx):
        self.client = Client(app)
        self.ctx = ctx

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        match = _CSRF.search(page.text)
        assert match, f"no CSRF token on {path} ({page.status_code})"
        return match.group(1)

    def post(self, path: str, data: dict | None = None, form_page: str | None = None, **kw):
        """POST as the form on ``form_page`` (default: ``path``) would, with its CSRF token."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf(form_page or path))
        return self.client.post(path, data=data, **kw)

    def login(self, username: str, secret: str, password: str = PASSWORD):
        r = self.post("/login", {"username": username, "password": password})
        assert r.status_code == 302, r.text
        code = next_totp(self.ctx, secret)
        r = self.post("/login/totp", {"code": code})
        assert r.status_code == 302, r.text
        return self

    def pickup(self, code: str):
        return self.post("/pickup", {"code": code})


def pickup_code(page_text: str) -> str:
    return re.search(r'id="pickup-code">([^<]+)<', page_text).group(1)
