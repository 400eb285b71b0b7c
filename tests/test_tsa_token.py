"""The token encoder: every token is canonical DER that asn1crypto re-encodes to the same bytes,
with its signed attributes in DER order and a signature over exactly those attributes.
(``openssl ts -verify`` judges the same tokens in test_tsa_openssl.py.)"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from asn1crypto import cms, tsp
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ca.policy import load_tsa_policy
from tsa.reply import TimeStampResp, granted
from tsa.request import parse_request
from tsa.token import TokenSigner

pytestmark = pytest.mark.hsm

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_GEN_TIME = dt.datetime(2026, 12, 1, 12, 0, 0, 250000, tzinfo=dt.timezone.utc)


def _sha256(certificate) -> bytes:
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()


def _query(algorithm: str, nonce: int | None, cert_req: bool) -> bytes:
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm},
                            "hashed_message": hashlib.new(algorithm, b"e-form").digest()},
        "nonce": nonce,
        "cert_req": cert_req,
    }).dump()


@pytest.fixture(scope="module")
def signer(sqlite_ctx):
    policy = load_tsa_policy(sqlite_ctx.settings)
    certificate, key = sqlite_ctx.key_pair("tsa")
    return TokenSigner(certificate, key, policy,
                       [sqlite_ctx.certificate_of("issuing-ca")]), policy, sqlite_ctx


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("nonce", [None, 1, 2**255 + 12345])
@pytest.mark.parametrize("cert_req", [False, True])
def test_token_is_canonical_der_signed_over_its_attributes(signer, algorithm, nonce, cert_req):
    token_signer, policy, ctx = signer
    certificate = ctx.certificate_of("tsa")
    request = parse_request(_query(algorithm, nonce, cert_req), policy)
    token = token_signer.sign(request, 2**70 + 7, _GEN_TIME)

    reply = granted(token)
    assert TimeStampResp.load(reply).dump(force=True) == reply  # re-encoded from scratch
    info = cms.ContentInfo.load(token.der)
    assert info.dump(force=True) == token.der

    signed_data = info["content"]
    tst = signed_data["encap_content_info"]["content"].parsed
    assert tst["serial_number"].native == 2**70 + 7
    assert tst["gen_time"].native == _GEN_TIME
    assert tst["nonce"].native == nonce
    assert tst["policy"].dotted == policy.policy_oid
    assert tst["message_imprint"].dump() == asn1.encode_der(request.message_imprint)
    # with certReq: the TSA's certificate and the issuing CA's, so the root alone is enough
    sent = [c.chosen.sha256 for c in signed_data["certificates"]] if cert_req else []
    assert len(signed_data["certificates"]) == len(sent)
    assert set(sent) == ({_sha256(ctx.certificate_of(p)) for p in ("tsa", "issuing-ca")}
                         if cert_req else set())

    signer_info = signed_data["signer_infos"][0]
    attrs = signer_info["signed_attrs"]
    encodings = [a.dump() for a in attrs]
    assert encodings == sorted(encodings)  # X.690 §11.6: SET OF in DER order
    assert attrs[1]["values"][0].native == hashlib.new(
        token_signer._hash_name, tst.dump()).digest()
    # RFC 5652 §5.4: the signature covers the attributes encoded as a SET OF
    signed = cms.CMSAttributes(list(attrs)).dump(force=True)
    certificate.public_key().verify(signer_info["signature"].native, signed,
                                    ec.ECDSA(_HASHES[token_signer._hash_name]()))
