"""TOTP secrets and PESELs encrypted at rest: a copy of the database alone reveals neither.

A demo run goes through the real web (an officer sets up TOTP, enrols a resident with a PESEL);
then the database's own files (``-wal`` and ``-shm`` included) are read byte by byte, the
``sqlite3`` client dumps the copy, and every table of either backend is dumped row by row. The
same run checks what must still work with the values sealed (log-in with TOTP, the enrolment's
pages, the PESEL in the subject a certificate gets, exact search by PESEL), what a moved or
changed value does (it does not open), how a home made before sealing gets there, and that
without the HSM's key-encryption key the web answers 503, never 500.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys

import pyotp
import pytest
from conftest import PINNED, fresh_database, make_home
from sqlalchemy import create_engine, inspect, select, text
from webclient import PASSWORD, Visitor, next_totp, pickup_code

from ca.clock import FixedClock
from ca.context import CaContext
from ca.field_crypto import BrokenSeal, pesel_of, totp_secret_of
from ca.identity import mask_pesel
from ca.store import accounts
from ca.store.models import Enrolment
from ra import enrolment as enrol
from ra.users import create_user
from regca.roles import read_only_store
from regca.sealed_fields import seal_clear_fields
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
JST = "0862011"
PESEL = "44051401359"
OTHER_PESEL = "02270803624"
SURNAME = "Wiśniewski"


def _app(ctx):
    return create_app(ctx.settings.home, ctx)


def _set_up_totp(app, ctx, username: str) -> str:
    """The officer's first log-in: the secret the set-up page shows, confirmed with a code."""
    v = Visitor(app, ctx)
    r = v.post("/login", {"username": username, "password": PASSWORD})
    assert r.headers["Location"] == "/login/totp-setup"
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', v.get("/login/totp-setup").text)[1]
    r = v.post("/login/totp-setup", {"code": pyotp.TOTP(secret).at(ctx.now())})
    assert r.status_code == 302, r.text
    return secret


def _enrol(v: Visitor, pesel: str) -> int:
    r = v.post("/enrolments/new", {"kind": "resident", "organization_teryt": JST,
                                   "given_name": "Adam", "surname": SURNAME, "pesel": pesel,
                                   "revocation_password": "haslo-do-uniewaznienia"})
    assert r.status_code == 200, r.text
    assert pickup_code(r.text)
    return int(re.search(r'href="/enrolments/(\d+)"', r.text)[1])


@pytest.fixture(scope="module")
def demo(backend, tmp_path_factory):
    """A home after a demo run through the web: an officer set up TOTP and enrolled a resident
    with a PESEL."""
    tmp = tmp_path_factory.mktemp(f"atrest-{backend}")
    with fresh_database(backend, tmp) as url:
        ctx = make_home(tmp / "home", url)
        create_user(ctx, "officer_x", PASSWORD, "officer", [JST], actor="test")
        app = _app(ctx)
        secret = _set_up_totp(app, ctx, "officer_x")
        v = Visitor(app, ctx).login("officer_x", secret)
        enrolment_id = _enrol(v, PESEL)
        yield ctx, app, secret, enrolment_id
        ctx.db.dispose()


def _secrets_in(data: bytes | str, secret: str) -> list[str]:
    """Which of the demo's secrets ``data`` holds: the PESEL, the TOTP secret as base32 text
    or as its raw bytes."""
    if isinstance(data, str):
        data = data.encode()
    found = []
    for name, needle in (("PESEL", PESEL.encode()), ("TOTP secret", secret.encode()),
                         ("TOTP secret bytes", base64.b32decode(secret)),
                         ("TOTP secret lowercase", secret.lower().encode())):
        if needle in data:
            found.append(name)
    return found


def _table_dump(ctx) -> str:
    """Every row of every table, as text: what ``SELECT *`` shows anyone holding a copy."""
    engine = create_engine(ctx.settings.database_url)
    try:
        lines = []
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    lines.append(f"{table}: " + " | ".join(
                        v.hex() + " " + v.decode("latin-1") if isinstance(v, bytes) else str(v)
                        for v in row))
        return "\n".join(lines)
    finally:
        engine.dispose()


