"""The OpenAPI document stays true: documented paths answer as documented, and schemathesis
finds no server error in the sign/verify operations."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLE_XML
from signing_support import sample_pdf

from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper
from regca.roles import signing_app as create_app
from signing.web import load_openapi

pytestmark = pytest.mark.hsm

SPEC = load_openapi()


@pytest.fixture(scope="module")
def app(home):
    return create_app(home, timestamper=in_process_timestamper(home), fetch_revocation=False)


@pytest.fixture(scope="module")
def key(home):
    return create_api_key(home, "openapi", ["sign", "verify"], None)


def test_document_is_served_and_covers_all_of_api_v1(app):
    served = app.test_client().get("/api/v1/openapi.json").get_json()
    assert served["openapi"].startswith("3.")
    assert set(served["paths"]) >= {
        "/api/v1/sign/pdf", "/api/v1/sign/xml", "/api/v1/sign/cms", "/api/v1/verify",
        "/api/v1/certificates", "/api/v1/certificates/{serial}",
        "/api/v1/certificates/{serial}/revoke", "/api/v1/openapi.json"}


def _documented(path: str, method: str) -> dict:
    return SPEC["paths"][path][method]["responses"]


@pytest.mark.parametrize("path, ctype, body_kind", [
    ("/api/v1/sign/pdf", "application/pdf", "pdf"),
    ("/api/v1/sign/xml", "application/xml", "xml"),
    ("/api/v1/sign/cms", "application/octet-stream", "bytes"),
    ("/api/v1/verify", "application/pdf", "pdf"),
])
def test_documented_operation_answers_as_documented(app, key, path, ctype, body_kind):
    body = {"pdf": sample_pdf(), "xml": Path(SAMPLE_XML).read_bytes(),
            "bytes": b"content"}[body_kind]
    client = app.test_client()
    documented = _documented(path, "post")
    ok = client.post(path, data=body, headers={"Authorization": f"Bearer {key}",
                                               "Content-Type": ctype})
    assert str(ok.status_code) in documented and ok.status_code == 200
    assert ok.mimetype in documented["200"]["content"]
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {key}"}, 400)):
        bad = client.post(path, data=b"\x00not a document", query_string={"level": "nope"},
                          headers={**headers, "Content-Type": ctype})
        assert bad.status_code == status and str(status) in documented
        assert set(bad.get_json()["error"]) == {"code", "message"}


def test_schemathesis_finds_no_server_error(app, key):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, settings

    # Binary bodies go as bytes; strings (XML) as UTF-8.
    @schemathesis.serializer("application/pdf", "application/octet-stream", "application/xml")
    def _raw(ctx, value):
        return value if isinstance(value, bytes) else str(value).encode()

    schema = schemathesis.openapi.from_dict(SPEC).include(
        path_regex=r"^/api/v1/(sign|verify|openapi)")
    failures, calls = [], []
    for op_result in schema.get_all_operations():
        operation = op_result.ok()

        @settings(max_examples=8, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(app=app, headers={"Authorization": f"Bearer {key}"})
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append((case.path, case.query, response.status_code, response.text[:200]))

        from hypothesis import given
        given(case=operation.as_strategy())(run)()
    assert failures == []
    assert len(calls) >= 5 * 2  # every operation was exercised, several times
