"""The inclusion proof with the certificate (the resident's downloads, the RA API) and the
auditor's signed tree head, checked with the RFC's own algorithms (tests/rfc9162.py)."""

from __future__ import annotations

import base64
import json

import pytest
import rfc9162
from conftest import make_csr
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from test_enrollment_web import JST_A, _enrol, _issue, visitor, web  # noqa: F401 (fixture)
from werkzeug.test import Client

from ra.apikeys import create_api_key
from regca.roles import head_signer
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm


def test_resident_downloads_the_inclusion_proof_next_to_the_certificate(web):  # noqa: F811
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    enrolment_id, code = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id)
    resident = visitor(web)
    resident.pickup(code)
    assert resident.get(f"/my/certificates/{serial}.proof").status_code == 404  # not yet
    head_signer(ctx).sign()
    page = resident.get("/my").text
    assert f"/my/certificates/{serial}.proof" in page
    got = resident.get(f"/my/certificates/{serial}.proof")
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/json"
    der = resident.get(f"/my/certificates/{serial}.der").data
    assert rfc9162.proves_certificate(json.loads(got.data), der)


def test_ra_api_gives_the_proof_to_a_key_that_may_see_the_certificate(web):  # noqa: F811
    ctx, _, _ = web
    mine = create_api_key(ctx, "proof ZG", ["issue"], JST_A)
    other = create_api_key(ctx, "proof GW", ["issue"], "0861011")
    client = Client(create_app(ctx.settings.home, ctx))
    subject = {"given_name": "Jan", "surname": "Kowal", "organization_teryt": JST_A}
    r = client.post("/api/v1/certificates", json={
        "profile": "staff-signing", "csr": make_csr().decode(), "subject": subject},
        headers={"Authorization": f"Bearer {mine}"})
    assert r.status_code == 201, r.get_data(as_text=True)
    serial = r.get_json()["serial"]
    der = x509.load_pem_x509_certificate(r.get_json()["certificate"].encode()).public_bytes(
        Encoding.DER)
    head_signer(ctx).sign()
    url = f"/api/v1/certificates/{serial}/proof"
    got = client.get(url, headers={"Authorization": f"Bearer {mine}"})
    assert got.status_code == 200 and rfc9162.proves_certificate(got.get_json(), der)
    assert client.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 403
    assert client.get(url).status_code == 401
    public = client.get(f"/transparency/v1/proof?serial={serial}").get_json()
    assert public == got.get_json()


def test_auditor_sees_and_downloads_the_latest_tree_head(web):  # noqa: F811
    ctx, _, _ = web
    head_signer(ctx).sign()
    auditor = visitor(web, "auditor")
    page = auditor.get("/audit").text
    sth = json.loads(auditor.get("/audit/sth.json").data)
    assert str(sth["tree_size"]) in page
    assert base64.b64decode(sth["root_hash"]).hex() in page
    assert sth == json.loads(Client(create_app(ctx.settings.home, ctx)).get(
        "/transparency/v1/sth").data)
    assert visitor(web, "officer_a").get("/audit/sth.json").status_code == 403
