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
_FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')


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
        return self.form_tokens(path)["csrf_token"]

    def form_tokens(self, path: str) -> dict[str, str]:
        """The hidden fields a form on ``path`` carries: its CSRF token and, where the page
        has one, its idempotency key (enrollment_web/once.py)."""
        page = self.client.get(path)
        match = _CSRF.search(page.text)
        assert match, f"no CSRF token on {path} ({page.status_code})"
        tokens = {"csrf_token": match.group(1)}
        key = _FORM_KEY.search(page.text)
        if key:
            tokens["form_key"] = key.group(1)
        return tokens

    def post(self, path: str, data: dict | None = None, form_page: str | None = None, **kw):
        """POST as the form on ``form_page`` (default: ``path``) would, with its CSRF token
        and idempotency key."""
        data = dict(data or {})
        for name, value in self.form_tokens(form_page or path).items():
            data.setdefault(name, value)
        return self.client.post(path, data=data, **kw)

    def post_twice(self, path: str, data: dict, form_page: str | None = None,
                   first_status: int = 303) -> str:
        """The same rendered form submitted twice (a double click, or the back button and
        submit): both answers lead to one result page, whose address this returns. A log-in
        step answers its first submission 302."""
        tokens = self.form_tokens(form_page or path)
        first = self.client.post(path, data={**tokens, **data})
        second = self.client.post(path, data={**tokens, **data})
        assert (first.status_code, second.status_code) == (first_status, 303), (
            first.text, second.text)
        assert first.headers["Location"] == second.headers["Location"]
        return first.headers["Location"]

    def login(self, username: str, secret: str, password: str = PASSWORD):
        r = self.post("/login", {"username": username, "password": password})
        assert r.status_code == 302, r.text
        code = next_totp(self.ctx, secret)
        r = self.post("/login/totp", {"code": code})
        assert r.status_code == 302, r.text
        return self

    def pickup(self, code: str):
        return self.post("/pickup", {"code": code})


def record_enrolment(v: Visitor, data: dict) -> tuple[int, str]:
    """An officer records an applicant (confirming the duplicate-person warning when the same
    person is enrolled again) and reads the result page: (enrolment id, pickup code)."""
    r = v.post("/enrolments/new", {"confirm_duplicate": "y", **data})
    assert r.status_code == 303, r.text
    page = v.get(r.headers["Location"]).text
    return int(re.search(r'href="/enrolments/(\d+)"', page)[1]), pickup_code(page)


def issued_serials(page_text: str) -> list[str]:
    """The serials an "issued" result page lists."""
    listed = re.search(r'<ul id="issued">(.*?)</ul>', page_text, re.S)[1]
    return re.findall(r'<code class="wrap">([0-9a-f]+)</code>', listed)


def issue_from_csr(v: Visitor, enrolment_id: int, csr: bytes,
                   profile: str = "resident-signing") -> str:
    """An officer issues from a CSR on the enrolment's page; the serial from the result."""
    import io
    r = v.post(f"/enrolments/{enrolment_id}/csr",
               {"profile": profile, "csr": (io.BytesIO(csr), "r.pem")},
               form_page=f"/enrolments/{enrolment_id}")
    assert r.status_code == 303, r.text
    return issued_serials(v.get(r.headers["Location"]).text)[0]


def revoke_at_desk(v: Visitor, serial: str, reason: str = "keyCompromise"):
    """An officer revokes on the confirmation page (the answer: 303 when done)."""
    return v.post(f"/certificates/{serial}/revoke", {"reason": reason})


def pickup_code(page_text: str) -> str:
    return re.search(r'id="pickup-code">([^<]+)<', page_text).group(1)
