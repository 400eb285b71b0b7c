"""Every call of the signing API is one audit event written by the core's seal journal
(ca/seal_journal.py): who (key id, name, JST), what (the document's SHA-256, format, level),
with which seal certificate and time-stamp tokens, and how it ended; refusals too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import SAMPLE_XML
from signing_support import jst_seals, sample_pdf

from ca.store import audit as audit_store
from ca.store import timestamps as tsa_store
from ra.apikeys import create_api_key

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def home(home_ctx):
    """The module's home on SQLite, and on PostgreSQL too when REGCA_TEST_DATABASE_URL is set:
    the seal journal and the usage report read and write through the store on both."""
    return home_ctx

JST = "0862011"


@pytest.fixture(scope="module", autouse=True)
def seal_of_jst(home):
    return jst_seals(home, JST)[JST]


def events_of(ctx, key: str) -> list:
    """The audit events whose actor is ``key``'s id, oldest first."""
    key_id = key.split("_")[1]
    with ctx.db.reading() as s:
        rows = [r for r in audit_store.events(s, limit=100000) if r.actor == f"apikey:{key_id}"]
    return [(r.action, r.object, r.outcome, r.organization_teryt, json.loads(r.details))
            for r in reversed(rows)]


def post(client, key, kind, body, ctype, **query):
    return client.post(f"/api/v1/sign/{kind}", data=body, query_string=query,
                       headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})


def seal_serial(home) -> str:
    """The JST's own seal, which its keys seal with."""
    return format(jst_seals(home, JST)[JST].serial_number, "x")


