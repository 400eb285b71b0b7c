"""The RA API through the composed WSGI app: issue, read, revoke, and the refusals."""

from __future__ import annotations

import pytest
from conftest import make_csr
from cryptography import x509
from werkzeug.test import Client

from ra.apikeys import create_api_key
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def client(home_ctx):
    return Client(create_app(home_ctx.settings.home, home_ctx))


@pytest.fixture(scope="module")
def keys(home_ctx):
    return {
        "issue": create_api_key(home_ctx, "rejestracja ZG", ["issue", "revoke"], "0862011"),
        "other_jst": create_api_key(home_ctx, "rejestracja GW", ["issue", "revoke"], "0861011"),
        "verify": create_api_key(home_ctx, "weryfikacja", ["verify"], None),
    }


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def _issue(client, key, subject, profile="staff-signing"):
    return client.post("/api/v1/certificates", headers=_auth(key),
                       json={"profile": profile, "csr": make_csr().decode(), "subject": subject})


def test_issue_returns_201_with_certificate_and_chain(client, keys, staff_subject):
    r = _issue(client, keys["issue"], staff_subject)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert format(cert.serial_number, "x") == body["serial"]
    assert len(body["chain"]) == 2


def test_status_then_revoke_reports_revoked_with_reason(client, keys, staff_subject):
    serial = _issue(client, keys["issue"], staff_subject).get_json()["serial"]
    r = client.get(f"/api/v1/certificates/{serial}", headers=_auth(keys["issue"]))
    assert r.get_json()["status"] == "good"
    r = client.post(f"/api/v1/certificates/{serial}/revoke", headers=_auth(keys["issue"]),
                    json={"reason": "keyCompromise"})
    assert r.status_code == 200
    assert r.get_json()["status"] == "revoked"
    assert r.get_json()["revocation_reason"] == "keyCompromise"
    again = client.post(f"/api/v1/certificates/{serial}/revoke", headers=_auth(keys["issue"]),
                        json={"reason": "keyCompromise"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_revoked"


def test_der_is_served_for_pkix_cert_accept(client, keys, staff_subject):
    body = _issue(client, keys["issue"], staff_subject).get_json()
    r = client.get(f"/api/v1/certificates/{body['serial']}",
                   headers={**_auth(keys["issue"]), "Accept": "application/pkix-cert"})
    assert r.mimetype == "application/pkix-cert"
    assert x509.load_der_x509_certificate(r.data).serial_number == int(body["serial"], 16)


def test_key_of_another_jst_gets_403_for_status_and_revoke(client, keys, staff_subject):
    serial = _issue(client, keys["issue"], staff_subject).get_json()["serial"]
    other = _auth(keys["other_jst"])
    assert client.get(f"/api/v1/certificates/{serial}", headers=other).status_code == 403
    r = client.post(f"/api/v1/certificates/{serial}/revoke", headers=other,
                    json={"reason": "superseded"})
    assert r.status_code == 403
    status = client.get(f"/api/v1/certificates/{serial}", headers=_auth(keys["issue"]))
    assert status.get_json()["status"] == "good"


def test_issue_for_another_jst_is_forbidden(client, keys, staff_subject):
    r = _issue(client, keys["other_jst"], staff_subject)
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("headers,status", [({}, 401),
                                            ({"Authorization": "Bearer rca_nope"}, 401)])
def test_missing_or_bad_key_is_401(client, staff_subject, headers, status):
    r = client.post("/api/v1/certificates", headers=headers,
                    json={"profile": "staff-signing", "csr": "x", "subject": staff_subject})
    assert r.status_code == status
    assert r.get_json()["error"]["code"] == "unauthorized"


def test_wrong_scope_is_403(client, keys, staff_subject):
    assert _issue(client, keys["verify"], staff_subject).status_code == 403


@pytest.mark.parametrize("subject_change,field", [
    ({"pesel": "02270803625"}, "pesel"),
    ({"organization_teryt": "0862016"}, "organization_teryt"),
    ({"email": "not-an-address"}, "email"),
])
def test_invalid_subject_is_400_naming_the_field(client, keys, staff_subject, subject_change,
                                                 field):
    r = _issue(client, keys["issue"], {**staff_subject, **subject_change})
    assert r.status_code == 400
    assert r.get_json()["error"]["message"].startswith(field)


def test_garbage_json_and_unknown_serial_are_client_errors(client, keys):
    r = client.post("/api/v1/certificates", headers=_auth(keys["issue"]), data=b"\x00\xff",
                    content_type="application/json")
    assert r.status_code == 400
    r = client.get("/api/v1/certificates/abcdef", headers=_auth(keys["issue"]))
    assert r.status_code == 404
    r = client.get("/api/v1/certificates/zz", headers=_auth(keys["issue"]))
    assert r.status_code == 400
