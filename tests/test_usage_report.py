"""`regca report usage` and the auditor's usage page: per JST and Europe/Warsaw month, what
the centre did (certificates issued and revoked, seals by format and level, time-stamps,
verifications), counted from the audit events and records the services wrote."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess

import pytest
from conftest import STAFF, make_csr
from signing_support import jst_seals, sample_pdf
from tsa_support import REGCA, ROOT, make_query
from webclient import Visitor, add_staff
from werkzeug.test import Client

from ca.clock import FixedClock
from ca.issuance import IssuanceRequest, Issuer
from ca.revocation import RevocationRequest, Revoker
from ca.seal_journal import SealAttempt, SealJournal
from ca.usage import COLUMNS, Month
from ra.apikeys import create_api_key

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def home(home_ctx):
    """The module's home on SQLite, and on PostgreSQL too when REGCA_TEST_DATABASE_URL is set:
    the seal journal and the usage report read and write through the store on both."""
    return home_ctx

JST_A, JST_B = "0862011", "0861011"


@pytest.fixture(scope="module", autouse=True)
def seals_of_jst(home):
    return jst_seals(home, JST_A, JST_B)


def regca(home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([REGCA, "--home", str(home.settings.home), *args], env=env,
                          capture_output=True, timeout=120)


def report(home, month: Month | None = None) -> dict[str, dict]:
    done = regca(home, "report", "usage", "--month", str(month or Month.of(home.now())),
                 "--format", "json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["month"] == str(month or Month.of(home.now()))
    return {o["teryt"]: o for o in body["organizations"]}


def sign(client, key, kind, body, ctype, **query):
    resp = client.post(f"/api/v1/sign/{kind}", data=body, query_string=query,
                       headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data()


@pytest.fixture(scope="module")
def keys(home):
    return {"a": create_api_key(home, "EOD Zielona Góra", ["sign", "verify"], JST_A),
            "b": create_api_key(home, "EOD Gorzów", ["sign", "sign-digest"], JST_B)}


def test_each_seal_raises_its_jsts_count_by_one(client, home, keys):
    before = report(home)
    sign(client, keys["a"], "pdf", sample_pdf(), "application/pdf", level="B-T")
    after_a = report(home)
    assert after_a[JST_A]["seals"] == before[JST_A]["seals"] + 1
    assert after_a[JST_A]["timestamps"] == before[JST_A]["timestamps"] + 1  # its B-T token
    assert after_a[JST_B] == before[JST_B]
    sign(client, keys["b"], "cms", b"", "application/octet-stream", level="B-B",
         digest="sha256:" + "ab" * 32)
    after_b = report(home)
    assert after_b[JST_B]["seals"] == before[JST_B]["seals"] + 1
    assert after_b[JST_B]["timestamps"] == before[JST_B]["timestamps"]  # B-B: no token
    assert after_b[JST_A] == after_a[JST_A]
    assert after_b[JST_A]["signatures"].get("PAdES B-T") == \
        before[JST_A]["signatures"].get("PAdES B-T", 0) + 1
    assert after_b[JST_B]["signatures"].get("CAdES (digest) B-B") == \
        before[JST_B]["signatures"].get("CAdES (digest) B-B", 0) + 1


def test_a_refused_seal_is_not_counted(client, home, keys):
    before = report(home)[JST_A]["seals"]
    resp = client.post("/api/v1/sign/pdf", data=b"not a pdf",
                       headers={"Authorization": f"Bearer {keys['a']}",
                                "Content-Type": "application/pdf"})
    assert resp.status_code == 400
    assert report(home)[JST_A]["seals"] == before


def test_verifications_and_direct_time_stamps_count_for_the_keys_jst(client, home, keys,
                                                                      tmp_path):
    from regca.roles import tsa_app
    before = report(home)[JST_A]
    signed = sign(client, keys["a"], "pdf", sample_pdf(), "application/pdf", level="B-B")
    resp = client.post("/api/v1/verify", data=signed,
                       headers={"Authorization": f"Bearer {keys['a']}",
                                "Content-Type": "application/pdf"})
    assert resp.status_code == 200
    query = make_query(tmp_path, "usage", "-sha256", "-cert").read_bytes()
    tsa = Client(tsa_app(home)).post("/tsa", data=query, headers={
        "Content-Type": "application/timestamp-query", "Authorization": f"Bearer {keys['a']}"})
    assert tsa.status_code == 200
    after = report(home)[JST_A]
    assert after["verifications"] == before["verifications"] + 1
    assert after["seals"] == before["seals"] + 1
    assert after["timestamps"] == before["timestamps"] + 1  # the /tsa token; B-B took none


def test_certificates_issued_and_revoked_count_per_jst_and_profile(home):
    before = report(home)[JST_A]
    issued = Issuer(home).issue(IssuanceRequest("staff-signing", make_csr(), dict(STAFF),
                                                "operator:test"))
    Revoker(home).revoke(RevocationRequest(issued.serial, "superseded", "operator:test"))
    after = report(home)[JST_A]
    assert after["certificates_issued"] == before["certificates_issued"] + 1
    assert after["certificates_revoked"] == before["certificates_revoked"] + 1
    assert after["certificates_issued_by_profile"]["staff-signing"] == \
        before["certificates_issued_by_profile"].get("staff-signing", 0) + 1


def test_months_are_europe_warsaw_months(home):
    march = Month.parse("2026-03")
    assert march.start == dt.datetime(2026, 2, 28, 23, tzinfo=dt.timezone.utc)  # CET
    assert march.end == dt.datetime(2026, 3, 31, 22, tzinfo=dt.timezone.utc)  # CEST
    # 23:30 UTC on 28 February is already March in Poland
    at = dt.datetime(2026, 2, 28, 23, 30, tzinfo=dt.timezone.utc)
    SealJournal(home.db, FixedClock(at)).record(SealAttempt(
        key_id="feedfeedfeed", key_name="test", organization_teryt=JST_B, format="pdf",
        level="B-B", document_sha256="00" * 32, seal_serial="1"))
    assert report(home, march)[JST_B]["seals"] == 1
    assert report(home, Month.parse("2026-02"))[JST_B]["seals"] == 0


def test_csv_is_semicolon_separated_utf8_with_bom_for_excel(client, home, keys):
    sign(client, keys["a"], "pdf", sample_pdf(), "application/pdf", level="B-B")
    done = regca(home, "report", "usage", "--month", str(Month.of(home.now())),
                 "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(done.stdout[3:].decode("utf-8"), newline=""),
                           delimiter=";"))
    assert tuple(rows[0]) == COLUMNS
    by_teryt = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]}
    as_json = report(home)
    assert set(by_teryt) == set(as_json)
    zg = by_teryt[JST_A]
    assert zg["name"] == "Gmina Miasto Zielona Góra"  # UTF-8 survives
    for column in ("certificates_issued", "certificates_revoked", "seals", "timestamps",
                   "verifications"):
        assert int(zg[column]) == as_json[JST_A][column]
    assert "PAdES B-B: " in zg["signatures"]
    assert done.stdout.count(b"\r\n") == len(rows)


@pytest.mark.parametrize("month", ["2026-13", "2026-3", "marzec"])
def test_a_bad_month_is_one_line_on_stderr(home, month):
    done = regca(home, "report", "usage", "--month", month)
    assert done.returncode == 1
    assert done.stderr.decode().count("\n") == 1 and "month" in done.stderr.decode()


def test_the_auditor_sees_the_same_table_with_a_month_picker(client, home, keys):
    from regca.roles import enrollment_app
    secret = add_staff(home, "audytor-usage", "auditor")
    auditor = Visitor(enrollment_app(home), home).login("audytor-usage", secret)
    month = str(Month.of(home.now()))
    page = auditor.get(f"/audit/usage?month={month}")
    assert page.status_code == 200
    assert 'type="month"' in page.text and f'value="{month}"' in page.text
    expected = report(home)[JST_A]
    row = page.text[page.text.index(f'data-label="TERYT">{JST_A}</th>'):]
    row = row[:row.index("</tr>")]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[:4] == ["Gmina Miasto Zielona Góra", str(expected["certificates_issued"]),
                         str(expected["certificates_revoked"]), str(expected["seals"])]
    assert auditor.get("/audit/usage?month=2026-13").status_code == 400
    csv_page = auditor.get(f"/audit/usage.csv?month={month}")
    assert csv_page.data.startswith(b"\xef\xbb\xbf") and b";" in csv_page.data


def test_an_officer_cannot_see_the_usage_page(home):
    from regca.roles import enrollment_app
    secret = add_staff(home, "urzednik-usage", "officer", [JST_A])
    officer = Visitor(enrollment_app(home), home).login("urzednik-usage", secret)
    assert officer.get("/audit/usage").status_code in (302, 403)


def test_bad_month_values_fail_where_they_are_made():
    from ca.errors import Malformed
    with pytest.raises(Malformed):
        Month(2026, 0)
    assert str(Month.of(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone.utc))) == "2027-01"
