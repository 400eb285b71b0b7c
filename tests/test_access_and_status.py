"""One ownership check, one status decision, views that parse, call and render.

Scans of the source pin where each decision lives (``ra/access.py``, ``ca/status.py``) and that
no view opens a transaction or writes an audit event; behaviour tests drive every front (the
RA API, the officers', auditors' and residents' pages) into the one check and read the one
status back from each of them.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import RESIDENT, make_csr
from webclient import Visitor, add_staff, issue_from_csr, record_enrolment
from werkzeug.test import Client

from ca.errors import Forbidden, NotFound
from ca.status import CertificateStatus, certificate_status
from ca.store import enrolments as enrol_store
from ca.store.models import Certificate
from ra import certificates
from ra.access import REVOKE, SEE, Caller, Found, check_certificate
from ra.apikeys import Principal, create_api_key
from regca.roles import registration_authority
from regca.wsgi import create_app

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ca", "ra", "keys", "enrollment-web", "edge", "regca", "signing", "ocsp", "tsa")
JST_A, JST_B = "0862011", "0861011"
SECOND = {"given_name": "Adam", "surname": "Wiśniewski", "pesel": "44051401359"}
OUTSIDE = "outside your registration area"  # ra.access.in_scope's refusal
OUTSIDE_PL = "poza Twoim obszarem rejestracji"  # the same refusal on a web page


def _sources(*folders: str):
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text())


# -- where the decisions live (grep-level facts) ------------------------------------------------

_STORE_CALLS = {"transaction", "direct_transaction", "reading", "audit", "audit_many"}
_STORE_MODULES = ("ca.store", "ca.audit", "sqlalchemy")
# Telling a database outage from a fault opens nothing: the error pages may ask it.
_STORE_CLASSIFIERS = {"ca.store.outage"}


def test_views_never_open_a_transaction_nor_write_an_audit_event():
    found = []
    for name, tree in _sources("enrollment-web"):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _STORE_CALLS):
                found.append(f"{name}:{node.lineno} {ast.unparse(node.func)}()")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    _STORE_MODULES) and node.module not in _STORE_CLASSIFIERS:
                found.append(f"{name}:{node.lineno} from {node.module} import ...")
            elif isinstance(node, ast.Import):
                found += [f"{name}:{node.lineno} import {a.name}" for a in node.names
                          if a.name.startswith(_STORE_MODULES)]
    assert found == []


_JST = re.compile(r"teryt|orgs|organization", re.IGNORECASE)
# Comparisons of JST codes outside ra/access.py that are not about who owns a certificate:
# SQL conditions the store builds, and the issuance scope (what a key may issue for, which
# the CA checks against the request's subject before any certificate exists), and a bulk
# import's duplicate check (is this person already enrolled at that JST).
_NOT_OWNERSHIP = {"ca/issuance.py", "ra/bulk_import.py"}


def _mentions_jst(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and _JST.search(n.id)
               or isinstance(n, ast.Attribute) and _JST.search(n.attr)
               for n in ast.walk(node))


def test_the_ownership_check_is_the_only_comparison_of_a_jst_with_a_callers():
    where = set()
    for name, tree in _sources(*PACKAGES):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            if (any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops)
                    and any(_mentions_jst(o) for o in operands)
                    and not any(isinstance(o, ast.Constant) for o in operands)):
                where.add(name)
    where = {n for n in where if not n.startswith("ca/store/")} - _NOT_OWNERSHIP
    assert where == {"ra/access.py"}


def test_the_ownership_functions_are_defined_once():
    defined = [(name, node.name) for name, tree in _sources(*PACKAGES)
               for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef)
               and node.name in {"in_scope", "check_certificate", "find_certificate",
                                 "visible_row", "_own"}]
    assert sorted(defined) == [("ra/access.py", "check_certificate"),
                               ("ra/access.py", "find_certificate"),
                               ("ra/access.py", "in_scope")]


# RFC 6960's own statuses (good / revoked / unknown), which know no expiry.
_OCSP_STATUS = {"ca/ocsp_signer.py", "ca/ocsp_encoding.py"}


def test_certificate_status_is_the_only_place_that_says_expired_or_good():
    says = {"expired": set(), "good": set()}
    for name, tree in _sources(*PACKAGES):
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in says:
                says[node.value].add(name)
    assert says["expired"] == {"ca/status.py"}
    assert says["good"] - _OCSP_STATUS == {"ca/status.py"}


def test_only_certificate_status_compares_a_validity_end():
    where = set()
    for name, tree in _sources(*PACKAGES):
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(
                    isinstance(n, ast.Attribute) and n.attr == "not_after"
                    for o in (node.left, *node.comparators) for n in ast.walk(o)):
                where.add(name)
    # the TSA checks its own signing certificate's validity at genTime, not a status; the store
    # builds SQL conditions (certificates ending within a window) from values status decided
    where = {n for n in where if not n.startswith("ca/store/")}
    assert where - {"tsa/authority.py"} == {"ca/status.py"}


def test_templates_show_the_status_they_are_given():
    for path in (REPO / "enrollment-web" / "templates").glob("*.html"):
        text = path.read_text()
        assert not re.search(r"not_after\s*[<>]|[<>]=?\s*now\b|\.status\s*==\s*\"issued\"",
                             text), path.name


# -- the status decision ------------------------------------------------------------------------

NOW = dt.datetime(2030, 6, 1, 12, tzinfo=dt.timezone.utc)


def _row(status="issued", reason=None, not_after=NOW + dt.timedelta(days=1),
         teryt=JST_A, serial="1a2b") -> Certificate:
    return Certificate(serial=serial, issuer="issuing", profile="resident-signing",
                       status=status, subject="CN=x", organization_teryt=teryt,
                       requested_by="test", not_before=NOW - dt.timedelta(days=1),
                       not_after=not_after, revocation_reason=reason)


@pytest.mark.parametrize("row, expected", [
    (_row(), CertificateStatus("good")),
    (_row(not_after=NOW), CertificateStatus("good")),  # RFC 5280: notAfter is inclusive
    (_row(not_after=NOW - dt.timedelta(microseconds=1)), CertificateStatus("expired")),
    (_row("revoked", "keyCompromise", NOW - dt.timedelta(days=9)),
     CertificateStatus("revoked", "keyCompromise")),  # revocation outlives expiry
    (_row("revoked", "certificateHold"), CertificateStatus("revoked", "certificateHold")),
    (_row("abandoned"), CertificateStatus("revoked", None)),
    (_row("pending"), CertificateStatus("pending")),
])
def test_certificate_status(row, expected):
    assert certificate_status(row, NOW) == expected


# -- the ownership decision, on rows as the store holds them -------------------------------------

def _key(scopes, teryt=None) -> Caller:
    return Caller.api_key(Principal("k1", "key", frozenset(scopes), teryt))


A_ROW = Found(_row(teryt=JST_A), None)
A_DESK = Found(_row(teryt=JST_A), 7)
PENDING = Found(_row("pending", teryt=JST_A), 7)


@pytest.mark.parametrize("caller, found, action, refusal", [
    (_key({"revoke"}, JST_A), A_ROW, REVOKE, None),
    (_key({"revoke"}, JST_B), A_ROW, SEE, Forbidden),  # another JST's key
    (_key({"revoke"}, JST_B), A_ROW, REVOKE, Forbidden),
    (_key({"revoke"}), A_ROW, REVOKE, None),  # a key bound to no JST
    (_key({"issue"}, JST_A), A_ROW, SEE, None),
    (_key({"issue"}, JST_A), A_ROW, REVOKE, Forbidden),  # lacks the revoke scope only
    (_key({"sign"}, JST_A), A_ROW, SEE, Forbidden),  # no scope that reads
    (_key({"revoke"}, JST_A), None, SEE, NotFound),
    (_key({"revoke"}, JST_A), PENDING, SEE, NotFound),  # never issued: not there
    (Caller.officer("o", (JST_A,)), A_DESK, REVOKE, None),
    (Caller.officer("o", (JST_B,)), A_DESK, REVOKE, Forbidden),
    (Caller.officer("o", (JST_A,)), A_ROW, REVOKE, NotFound),  # not recorded at a desk
    (Caller.auditor("a"), A_ROW, SEE, None),
    (Caller.auditor("a"), PENDING, SEE, None),
    (Caller.auditor("a"), A_ROW, REVOKE, Forbidden),
    (Caller.resident(7), A_DESK, REVOKE, None),
    (Caller.resident(8), A_DESK, SEE, NotFound),  # another resident's: never 403
    (Caller.resident(8), A_ROW, SEE, NotFound),
    (Caller.resident(7), PENDING, SEE, NotFound),
])
def test_check_certificate(caller, found, action, refusal):
    if refusal is None:
        assert check_certificate(caller, found, "1a2b", action) is found
    else:
        with pytest.raises(refusal):
            check_certificate(caller, found, "1a2b", action)


def test_a_resident_cannot_tell_another_residents_serial_from_an_absent_one():
    messages = set()
    for found in (None, A_DESK, A_ROW, PENDING):
        with pytest.raises(NotFound) as refused:
            check_certificate(Caller.resident(8), found, "1a2b", SEE)
        messages.add(refused.value.message)
    assert len(messages) == 1


# -- every front, through the one check ---------------------------------------------------------

@pytest.fixture(scope="module")
def house(home_ctx):
    """Staff and keys of two JST, and three residents' certificates issued at the desk."""
    ctx = home_ctx
    staff = {u: add_staff(ctx, u, role, orgs) for u, role, orgs in (
        ("officer_a", "officer", [JST_A]), ("officer_b", "officer", [JST_B]),
        ("auditor", "auditor", []))}
    keys = {"a": create_api_key(ctx, "A", ["issue", "revoke"], JST_A),
            "b": create_api_key(ctx, "B", ["issue", "revoke"], JST_B),
            "a_issue": create_api_key(ctx, "A issue", ["issue"], JST_A)}
    # Sessions here outlive the certificates: a test below moves the clock past their
    # not-after and asks the same signed-in visitors again (ten years, as regca.toml allows).
    with ctx.settings.config_file.open("a") as config:
        config.write("\n[enrollment]\nsession_idle_minutes = 5256000\n"
                     "session_max_hours = 87600\n")
    app = create_app(ctx.settings.home, ctx)
    v = {u: Visitor(app, ctx).login(u, s) for u, s in staff.items()}
    people = {}
    for who, officer, teryt, subject in (("ra1", "officer_a", JST_A, RESIDENT),
                                         ("ra2", "officer_a", JST_A, SECOND),
                                         ("rb", "officer_b", JST_B, RESIDENT)):
        enrolment, code = record_enrolment(v[officer], {
            "kind": "resident", "organization_teryt": teryt,
            "revocation_password": f"haslo-{who}-123", **subject})
        serial = issue_from_csr(v[officer], enrolment, make_csr())
        resident = Visitor(app, ctx)
        assert resident.pickup(code).status_code == 302
        people[who] = {"enrolment": enrolment, "serial": serial, "visitor": resident,
                       "password": f"haslo-{who}-123"}
    return ctx, Client(app), keys, v, people