def _copy_sqlite_files(ctx, dest) -> list:
    """The database's files as another account's ``cp`` copies them. Another process: closing
    a file this process opened would drop the POSIX locks its SQLite connections hold (SQLite's
    "How To Corrupt" §2.2), which no real copy does."""
    dest.mkdir()
    files = [str(p) for p in ctx.db.files if p.exists() and p.suffix != ".writers"]
    subprocess.run(["cp", *files, str(dest)], check=True)
    return sorted(dest.iterdir())


# -- what a copy of the database shows ------------------------------------------------------------

def test_a_pg_dump_of_the_database_holds_neither_pesel_nor_totp_secret(demo):
    """What a backup or a stolen dump of a PostgreSQL home shows, by PostgreSQL's own client."""
    ctx, _, secret, _ = demo
    if ctx.db.dialect != "postgresql":
        pytest.skip("pg_dump reads PostgreSQL; the SQLite files are read below")
    url = ctx.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, text=True,
                          check=True).stdout
    assert SURNAME in dump and "data_keys" in dump
    assert _secrets_in(dump, secret) == []


def test_the_database_files_copied_out_hold_neither_pesel_nor_totp_secret(demo, tmp_path):
    ctx, _, secret, _ = demo
    if ctx.db.dialect != "sqlite":
        pytest.skip("the files of a server database are the server's: pg_dump reads them above")
    copied = _copy_sqlite_files(ctx, tmp_path / "copy")
    assert any(str(p).endswith("-wal") for p in copied)  # the WAL is read too
    raw = b"".join(p.read_bytes() for p in copied)
    assert SURNAME.encode() in raw  # the copy holds the demo run's rows: a clear value shows
    assert _secrets_in(raw, secret) == []
    dump = subprocess.run(["sqlite3", str(tmp_path / "copy" / "regca.db"), ".dump"],
                          capture_output=True, text=True, check=True).stdout
    assert SURNAME in dump and "INSERT INTO enrolments" in dump
    assert _secrets_in(dump, secret) == []


def test_no_table_holds_the_pesel_or_the_totp_secret(demo):
    ctx, _, secret, enrolment_id = demo
    dump = _table_dump(ctx)
    assert SURNAME in dump
    assert _secrets_in(dump, secret) == []
    with ctx.db.reading() as s:
        e = s.get(Enrolment, enrolment_id)
        user = accounts.get_user(s, "officer_x")
    assert e.pesel_sealed.startswith("v1.") and user.totp_secret.startswith("v1.")


# -- what still works -----------------------------------------------------------------------------

def test_log_in_with_totp_works_with_the_secret_sealed(demo):
    ctx, app, secret, _ = demo
    v = Visitor(app, ctx).login("officer_x", secret)
    assert v.get("/enrolments").status_code == 200


def test_a_wrong_totp_code_is_still_refused(demo):
    ctx, app, secret, _ = demo
    v = Visitor(app, ctx)
    v.post("/login", {"username": "officer_x", "password": PASSWORD})
    good = next_totp(ctx, secret)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    assert v.post("/login/totp", {"code": wrong}).status_code == 401


def test_the_enrolment_pages_show_the_opened_pesel_masked(demo):
    ctx, app, secret, enrolment_id = demo
    v = Visitor(app, ctx).login("officer_x", secret)
    for page in (v.get(f"/enrolments/{enrolment_id}").text, v.get("/enrolments").text):
        assert mask_pesel(PESEL) in page and PESEL not in page


def test_the_subject_of_a_certificate_gets_the_opened_pesel(demo):
    ctx, _, _, enrolment_id = demo
    e = enrol.visible(read_only_store(ctx), enrolment_id, (JST,))
    assert enrol.subject_of(e)["pesel"] == PESEL


