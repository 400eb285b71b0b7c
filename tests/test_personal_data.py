"""No PESEL in clear where the audit log keeps things (RODO data minimisation): a demo run of
enrolment, issuance at the desk and on the command line, then every audit row, the auditor's
pages and the CSV are searched for an 11-digit PESEL. An auditor given a PESEL finds that
person's events through the HSM's keyed hash."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from conftest import RESIDENT, make_csr, make_home, run_cli
from sqlalchemy import select
from test_enrollment_web import SECOND, _enrol, _issue
from webclient import Visitor, add_staff

from ca.personal_data import PersonRefs
from ca.store.models import AuditEvent
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST = "0862011"
THIRD = {"given_name": "Ewa", "surname": "Lis", "pesel": "90090515836"}
# eleven digits standing alone (a hex serial's run of digits has hex letters around it)
ELEVEN_DIGITS = re.compile(r"(?<![0-9A-Fa-f])\d{11}(?![0-9A-Fa-f])")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ctx = make_home(tmp_path_factory.mktemp("pesel") / "home")
    secrets_ = {"officer": add_staff(ctx, "officer", "officer", [JST]),
                "auditor": add_staff(ctx, "auditor", "auditor")}
    app = create_app(ctx.settings.home, ctx)
    officer = Visitor(app, ctx).login("officer", secrets_["officer"])
    web = (ctx, app, secrets_)
    serials = []
    for subject in (RESIDENT, SECOND):
        enrolment_id, _ = _enrol(officer, JST, subject)
        serials.append(_issue(officer, enrolment_id))
    # and on the command line, as an operator would
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "req.pem").write_bytes(make_csr())
    (tmp / "subject.json").write_text(json.dumps(THIRD))
    r = run_cli(ctx.settings.home, "issue", "--profile", "resident-signing", "--csr",
                str(tmp / "req.pem"), "--subject", str(tmp / "subject.json"))
    assert r.code == 0, r.err
    serials.append(r.out.strip())
    auditor = Visitor(app, ctx).login("auditor", secrets_["auditor"])
    return web, auditor, serials


PESELS = [RESIDENT["pesel"], SECOND["pesel"], THIRD["pesel"]]


def _no_pesel(text: str) -> None:
    for pesel in PESELS:
        assert pesel not in text
    assert ELEVEN_DIGITS.findall(text) == []


def test_no_audit_record_holds_a_pesel(demo):
    (ctx, _, _), _, _ = demo
    with ctx.db.reading() as s:
        rows = s.execute(select(AuditEvent)).scalars().all()
    assert len(rows) > 30
    for row in rows:
        _no_pesel(" ".join([row.actor, row.action, row.object, row.details]))


def test_issuance_events_name_the_person_by_a_keyed_hash(demo):
    (ctx, _, _), _, serials = demo
    people = PersonRefs.of(ctx.hsm, ctx.settings.hsm.keys)
    with ctx.db.reading() as s:
        details = s.scalar(select(AuditEvent.details).where(
            AuditEvent.object == f"certificate:{serials[2]}",
            AuditEvent.action == "certificate.issue"))
    assert f"PNOPL-{people.ref(THIRD['pesel'])}" in details
    # the HSM's key: the same PESEL always gives the same reference, another PESEL another
    assert people.ref(THIRD["pesel"]) == people.ref(THIRD["pesel"])
    assert people.ref(THIRD["pesel"]) != people.ref(SECOND["pesel"])
    assert people.ref(THIRD["pesel"]) not in details.replace(people.ref(THIRD["pesel"]), "", 1)


def test_auditor_pages_and_csv_hold_no_pesel(demo):
    _, auditor, serials = demo
    page = auditor.get("/audit")
    assert page.status_code == 200
    _no_pesel(page.text)
    csv_text = auditor.get("/audit.csv").text
    assert len(list(csv.DictReader(io.StringIO(csv_text)))) > 30
    _no_pesel(csv_text)
    for serial in serials:
        history = auditor.get(f"/audit/certificates/{serial}")
        assert history.status_code == 200 and "certificate.issue" in history.text
        _no_pesel(history.text)


def test_auditor_finds_a_persons_events_by_pesel(demo):
    _, auditor, serials = demo
    page = auditor.get(f"/audit?pesel={SECOND['pesel']}").text
    assert f"certificate:{serials[1]}" in page and "enrolment.record" in page
    assert f"certificate:{serials[0]}" not in page and f"certificate:{serials[2]}" not in page
    # only the auditor's own query echoes it (the search box, the CSV and language links)
    _no_pesel(re.sub(r'(pesel=|value=")\d{11}', "", page))
    rows = list(csv.DictReader(io.StringIO(
        auditor.get(f"/audit.csv?pesel={THIRD['pesel']}").text)))
    assert [r["object"] for r in rows] == [f"certificate:{serials[2]}"]


def test_a_bad_pesel_in_the_search_is_refused_naming_the_field(demo):
    _, auditor, _ = demo
    r = auditor.get("/audit?pesel=12345678901")
    assert r.status_code == 400 and "pesel" in r.text.lower()