def _api(client, key, serial, revoke_reason=None):
    headers = {"Authorization": f"Bearer {key}"}
    if revoke_reason:
        return client.post(f"/api/v1/certificates/{serial}/revoke", headers=headers,
                           json={"reason": revoke_reason})
    return client.get(f"/api/v1/certificates/{serial}", headers=headers)


@pytest.mark.hsm
def test_ra_api_key_of_jst_a_cannot_read_or_revoke_jst_b(house):
    _, client, keys, _, people = house
    b = people["rb"]["serial"]
    for r in (_api(client, keys["a"], b), _api(client, keys["a"], b, "keyCompromise")):
        assert r.status_code == 403
        assert OUTSIDE in r.get_json()["error"]["message"]
    assert _api(client, keys["b"], b).get_json()["status"] == "good"
    # the same check lets A's key reach the certificate A's officer issued at the desk
    assert _api(client, keys["a"], people["ra1"]["serial"]).get_json()["status"] == "good"


@pytest.mark.hsm
def test_ra_api_key_without_revoke_scope_revokes_nothing(house):
    _, client, keys, _, people = house
    serial = people["ra2"]["serial"]
    r = _api(client, keys["a_issue"], serial, "keyCompromise")
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    assert _api(client, keys["a_issue"], serial).get_json()["status"] == "good"