def test_exact_search_by_pesel_finds_the_enrolment_by_its_keyed_reference(demo):
    ctx, _, _, enrolment_id = demo
    store = read_only_store(ctx)
    assert [e.id for e in enrol.find_by_pesel(store, PESEL, (JST,))] == [enrolment_id]
    assert enrol.find_by_pesel(store, PESEL, ("0861011",)) == []  # another JST's officer
    assert enrol.find_by_pesel(store, OTHER_PESEL, None) == []
    with ctx.db.reading() as s:
        assert s.get(Enrolment, enrolment_id).person_ref == ctx.people.ref(PESEL)


def test_an_officer_finds_the_person_by_pesel_on_the_enrolments_page(demo):
    ctx, app, secret, enrolment_id = demo
    v = Visitor(app, ctx).login("officer_x", secret)
    r = v.post("/enrolments/search", {"pesel": PESEL}, form_page="/enrolments")
    assert r.status_code == 200
    assert f'href="/enrolments/{enrolment_id}"' in r.text and mask_pesel(PESEL) in r.text
    r = v.post("/enrolments/search", {"pesel": OTHER_PESEL}, form_page="/enrolments")
    assert r.status_code == 200 and 'id="no-match"' in r.text
    r = v.post("/enrolments/search", {"pesel": PESEL[:-1] + "8"}, form_page="/enrolments")
    assert r.status_code == 400 and "pesel:" in r.text


# -- what a sealed value refuses ------------------------------------------------------------------

def test_a_sealed_value_does_not_open_in_another_row(demo):
    ctx, _, secret, _ = demo
    sealed = ctx.fields.seal(secret, totp_secret_of("officer_x"))
    assert ctx.fields.open(sealed, totp_secret_of("officer_x")) == secret
    with pytest.raises(BrokenSeal):
        ctx.fields.open(sealed, totp_secret_of("admin"))
    with pytest.raises(BrokenSeal):
        ctx.fields.open(ctx.fields.seal(PESEL, pesel_of(1)), pesel_of(2))


def test_a_changed_or_clear_value_does_not_open(demo):
    ctx, _, secret, _ = demo
    sealed = ctx.fields.seal(secret, totp_secret_of("officer_x"))
    head, body = sealed.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(BrokenSeal):
        ctx.fields.open(f"{head}.{base64.urlsafe_b64encode(bytes(raw)).decode()}",
                        totp_secret_of("officer_x"))
    with pytest.raises(BrokenSeal):
        ctx.fields.open(secret, totp_secret_of("officer_x"))  # a clear value is not trusted


# -- rotation -------------------------------------------------------------------------------------

def test_rotation_seals_every_value_again_with_a_new_data_key(demo):
    ctx, app, secret, enrolment_id = demo
    before = ctx.fields.current_key_id()
    done = subprocess.run([sys.executable, "-m", "regca.cli", "--home", str(ctx.settings.home),
                           "fields", "rotate"], capture_output=True, text=True,
                          env=dict(os.environ, REGCA_HOME=str(ctx.settings.home)))
    assert done.returncode == 0, done.stderr
    new = int(re.search(r"data key (\d+) made", done.stdout)[1])
    assert new > before
    with ctx.db.reading() as s:
        e = s.get(Enrolment, enrolment_id)
        user = accounts.get_user(s, "officer_x")
    assert e.pesel_sealed.startswith(f"v1.{new}.") and user.totp_secret.startswith(f"v1.{new}.")
    # a worker that has not looked again yet seals with the old key: that still opens
    stale = ctx.fields.seal(PESEL, pesel_of(enrolment_id))
    assert stale.startswith(f"v1.{before}.")
    fresh = CaContext.open(ctx.settings.home, ctx.clock)
    assert fresh.fields.open(stale, pesel_of(enrolment_id)) == PESEL
    assert fresh.fields.current_key_id() == new
    v = Visitor(app, ctx).login("officer_x", secret)
    assert mask_pesel(PESEL) in v.get(f"/enrolments/{enrolment_id}").text
    assert _secrets_in(_table_dump(ctx), secret) == []


# -- without the HSM's key ------------------------------------------------------------------------

