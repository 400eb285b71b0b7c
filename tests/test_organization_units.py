"""Organisations without a TERYT code of their own, through the composed WSGI app on SQLite and
PostgreSQL: an administrator adds a school by REGON under its JST, edits and deactivates
organisations (audited); the JST's officers enrol the school's staff, whose certificates name
the school; a deactivated organisation refuses new enrolments in Polish and its certificates
stand. The RA API's keys follow the same scope: a JST's key reaches its units' certificates, a
unit's key the unit's only."""

from __future__ import annotations

import io
import re

import pytest
from conftest import make_csr, run_cli
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from webclient import Visitor, add_staff
from werkzeug.test import Client

from ca.store import certificates as cert_store
from ca.store.models import AuditEvent
from ra.apikeys import create_api_key
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST, OTHER_JST = "0862011", "0861011"
JST_NIP = "9291004928"
SCHOOL = "123456785"  # a valid 9-digit REGON
CENTRE = "234567895"


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secrets_ = {"admin_u": add_staff(ctx, "admin_u", "administrator"),
                "officer_u": add_staff(ctx, "officer_u", "officer", [JST]),
                "officer_other": add_staff(ctx, "officer_other", "officer", [OTHER_JST])}
    app = create_app(ctx.settings.home, ctx)
    admin = Visitor(app, ctx).login("admin_u", secrets_["admin_u"])
    for regon, name in ((SCHOOL, "Szkoła Podstawowa nr 1 w Zielonej Górze"),
                        (CENTRE, "Miejski Ośrodek Pomocy Społecznej")):
        r = admin.post("/admin/units", {"regon": regon, "name": name, "parent_teryt": JST})
        assert r.status_code == 303, r.text
    return ctx, app, secrets_


def _as(web, who: str) -> Visitor:
    ctx, app, secrets_ = web
    return Visitor(app, ctx).login(who, secrets_[who])


def _enrol_staff(officer: Visitor, org: str):
    """Record a unit's staff member; a recorded one answers with its page (POST-redirect-GET)."""
    r = officer.post("/enrolments/new", {"kind": "staff", "organization_teryt": org,
                                         "given_name": "Ewa", "surname": "Kowalska",
                                         "title": "Nauczycielka", "confirm_duplicate": "y"})
    return officer.get(r.headers["Location"]) if r.status_code == 303 else r


def _issue(officer: Visitor, enrolment_id: int) -> x509.Certificate:
    r = officer.post(f"/enrolments/{enrolment_id}/csr",
                     {"profile": "staff-signing", "csr": (io.BytesIO(make_csr()), "r.pem")},
                     form_page=f"/enrolments/{enrolment_id}")
    assert r.status_code == 303, r.text
    page = officer.get(r.headers["Location"]).text
    return x509.load_pem_x509_certificate(
        re.search(r"<pre class=\"wrap\">(.*?)</pre>", page, re.S)[1].encode())


def _events(ctx, action: str, key: str) -> list[AuditEvent]:
    with ctx.db.reading() as s:
        return list(s.execute(select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.object == f"organization:{key}")).scalars())


def test_unit_is_listed_by_regon_under_its_jst_and_its_addition_audited(web):
    ctx, _, _ = web
    page = _as(web, "admin_u").get("/admin/units").text
    row = re.search(rf'<tr id="org-{SCHOOL}">(.*?)</tr>', page, re.S)[1]
    assert "Szkoła Podstawowa nr 1" in row and JST in row
    (event,) = _events(ctx, "organization.add", SCHOOL)
    assert event.organization_teryt == SCHOOL and JST in event.details
    listed = run_cli(ctx.settings.home, "org", "list")
    assert listed.code == 0  # CONTRACT.md: a unit's line starts with its REGON
    assert any(line.split("\t")[0] == SCHOOL for line in listed.out.splitlines())


def test_officer_of_the_parent_jst_enrols_the_units_staff_named_for_the_unit(web):
    officer = _as(web, "officer_u")
    form = officer.get("/enrolments/new").text
    assert f'value="{SCHOOL}"' in form
    r = _enrol_staff(officer, SCHOOL)
    assert r.status_code == 200, r.text
    cert = _issue(officer, int(re.search(r'href="/enrolments/(\d+)"', r.text)[1]))
    name = cert.subject
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Szkoła Podstawowa nr 1 w Zielonej Górze"
    # a budget unit without a NIP of its own acts for its JST, the legal person
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == \
        f"VATPL-{JST_NIP}"
    assert name.get_attributes_for_oid(NameOID.TITLE)[0].value == "Nauczycielka"