@pytest.mark.hsm
def test_officer_of_jst_a_cannot_revoke_jst_b(house):
    _, client, keys, v, people = house
    b = people["rb"]["serial"]
    r = v["officer_a"].post(f"/certificates/{b}/revoke", {"reason": "keyCompromise"},
                            form_page="/enrolments/new")
    assert r.status_code == 403 and OUTSIDE_PL in r.text and OUTSIDE not in r.text
    assert _api(client, keys["b"], b).get_json()["status"] == "good"


@pytest.mark.hsm
def test_resident_cannot_see_or_revoke_another_residents_certificate(house):
    _, client, keys, _, people = house
    me, other = people["ra1"], people["ra2"]
    for fmt in ("pem", "der", "p7b"):
        assert me["visitor"].get(f"/my/certificates/{other['serial']}.{fmt}").status_code == 404
    # even with the other resident's own revocation password: ownership is checked first
    r = me["visitor"].post(f"/my/certificates/{other['serial']}/revoke",
                           {"password": other["password"]},
                           form_page=f"/my/certificates/{me['serial']}/revoke")
    assert r.status_code == 404
    assert _api(client, keys["a"], other["serial"]).get_json()["status"] == "good"
    assert me["visitor"].get(f"/my/certificates/{me['serial']}.pem").status_code == 200