def _delete_kek(ctx) -> None:
    """The HSM loses the key-encryption key (pkcs11-tool, another process, deletes it)."""
    token = ctx.settings.hsm.tokens["online"]
    env = dict(os.environ, SOFTHSM2_CONF=str(ctx.settings.hsm.softhsm_conf))
    done = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", token.label,
                           "--login", "--pin", token.pin(), "--delete-object", "--type",
                           "secrkey", "--label", "regca-data-kek"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_without_the_key_encryption_key_the_web_answers_503(demo):
    """Last in the module: the home's HSM loses its key for good."""
    ctx, _, secret, enrolment_id = demo
    _delete_kek(ctx)
    fresh = CaContext.open(ctx.settings.home, ctx.clock)  # a worker started after the loss
    fresh.__dict__["db"] = ctx.db
    v = Visitor(_app(fresh), fresh)
    assert v.post("/login", {"username": "officer_x", "password": PASSWORD}).status_code == 302
    r = v.post("/login/totp", {"code": next_totp(ctx, secret)})
    assert r.status_code == 503
    assert "key-encryption key" in r.text and "Traceback" not in r.text
    assert v.get("/healthz").status_code == 503
    with pytest.raises(Exception, match="key-encryption key"):
        enrol.visible(read_only_store(fresh), enrolment_id, None)


# -- a home made before sealing -------------------------------------------------------------------

def _make_older_home(ctx, secret: str) -> None:
    """As a RegCA before sealing left it: no ``kek`` in regca.toml or in the token, no data
    key, a TOTP secret and a PESEL in clear."""
    config = ctx.settings.config_file
    config.write_text(re.sub(r"\n\[hsm\.keys\.kek\]\n(?:[a-z]+ = .*\n)+", "\n",
                             config.read_text()))
    _delete_kek(ctx)
    create_user(ctx, "legacy", PASSWORD, "officer", [JST], actor="test")
    engine = create_engine(ctx.settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM data_keys"))
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE username = 'legacy'"),
                     {"s": secret})
        conn.execute(text(
            "INSERT INTO enrolments (organization_teryt, officer, kind, given_name, surname, "
            "pesel, created_at) VALUES (:t, 'officer', 'resident', 'Adam', :n, :p, :at)"),
            {"t": JST, "n": SURNAME, "p": PESEL, "at": PINNED.replace(tzinfo=None)})
    engine.dispose()


def test_an_older_home_has_its_clear_values_sealed_at_start_up(backend, tmp_path):
    secret = pyotp.random_base32(32)
    with fresh_database(backend, tmp_path) as url:
        made = make_home(tmp_path / "home", url)
        _make_older_home(made, secret)
        made.db.dispose()
        ctx = CaContext.open(tmp_path / "home", FixedClock(PINNED))
        assert "kek" not in ctx.settings.hsm.keys
        assert _secrets_in(_table_dump(ctx), secret) == ["PESEL", "TOTP secret"]  # the control

        done = seal_clear_fields(ctx)

        assert (done.kek_added, done.totp_secrets, done.pesels) == (True, 1, 1)
        ctx = done.ctx
        assert "kek" in CaContext.open(ctx.settings.home).settings.hsm.keys  # in regca.toml
        assert ctx.hsm.key_attributes("kek") == {"sensitive": True, "extractable": False}
        assert _secrets_in(_table_dump(ctx), secret) == []
        if ctx.db.dialect == "sqlite":
            raw = b"".join(p.read_bytes() for p in _copy_sqlite_files(ctx, tmp_path / "copy"))
            assert SURNAME.encode() in raw and _secrets_in(raw, secret) == []
        # what was sealed opens where it is used
        v = Visitor(_app(ctx), ctx).login("legacy", secret)
        assert v.get("/enrolments").status_code == 200
        with ctx.db.reading() as s:
            legacy_id = s.execute(select(Enrolment.id).where(
                Enrolment.officer == "officer")).scalar_one()
        found = enrol.find_by_pesel(read_only_store(ctx), PESEL, None)
        assert [e.id for e in found] == [legacy_id] and found[0].pesel == PESEL
        # a second start-up finds nothing left to do
        again = seal_clear_fields(CaContext.open(ctx.settings.home, ctx.clock))
        assert not again.changed
        ctx.db.dispose()
