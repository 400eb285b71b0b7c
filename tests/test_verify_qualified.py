"""/api/v1/verify says whether a signature is qualified, per the EU trusted lists loaded with
`regca trust refresh`: generated lists (a test scheme operator pinned in the home) name a test
qualified CA, and a detached CAdES made with one of its certificates is judged through HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import io

import pytest
from asn1crypto import keys
from conftest import PINNED, make_home, run_cli
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.sign.signers import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from trusted_list_support import (
    FOR_ESEALS,
    FOR_ESIGNATURES,
    issue_qualified,
    make_ca,
    make_signer,
    pin_lotl_signer,
    write_trusted_lists,
)

from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper
from regca.roles import signing_app as create_app
from signing.seal import to_asn1
from signing.trusted_list_store import load_registry

pytestmark = pytest.mark.hsm

CONTENT = "Wniosek o wydanie zaświadczenia o zameldowaniu\n".encode()


@pytest.fixture(scope="module")
def lotl_signer():
    return make_signer("Test LOTL scheme operator", PINNED)


@pytest.fixture(scope="module")
def home(tmp_path_factory, lotl_signer):
    path = tmp_path_factory.mktemp("qualified") / "home"
    ctx = make_home(path)
    pem = path / "lotl-signer.pem"
    pem.write_bytes(lotl_signer.cert.public_bytes(Encoding.PEM))
    pin_lotl_signer(path, pem)
    yield ctx
    ctx.db.dispose()


def _cades(ca, **qualified) -> bytes:
    """A detached CAdES B-B by a holder of a (test) qualified certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_qualified(ca, "Jan Kowalski", at=PINNED, key=key, **qualified)
    signer = SimpleSigner(
        to_asn1(cert), keys.PrivateKeyInfo.load(key.private_bytes(
            Encoding.DER, PrivateFormat.PKCS8, NoEncryption())),
        SimpleCertificateStore.from_certs([to_asn1(ca.cert)]))
    return asyncio.run(signer.async_sign_general_data(CONTENT, "sha256", detached=True)).dump()


def _verify(home, lists, signature: bytes) -> dict:
    done = run_cli(home.settings.home, "trust", "refresh", "--lotl", str(lists.lotl),
                   "--tl", str(lists.tl))
    assert done.code == 0, done.err
    load_registry(home.settings.home, wait=True)
    app = create_app(home, timestamper=in_process_timestamper(home), fetch_revocation=False)
    key = create_api_key(home, "inbox", ["verify"], None)
    resp = app.test_client().post(
        "/api/v1/verify", headers={"Authorization": f"Bearer {key}"},
        data={"signature": (io.BytesIO(signature), "sig.p7s"),
              "content": (io.BytesIO(CONTENT), "wniosek.txt")},
        content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["signatures"][0]


@pytest.mark.parametrize("service_type, qualified, level", [
    (FOR_ESIGNATURES, {}, "QES"),
    (FOR_ESEALS, {"qc_type": "qct_eseal"}, "QESeal"),
    (FOR_ESIGNATURES, {"qscd": False}, "AdES-QC"),
], ids=["QES", "QESeal", "AdES-QC"])
def test_signature_from_a_listed_qualified_ca_is_reported_qualified(
        home, lotl_signer, tmp_path, service_type, qualified, level):
    ca = make_ca("Test Qualified CA", PINNED)
    lists = write_trusted_lists(tmp_path, ca.cert, at=PINNED, lotl_signer=lotl_signer,
                                cert_type=service_type)
    sig = _verify(home, lists, _cades(ca, **qualified))
    assert sig["indication"] == "TOTAL_PASSED", sig
    assert sig["qualification"]["level"] == level
    assert sig["qualification"]["trust_service"] == "Test qualified CA"
    assert sig["certificate_chain"][-1]["subject"] == ca.cert.subject.rfc4514_string()


def test_signature_after_the_ca_service_was_withdrawn_is_not_qualified(home, lotl_signer,
                                                                       tmp_path):
    ca = make_ca("Test Qualified CA", PINNED)
    lists = write_trusted_lists(tmp_path, ca.cert, at=PINNED, lotl_signer=lotl_signer,
                                granted_from=PINNED - dt.timedelta(days=300),
                                withdrawn_at=PINNED - dt.timedelta(days=30))
    sig = _verify(home, lists, _cades(ca))
    assert sig["indication"] != "TOTAL_PASSED"
    assert sig.get("qualification", {}).get("level") != "QES"


def test_regca_seal_is_advanced_not_qualified_once_lists_are_loaded(home, lotl_signer,
                                                                    tmp_path):
    ca = make_ca("Test Qualified CA", PINNED)
    lists = write_trusted_lists(tmp_path, ca.cert, at=PINNED, lotl_signer=lotl_signer)
    app = create_app(home, timestamper=in_process_timestamper(home), fetch_revocation=False)
    key = create_api_key(home, "eod", ["sign"], None)
    sealed = app.test_client().post("/api/v1/sign/cms", data=CONTENT, query_string={
        "level": "B-B"}, headers={"Authorization": f"Bearer {key}",
                                  "Content-Type": "application/octet-stream"}).get_data()
    sig = _verify(home, lists, sealed)
    assert sig["indication"] == "TOTAL_PASSED"
    assert sig["qualification"]["level"] == "AdES"