CASES = {
    "pdf": (sample_pdf(), "application/pdf", {"level": "B-T"}),
    "xml": (Path(SAMPLE_XML).read_bytes(), "application/xml",
            {"level": "B-T", "packaging": "detached"}),
    "cms": (b"Decyzja nr 7/2026", "application/octet-stream", {"level": "B-B"}),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_each_seal_is_one_success_event_with_every_field(client, home, fmt):
    key = create_api_key(home, f"EOD {fmt}", ["sign"], JST)
    body, ctype, query = CASES[fmt]
    resp = post(client, key, fmt, body, ctype, **query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    [(action, obj, outcome, teryt, details)] = events_of(home, key)
    digest = hashlib.sha256(body).hexdigest()
    assert (action, obj, outcome, teryt) == (f"sign.{fmt}", f"sha256:{digest}", "success", JST)
    assert details["key_id"] == key.split("_")[1] and details["key_name"] == f"EOD {fmt}"
    assert (details["format"], details["level"], details["document_sha256"]) == (
        fmt, query["level"], digest)
    assert details["seal_serial"] == seal_serial(home)
    assert "error" not in details
    if query["level"] == "B-T":
        [serial] = details["timestamp_serials"]
        with home.db.reading() as s:  # the very token the TSA journal holds
            assert [t.serial for t in tsa_store.tokens_between(s, serial, serial)] == [serial]
    else:
        assert details["timestamp_serials"] == []
    if fmt == "xml":
        assert details["packaging"] == "detached"


def test_two_pdf_seals_are_two_events_with_their_own_time_stamps(client, home):
    key = create_api_key(home, "EOD twice", ["sign"], None)
    for _ in range(2):
        assert post(client, key, "pdf", sample_pdf(), "application/pdf").status_code == 200
    found = events_of(home, key)
    assert [e[0] for e in found] == ["sign.pdf", "sign.pdf"]
    serials = [e[4]["timestamp_serials"] for e in found]
    assert all(len(s) == 1 for s in serials) and serials[0] != serials[1]
    assert found[0][3] is None  # a key bound to no JST


def test_a_key_without_the_sign_scope_is_refused_and_recorded(client, home):
    key = create_api_key(home, "inbox", ["verify"], JST)
    resp = post(client, key, "pdf", sample_pdf(), "application/pdf")
    assert resp.status_code == 403
    [(action, _, outcome, teryt, details)] = events_of(home, key)
    assert (action, outcome, teryt) == ("sign.pdf", "refused", JST)
    assert details["error"]["code"] == "forbidden"
    assert details["seal_serial"] is None and details["document_sha256"] is None


def test_a_body_over_the_limit_is_refused_and_recorded(client, home):
    key = create_api_key(home, "big", ["sign"], JST)
    resp = post(client, key, "pdf", b"%PDF-1.7\n" + b"0" * (17 * 1024 * 1024),
                "application/pdf")
    assert resp.status_code == 413
    [(action, _, outcome, _, details)] = events_of(home, key)
    assert (action, outcome, details["error"]["code"]) == (
        "sign.pdf", "refused", "payload_too_large")


def test_a_bad_document_is_refused_and_recorded_with_its_digest(client, home):
    key = create_api_key(home, "bad", ["sign"], JST)
    body = b"<a><b></a>"
    resp = post(client, key, "xml", body, "application/xml")
    assert resp.status_code == 400
    [(action, obj, outcome, _, details)] = events_of(home, key)
    assert (action, obj, outcome) == ("sign.xml", f"sha256:{hashlib.sha256(body).hexdigest()}",
                                      "refused")
    assert details["error"]["code"] == "bad_document"


def test_a_call_without_a_valid_key_names_nobody_and_records_nothing(client, home):
    with home.db.reading() as s:
        before = len(list(audit_store.events(s, limit=100000)))
    resp = client.post("/api/v1/sign/pdf", data=sample_pdf(),
                       headers={"Authorization": "Bearer rca_000000000000_" + "x" * 43,
                                "Content-Type": "application/pdf"})
    assert resp.status_code == 401
    with home.db.reading() as s:
        assert len(list(audit_store.events(s, limit=100000))) == before


def test_the_audit_chain_stays_intact_after_seals(client, home):
    key = create_api_key(home, "chain", ["sign"], JST)
    post(client, key, "cms", b"x", "application/octet-stream", level="B-B")
    with home.db.reading() as s:
        count, problems = audit_store.verify_chain(s)
    assert problems == [] and count > 0


# -- signing a bare digest: a scope of its own (sign-digest, in addition to sign) ---------------

DIGEST = "sha256:" + hashlib.sha256(b"archiwum.zip").hexdigest()


def test_a_digest_with_a_sign_key_is_403_and_recorded_as_a_digest(client, home):
    key = create_api_key(home, "EOD old", ["sign"], JST)  # as every key made before the scope
    resp = post(client, key, "cms", b"", "application/octet-stream", digest=DIGEST)
    assert resp.status_code == 403
    assert "sign-digest" in resp.get_json()["error"]["message"]
    [(action, obj, outcome, _, details)] = events_of(home, key)
    assert (action, obj, outcome, details["error"]["code"]) == (
        "sign.digest", f"sha256:{DIGEST[7:]}", "refused", "forbidden")
    assert details["seal_serial"] is None  # nothing was sealed


def test_a_digest_with_a_sign_digest_key_is_200_and_recorded_as_a_digest(client, home):
    key = create_api_key(home, "EOD archive", ["sign", "sign-digest"], JST)
    resp = post(client, key, "cms", b"", "application/octet-stream", digest=DIGEST,
                level="B-B")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    [(action, obj, outcome, _, details)] = events_of(home, key)
    assert (action, obj, outcome) == ("sign.digest", f"sha256:{DIGEST[7:]}", "success")
    assert (details["format"], details["seal_serial"]) == ("digest", seal_serial(home))


def test_the_same_key_seals_bytes_as_cms_not_as_a_digest(client, home):
    key = create_api_key(home, "EOD bytes", ["sign", "sign-digest"], JST)
    assert post(client, key, "cms", b"abc", "application/octet-stream",
                level="B-B").status_code == 200
    assert [e[0] for e in events_of(home, key)] == ["sign.cms"]


def test_sign_digest_without_sign_is_refused_at_creation(home):
    from ca.errors import Malformed
    with pytest.raises(Malformed, match="in addition to sign"):
        create_api_key(home, "digest only", ["sign-digest"], None)