def test_officer_of_another_jst_cannot_enrol_the_units_staff(web):
    ctx, _, _ = web
    officer = _as(web, "officer_other")
    assert f'value="{SCHOOL}"' not in officer.get("/enrolments/new").text
    r = officer.post("/enrolments/new", {"kind": "staff", "organization_teryt": SCHOOL,
                                         "given_name": "Ewa", "surname": "Kowalska"})
    assert r.status_code == 400  # not among the officer's choices


def test_deactivated_organisation_refuses_a_new_enrolment_in_polish_and_its_certificates_stand(
        web):
    ctx, _, _ = web
    officer = _as(web, "officer_u")
    r = _enrol_staff(officer, CENTRE)
    cert = _issue(officer, int(re.search(r'href="/enrolments/(\d+)"', r.text)[1]))
    admin = _as(web, "admin_u")
    assert admin.post(f"/admin/organizations/{CENTRE}/active", {},
                      form_page="/admin/units").status_code == 303
    assert "nieaktywna" in re.search(rf'<tr id="org-{CENTRE}">(.*?)</tr>',
                                     admin.get("/admin/units").text, re.S)[1]
    refused = _enrol_staff(_as(web, "officer_u"), CENTRE)
    assert refused.status_code == 409
    assert "jest nieaktywna i nie przyjmuje nowych wniosków" in refused.text
    with ctx.db.reading() as s:
        assert cert_store.get(s, format(cert.serial_number, "x")).status == "issued"
    assert len(_events(ctx, "organization.deactivate", CENTRE)) == 1
    admin.post(f"/admin/organizations/{CENTRE}/active", {}, form_page="/admin/units")
    assert _enrol_staff(_as(web, "officer_u"), CENTRE).status_code == 200
    assert len(_events(ctx, "organization.activate", CENTRE)) == 1


def test_administrator_renames_an_organisation_and_the_change_is_audited(web):
    ctx, _, _ = web
    admin = _as(web, "admin_u")
    r = admin.post(f"/admin/organizations/{SCHOOL}/edit",
                   {"name": "Szkoła Podstawowa nr 1 im. Marii Konopnickiej", "regon": SCHOOL})
    assert r.status_code == 303, r.text
    (event,) = _events(ctx, "organization.update", SCHOOL)
    assert "Konopnickiej" in event.details
    assert "Konopnickiej" in admin.get("/admin/units").text
    officer = _as(web, "officer_u")
    r = _enrol_staff(officer, SCHOOL)
    cert = _issue(officer, int(re.search(r'href="/enrolments/(\d+)"', r.text)[1]))
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Szkoła Podstawowa nr 1 im. Marii Konopnickiej"


@pytest.mark.parametrize("form, field", [
    ({"regon": "123456780", "name": "Szkoła", "parent_teryt": JST}, "regon"),  # check digit
    ({"regon": SCHOOL, "name": "Druga szkoła", "parent_teryt": JST}, "regon"),  # taken
])
def test_a_bad_or_taken_regon_is_refused_and_nothing_is_added(web, form, field):
    ctx, _, _ = web
    before = len(_events(ctx, "organization.add", form["regon"]))
    r = _as(web, "admin_u").post("/admin/units", form)
    assert r.status_code in (400, 409) and field in r.text
    assert len(_events(ctx, "organization.add", form["regon"])) == before


def test_only_an_administrator_manages_organisations(web):
    officer = _as(web, "officer_u")
    assert officer.get("/admin/units").status_code == 403
    r = officer.client.post(f"/admin/organizations/{SCHOOL}/active",
                            data={"csrf_token": officer.csrf("/enrolments/new")})
    assert r.status_code == 403


# -- the RA API: a JST's key acts for its units, a unit's key for the unit only -----------------

def _key(web, org: str) -> str:
    ctx, _, _ = web
    return create_api_key(ctx, f"rejestracja {org}", ["issue", "revoke"], org)


def _api(web, key: str, method: str, path: str, body: dict | None = None):
    _, app, _ = web
    return getattr(Client(app), method)(path, json=body,
                                        headers={"Authorization": f"Bearer {key}"})