@pytest.mark.hsm
def test_auditor_sees_every_jst_and_revokes_through_no_door(house):
    ctx, _, _, v, people = house
    serial = people["rb"]["serial"]
    page = v["auditor"].get(f"/audit/certificates/{serial}")
    assert page.status_code == 200 and "wydanie certyfikatu" in page.text
    with pytest.raises(Forbidden):
        certificates.revoke(registration_authority(ctx), Caller.auditor("auditor"), serial,
                            "keyCompromise")


@pytest.mark.hsm
def test_core_services_write_the_audit_events_the_views_used_to(house):
    ctx, _, _, v, people = house
    me = people["ra1"]
    me["visitor"].get(f"/my/certificates/{me['serial']}.der")
    export = v["auditor"].get("/audit.csv?action=certificate.download")
    assert export.status_code == 200
    assert f"resident:enrolment:{me['enrolment']}" in export.text
    with ctx.db.reading() as s:
        events = enrol_store.search_events(s, actor="user:auditor", action="audit.export")
    assert events and '"rows"' in events[0].details


@pytest.mark.hsm
def test_one_status_on_every_front_good_then_expired_revocation_wins(house):
    ctx, client, keys, v, people = house
    me, held = people["ra1"], people["rb"]
    badge = re.compile(r'<span class="badge[^"]*">([^<(]+)')

    def fronts(person, key, officer):
        api = _api(client, key, person["serial"]).get_json()["status"]
        officer_page = v[officer].get(f"/enrolments/{person['enrolment']}").text
        auditor_page = v["auditor"].get(f"/audit/certificates/{person['serial']}").text
        resident_page = person["visitor"].get("/my").text
        return (api, *(badge.search(p)[1].strip()
                       for p in (officer_page, auditor_page, resident_page)))

    assert fronts(me, keys["a"], "officer_a") == ("good", "ważny", "ważny", "ważny")
    assert _api(client, keys["b"], held["serial"], "keyCompromise").status_code == 200
    with ctx.db.reading() as s:
        not_after = s.get(Certificate, me["serial"]).not_after
    step = (not_after - ctx.now()).total_seconds() + 1
    ctx.clock.advance(seconds=step)
    try:
        assert fronts(me, keys["a"], "officer_a") == (
            "expired", "wygasły", "wygasły", "wygasły")
        assert fronts(held, keys["b"], "officer_b") == (
            "revoked", "unieważniony", "unieważniony", "unieważniony")
    finally:
        ctx.clock.advance(seconds=-step)
