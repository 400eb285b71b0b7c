"""Shared fixtures: a test PKI generated per run (never checked in), at a pinned time.

- ``database_url``: SQLite in a temporary directory, and PostgreSQL too when
  REGCA_TEST_DATABASE_URL is set (a fresh database per test home, dropped afterwards).
- ``home``: an initialised demo home (SoftHSM2 tokens under it) on that database.
- ``ctx``: the core composed for that home with a FixedClock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import os
import secrets
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ca.clock import FixedClock
from ca.context import CaContext
from ra.users import password_hasher
from regca.bootstrap import InitOptions, initialise

# Passwords hashed in the test process cost argon2id's least (one pass over 8 KiB, one lane),
# not 64 MiB three times over: every demo home hashes three staff log-ins, every enrolment its
# revocation password. Verifying reads the cost from the stored hash, so log-ins, revocation
# and the servers the tests start behave as with the default.
password_hasher._parameters = dataclasses.replace(password_hasher._parameters, time_cost=1,
                                                  memory_cost=8, parallelism=1)

PG_URL = os.environ.get("REGCA_TEST_DATABASE_URL")
# Realistic inputs the tests carry (tests/data/samples/README.md says what each one is).
SAMPLES = Path(__file__).resolve().parent / "data" / "samples"
SAMPLE_XML = SAMPLES / "wniosek-zaswiadczenie.xml"
# The offline root token's PIN for the run's test homes: never in a home, given to ceremonies
# (``ctx.with_root_pin(ROOT_PIN)``, or REGCA_ROOT_PIN for the command line).
ROOT_PIN = secrets.token_hex(8)
# A pinned time for the whole run: now, to the minute, so openssl's own clock agrees too.
PINNED = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)


def backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    params.append(pytest.param("postgres", id="postgres", marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(not PG_URL, reason="REGCA_TEST_DATABASE_URL not set")]))
    return params


@contextlib.contextmanager
def fresh_database(kind: str, tmp: Path, server_url: str | None = None):
    """A brand-new empty database of ``kind``; PostgreSQL ones are dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'regca.db'}"
        return
    admin_url = make_url(server_url or PG_URL)
    name = f"regca_test_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_home(path: Path, database_url: str | None = None, demo: bool = True,
              public_url: str = "http://127.0.0.1:8080", clock=None) -> CaContext:
    """Initialise a demo home at ``path`` and return its context (pinned clock)."""
    clock = clock or FixedClock(PINNED)
    initialise(InitOptions(path, public_url=public_url, demo=demo, database_url=database_url,
                           root_pin=ROOT_PIN), clock=clock)
    return CaContext.open(path, clock)


@pytest.fixture(scope="module", params=backends())
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def home_ctx(backend, tmp_path_factory):
    """One initialised home per test module and backend."""
    tmp = tmp_path_factory.mktemp(f"home-{backend}")
    with fresh_database(backend, tmp) as url:
        ctx = make_home(tmp / "home", url)
        yield ctx
        ctx.db.dispose()


@pytest.fixture
def ctx(home_ctx):
    return home_ctx


@pytest.fixture(scope="session")
def sqlite_ctx(tmp_path_factory):
    """A demo home on SQLite shared by the whole session (for tests that only read or add)."""
    return make_home(tmp_path_factory.mktemp("shared") / "home")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A demo home of the test module's own (SQLite, SoftHSM2, the pinned clock)."""
    ctx = make_home(tmp_path_factory.mktemp("home") / "home")
    yield ctx
    ctx.db.dispose()


@pytest.fixture(scope="module")
def client(home):
    """The signing API of ``home`` under Flask's test client: no real port, so the TSA key in
    the HSM stamps in-process and nothing is fetched (real HTTP: the ``served`` fixture)."""
    from regca.roles import in_process_timestamper
    from regca.roles import signing_app as create_app
    return create_app(home, timestamper=in_process_timestamper(home),
                      fetch_revocation=False).test_client()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A home of the module's own served over real HTTP on the port its certificates name
    (OCSP, CRL, TSA), so a verifier fetches as a relying party would; its certificates may be
    revoked freely."""
    from tsa_support import free_port, wsgi_thread

    from regca.wsgi import create_app as create_wsgi

    port = free_port()
    ctx = make_home(tmp_path_factory.mktemp("served") / "home",
                    public_url=f"http://127.0.0.1:{port}")
    with wsgi_thread(create_wsgi(ctx.settings.home, ctx), port):
        yield ctx
    ctx.db.dispose()


# -- subscriber keys and CSRs (software keys: these play the subscriber's token) ----------------

def new_key(kind: str = "ec-p256"):
    if kind.startswith("ec-"):
        return ec.generate_private_key({"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1(),
                                        "ec-p521": ec.SECP521R1()}[kind])
    return rsa.generate_private_key(65537, int(kind.split("-")[1]))


def make_csr(key=None, cn: str = "ignored by the CA") -> bytes:
    key = key or new_key()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


RESIDENT = {"given_name": "Zofia", "surname": "Kowalczyk-Żółtowska", "pesel": "02270803624",
            "email": "zofia.kowalczyk@example.pl"}
STAFF = {"given_name": "Jan", "surname": "Nowak", "organization_teryt": "0862011",
         "title": "Inspektor", "email": "jan.nowak@um.zielona-gora.example"}


@pytest.fixture
def resident_subject():
    return dict(RESIDENT)


@pytest.fixture
def staff_subject():
    return dict(STAFF)


# -- the command line, in-process ------------------------------------------------------------------

class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


def run_cli(home: Path, *args: str, env: dict | None = None) -> CliResult:
    """Run ``regca --home HOME ARGS`` in this process and capture what it prints."""
    from regca.cli import main
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--home", str(home), *args])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return CliResult(code, out.getvalue(), err.getvalue())