def _api_issue(web, key: str, org: str):
    return _api(web, key, "post", "/api/v1/certificates", {
        "profile": "staff-authentication", "csr": make_csr().decode(),
        "subject": {"given_name": "Ewa", "surname": "Kowalska", "title": "Nauczycielka",
                    "organization_teryt": org}})


def test_a_jsts_api_key_issues_sees_and_revokes_its_units_certificates(web):
    parent = _key(web, JST)
    r = _api_issue(web, parent, SCHOOL)
    assert r.status_code == 201, r.text
    serial = r.json["serial"]
    assert _api(web, parent, "get", f"/api/v1/certificates/{serial}").status_code == 200
    r = _api(web, parent, "post", f"/api/v1/certificates/{serial}/revoke",
             {"reason": "superseded"})
    assert r.status_code == 200 and r.json["status"] == "revoked"


def test_a_units_api_key_reaches_the_units_certificates_only(web):
    parent, school = _key(web, JST), _key(web, SCHOOL)
    own = _api_issue(web, school, SCHOOL)
    assert own.status_code == 201, own.text
    assert _api(web, school, "get", f"/api/v1/certificates/{own.json['serial']}"
                ).status_code == 200
    for org in (JST, CENTRE):  # the parent's and a sibling unit's
        serial = _api_issue(web, parent, org).json["serial"]
        for method, path, body in (("get", f"/api/v1/certificates/{serial}", None),
                                   ("post", f"/api/v1/certificates/{serial}/revoke",
                                    {"reason": "superseded"})):
            r = _api(web, school, method, path, body)
            assert r.status_code == 403 and r.json["error"]["code"] == "forbidden", (org, r.text)
        assert _api_issue(web, school, org).status_code == 403


def test_another_jsts_api_key_does_not_reach_a_units_certificates(web):
    serial = _api_issue(web, _key(web, JST), SCHOOL).json["serial"]
    other = _key(web, OTHER_JST)
    assert _api(web, other, "get", f"/api/v1/certificates/{serial}").status_code == 403
    assert _api_issue(web, other, SCHOOL).status_code == 403
# -- double submission (issue 18): the same rendered form twice acts once -------------------------

def _shown(v: Visitor, result: str) -> str:
    page = v.get(result)
    assert page.status_code == 200
    return re.search(r'id="success"><p>([^<]+)<', page.text)[1]


def test_deactivating_twice_deactivates_once_and_does_not_toggle_back(web):
    ctx, _, _ = web
    admin = _as(web, "admin_u")
    unit = "345678901"
    r = admin.post("/admin/units", {"regon": unit, "name": "Żłobek Miejski", "parent_teryt": JST})
    assert r.status_code == 303, r.text
    result = admin.post_twice(f"/admin/organizations/{unit}/active", {}, "/admin/units")
    message = _shown(admin, result)
    assert "nieaktywna" in message and _shown(admin, result) == message  # a reload: the same
    assert len(_events(ctx, "organization.deactivate", unit)) == 1
    assert not _events(ctx, "organization.activate", unit)
    assert "nieaktywna" in re.search(rf'<tr id="org-{unit}">(.*?)</tr>',
                                     admin.get("/admin/units").text, re.S)[1]


def test_a_unit_added_twice_is_added_once(web):
    ctx, _, _ = web
    admin = _as(web, "admin_u")
    unit = "456789017"
    result = admin.post_twice("/admin/units",
                    {"regon": unit, "name": "Biblioteka Gminna", "parent_teryt": JST},
                    "/admin/units")
    assert "Biblioteka Gminna" in _shown(admin, result)
    _shown(admin, result)
    assert len(_events(ctx, "organization.add", unit)) == 1


def test_an_edit_saved_twice_is_saved_once(web):
    ctx, _, _ = web
    admin = _as(web, "admin_u")
    before = len(_events(ctx, "organization.update", CENTRE))
    result = admin.post_twice(f"/admin/organizations/{CENTRE}/edit",
                    {"name": "Gminny Ośrodek Pomocy Społecznej", "regon": CENTRE},
                    f"/admin/organizations/{CENTRE}/edit")
    assert CENTRE in _shown(admin, result)
    _shown(admin, result)
    assert len(_events(ctx, "organization.update", CENTRE)) == before + 1
