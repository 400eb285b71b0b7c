"""The command line imports only what a command needs (issue 13: start-up must not dominate
scripted bulk issuance). Each case runs ``regca`` in a fresh interpreter and lists the modules
it loaded; bench/cli.py measures the time, these tests only pin what is imported."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RESIDENT, make_csr

ROOT = Path(__file__).resolve().parents[1]

# Runs regca.cli.main with the given arguments, then prints the loaded modules' names as the
# last line of stdout (after whatever the command printed).
PROBE = """
import json, sys
from regca.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# Nothing a command line that only parses its arguments should wait for.
HEAVY = {"sqlalchemy", "alembic", "flask", "werkzeug", "gunicorn", "pyhanko",
         "pyhanko_certvalidator", "signxml", "lxml", "requests", "cryptography", "asn1crypto",
         "pkcs11", "psycopg", "argon2", "pyotp", "stdnum"}
# The services and the web: issuing a certificate needs none of them.
FRONTS = {"signing", "ocsp", "tsa", "enrollment_web", "regca.server", "regca.wsgi"}


def _run(*args: str) -> tuple[int, str, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    lines = done.stdout.rstrip("\n").split("\n")
    assert lines and lines[-1].startswith("{"), done.stderr  # the probe got to the end
    probe = json.loads(lines[-1])
    return probe["code"], "\n".join(lines[:-1]), set(probe["modules"])


def _packages(modules: set[str], of: set[str]) -> set[str]:
    """Those of ``modules`` that are, or are inside, one of ``of`` (dotted names)."""
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in of)}


@pytest.mark.parametrize("args", [("--help",), ("issue", "--help"), ("trust", "refresh", "--help"),
                                  ("token", "enroll", "--help"), ()],
                         ids=["help", "issue-help", "trust-help", "token-help", "no-command"])
def test_parsing_arguments_imports_nothing_heavy(args):
    code, out, modules = _run(*args)
    assert code == (2 if not args else 0)
    if args:
        assert out.startswith("usage: regca")
    assert _packages(modules, HEAVY) == set()
    # Of the project, only the command line and the error family it reports.
    assert _packages(modules, {"ca", "signing", "ocsp", "tsa", "enrollment_web"}) == {
        "ca", "ca.errors"}


# What `regca issue` must not load: the web, the signing stack, migrations, the log-in
# libraries, and SQLAlchemy's ORM with the store's models (it writes and reads through the
# Core tables of ca/store/tables.py), nor the services and the RA it does not use.
NOT_FOR_ISSUE = ({"alembic", "flask", "werkzeug", "gunicorn", "pyhanko", "pyhanko_certvalidator",
                  "signxml", "lxml", "requests", "argon2", "pyotp", "sqlalchemy.orm",
                  "ca.store.models", "ca.store.crl", "ca.store.enrolments", "ca.store.accounts",
                  "ca.store.timestamps", "ca.revocation", "ca.crl", "ca.services", "ra",
                  "regca.roles"} | FRONTS)


def _issue(home, tmp_path, subject: dict, profile: str = "resident-signing"):
    csr, subject_file = tmp_path / "r.csr", tmp_path / "subject.json"
    csr.write_bytes(make_csr())
    subject_file.write_text(json.dumps(subject))
    return _run("--home", str(home.settings.home), "issue", "--profile", profile,
                "--csr", str(csr), "--subject", str(subject_file))


@pytest.mark.hsm
def test_issue_imports_no_orm_no_migrations_no_web_and_no_other_dialect(home, tmp_path):
    code, out, modules = _issue(home, tmp_path, RESIDENT)
    assert code == 0
    # The serial in hex (leading zeros dropped, so not always 32 digits): it was issued.
    assert re.fullmatch(r"[0-9a-f]{16,40}", out.strip()), out
    # the probe sees what was loaded
    assert {"sqlalchemy", "pkcs11", "ca.store.tables", "ca.issuance"} <= modules
    assert _packages(modules, NOT_FOR_ISSUE) == set()
    assert home.db.dialect == "sqlite"
    assert _packages(modules, {"sqlalchemy.dialects.postgresql", "psycopg"}) == set()


@pytest.mark.hsm
def test_issue_for_a_jst_reads_it_without_the_orm(home, tmp_path):
    from ca.store import certificates as cert_store
    staff = {"given_name": "Jan", "surname": "Urzędnik", "pesel": "44051401359",
             "organization_teryt": "0862011", "email": "jan@example.pl"}
    code, out, modules = _issue(home, tmp_path, staff, "staff-signing")
    assert code == 0, out
    assert _packages(modules, NOT_FOR_ISSUE) == set()
    with home.db.reading() as s:
        row = cert_store.get(s, out.strip())
    assert row.status == "issued" and row.organization_teryt == "0862011"
    # the JST's name and NIP, as read from its row (ETSI EN 319 412-2 staff subject)
    assert "O=Gmina Miasto Zielona Góra" in row.subject
    assert "VATPL-9291004928" in row.subject


@pytest.mark.hsm
def test_trust_refresh_does_not_load_the_web(home, tmp_path):
    not_a_list = tmp_path / "lotl.xml"
    not_a_list.write_text("not a trusted list")
    code, _, modules = _run("--home", str(home.settings.home), "trust", "refresh",
                            "--lotl", str(not_a_list))
    assert code == 1  # refused as not XML, by the trusted-list reader it imported
    assert "signing.trusted_lists" in modules
    assert _packages(modules, {"flask", "werkzeug", "alembic", "gunicorn",
                               "regca.server", "regca.wsgi"}) == set()
