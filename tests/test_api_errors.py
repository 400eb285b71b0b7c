"""One error mapper for all of /api/v1: the signing API and the RA API, through the composed app,
answer the same kind with the same status and code, and anything unexpected with a logged 500
``internal`` that tells the caller nothing."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import make_csr
from signing_support import sample_pdf
from werkzeug.test import Client

from ca.errors import DependencyUnavailable, HsmUnavailable, RegCAError
from ca.issuance import Issuer
from ra.apikeys import create_api_key
from regca.wsgi import create_app
from signing.pades import PadesSealer

pytestmark = pytest.mark.hsm

_SIGNING_LIMIT = 16 * 1024 * 1024  # signing.config's default max_body_bytes
_RA_LIMIT = 256 * 1024  # enrollment_web.ra_api's _MAX_BODY


@pytest.fixture(scope="module")
def api(home):
    return Client(create_app(home.settings.home, home))


@pytest.fixture(scope="module")
def keys(home):
    return {"all": create_api_key(home, "wszystko", ["sign", "verify", "issue", "revoke",
                                                        "sign-digest"], None),
            "verify": create_api_key(home, "tylko weryfikacja", ["verify"], None)}


def _bearer(key: str | None) -> dict:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _ra(api, keys, key, body=None, data=None, method="POST", path="/api/v1/certificates"):
    return api.open(path, method=method, headers=_bearer(keys.get(key)), json=body, data=data,
                    content_type=None if body is not None else "application/json")


def _sign(api, keys, key, kind="pdf", data=b"", ctype="application/pdf", method="POST",
          **query):
    return api.open(f"/api/v1/sign/{kind}", method=method, data=data, query_string=query,
                    headers={**_bearer(keys.get(key)), "Content-Type": ctype})


def _problem(resp) -> tuple[int, str]:
    assert resp.mimetype == "application/json", resp.get_data(as_text=True)[:200]
    body = json.loads(resp.get_data())
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return resp.status_code, body["error"]["code"]


_SAME_KIND = {
    "unauthorized": (401, lambda api, k: _ra(api, k, None, {"profile": "x"}),
                     lambda api, k: _sign(api, k, None, data=sample_pdf())),
    "forbidden": (403, lambda api, k: _ra(api, k, "verify", {"profile": "x"}),
                  lambda api, k: _sign(api, k, "verify", data=sample_pdf())),
    "malformed": (400, lambda api, k: _ra(api, k, "all", data=b"\x00 not json"),
                  lambda api, k: _sign(api, k, "all", "cms", b"x", "application/octet-stream",
                                       digest="sha256:" + "0" * 64)),
    "not_found": (404, lambda api, k: _ra(api, k, "all", method="GET",
                                          path="/api/v1/certificates/ab/nothing"),
                  lambda api, k: _sign(api, k, "all", "nothing")),
    "method_not_allowed": (405, lambda api, k: _ra(api, k, "all", method="DELETE",
                                                   path="/api/v1/certificates/ab"),
                           lambda api, k: _sign(api, k, "all", method="GET")),
    "payload_too_large": (413, lambda api, k: _ra(api, k, "all", data=b" " * (_RA_LIMIT + 1)),
                          lambda api, k: _sign(api, k, "all",
                                               data=b"%PDF-1.7\n" + b"0" * _SIGNING_LIMIT)),
}


@pytest.mark.parametrize("code", list(_SAME_KIND))
def test_the_ra_api_and_the_signing_api_answer_a_kind_alike(api, keys, code):
    status, under_ra, under_signing = _SAME_KIND[code]
    assert _problem(under_ra(api, keys)) == (status, code)
    assert _problem(under_signing(api, keys)) == (status, code)


def test_a_path_no_api_serves_is_a_json_404_not_the_web_page(api):
    assert _problem(api.get("/api/v1/nothing/here")) == (404, "not_found")


def _raising(exc: Exception):
    def boom(*args, **kwargs):
        raise exc
    return boom


_SECRET = "internal detail 123456"  # for the operator's log, never for the caller


@pytest.mark.parametrize("exc, status, code", [
    (RuntimeError(_SECRET), 500, "internal"),
    (KeyError(_SECRET), 500, "internal"),
    (RegCAError(_SECRET), 500, "internal"),
])
def test_an_unexpected_error_while_signing_is_a_logged_500_internal(api, keys, monkeypatch,
                                                                    caplog, exc, status, code):
    # The sealer is only the place the fault comes from; the mapper is what is under test.
    monkeypatch.setattr(PadesSealer, "seal", _raising(exc))
    with caplog.at_level(logging.ERROR, logger="regca.api"):
        resp = _sign(api, keys, "all", data=sample_pdf())
    assert _problem(resp) == (status, code)
    assert "123456" not in resp.get_data(as_text=True)
    logged = [r for r in caplog.records if r.name == "regca.api"]
    assert logged and "/api/v1/sign/pdf" in logged[0].getMessage()
    if not isinstance(exc, RegCAError):
        assert logged[0].exc_info and logged[0].exc_info[1] is exc  # the traceback is kept


def test_an_unexpected_error_while_issuing_is_a_logged_500_internal(api, keys, monkeypatch,
                                                                    caplog, staff_subject):
    monkeypatch.setattr(Issuer, "issue", _raising(RuntimeError(_SECRET)))
    with caplog.at_level(logging.ERROR, logger="regca.api"):
        resp = _ra(api, keys, "all", {"profile": "staff-signing", "csr": make_csr().decode(),
                                      "subject": staff_subject})
    assert _problem(resp) == (500, "internal")
    assert "123456" not in resp.get_data(as_text=True)
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError)
               for r in caplog.records if r.name == "regca.api")


@pytest.mark.parametrize("exc, code", [(HsmUnavailable("the seal token is gone"),
                                        "hsm_unavailable"),
                                       (DependencyUnavailable("the TSA did not answer"),
                                        "dependency_unavailable")])
def test_the_services_own_faults_are_503_with_their_code(api, keys, monkeypatch, caplog, exc,
                                                         code):
    monkeypatch.setattr(PadesSealer, "seal", _raising(exc))
    with caplog.at_level(logging.ERROR, logger="regca.api"):
        resp = _sign(api, keys, "all", data=sample_pdf())
    assert _problem(resp) == (503, code)
    assert resp.get_json()["error"]["message"] == exc.message
    assert any(code in r.getMessage() for r in caplog.records if r.name == "regca.api")
