"""Fuzz targets for each parser that takes bytes from the outside: a CSR, an OCSP request, a
time-stamp request, a PDF and an XML to verify, and an RA API JSON body.

Each target feeds one input to the real entry point and lets through only the refusals that
entry point promises (the core's error kinds, the TSA's ``Rejected``); anything else escaping
is a crash, which ``run.py`` reports with the input that caused it. Each has seeds: valid
inputs for the fuzzer to mutate.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

__all__ = ["TARGETS", "Target"]


@dataclass(frozen=True)
class Target:
    one_input: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def _pki():
    """A throw-away root and issuing CA (file keys: only verification is fuzzed here)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def cert(subject, issuer, key, signer, ca=True):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        return (x509.CertificateBuilder().subject_name(name)
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(signer, hashes.SHA256()))

    root_key, issuing_key = _key(), _key()
    root = cert("Fuzz Root", "Fuzz Root", root_key, root_key)
    issuing = cert("Fuzz Issuing", "Fuzz Root", issuing_key, root_key)
    return root, issuing


# -- CSR -------------------------------------------------------------------------------------------

def _csr_input(data: bytes) -> None:
    from ca.config import KEY_ALGORITHMS
    from ca.csr import checked_public_key, load_csr
    from ca.errors import RegCAError
    try:
        checked_public_key(load_csr(data), tuple(KEY_ALGORITHMS))
    except RegCAError:
        pass


def _csr_seeds() -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Jan")]))
           .sign(_key(), hashes.SHA256()))
    return [csr.public_bytes(serialization.Encoding.DER),
            csr.public_bytes(serialization.Encoding.PEM)]


# -- OCSP request ---------------------------------------------------------------------------------

def _ocsp_input(data: bytes) -> None:
    from ca.errors import RegCAError
    from ocsp.request import parse_request
    try:
        parse_request(data)
    except RegCAError:
        pass


def _ocsp_seeds() -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp
    root, issuing = _pki()
    req = (ocsp.OCSPRequestBuilder().add_certificate(issuing, root, hashes.SHA1())
           .add_extension(x509.OCSPNonce(b"\x01" * 16), critical=False).build())
    return [req.public_bytes(serialization.Encoding.DER)]


# -- time-stamp request ---------------------------------------------------------------------------

@functools.cache
def _tsa_policy():
    from ca.policy import TsaPolicy
    return TsaPolicy(policy_oid="1.3.6.1.4.1.99999.616.3.1",
                     hash_algorithms=frozenset({"sha256", "sha384", "sha512"}),
                     accuracy_millis=1000, max_request_bytes=8192, serial_block=100)


def _tsa_input(data: bytes) -> None:
    from ca.errors import RegCAError
    from tsa.errors import Rejected
    from tsa.request import parse_request
    try:
        parse_request(data, _tsa_policy())
    except (Rejected, RegCAError):
        pass


def _tsa_seeds() -> list[bytes]:
    from asn1crypto import algos, tsp
    req = tsp.TimeStampReq({
        "version": 1,
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                            "hashed_message": hashlib.sha256(b"Decyzja").digest()},
        "nonce": 12345, "cert_req": True})
    return [req.dump()]


# -- PDF and XML verification ---------------------------------------------------------------------

@functools.cache
def _verifiers():
    from ca.clock import SystemClock
    from signing.trust import TrustInputs, TrustStore
    from signing.verify_pdf import PadesVerifier
    from signing.verify_xml import XadesVerifier
    root, issuing = _pki()
    home = Path(tempfile.mkdtemp(prefix="regca-fuzz-"))
    trust = TrustStore(TrustInputs(root, issuing, home, "http://127.0.0.1:9", SystemClock()))
    return PadesVerifier(trust, False), XadesVerifier(trust, False)


def _pdf_input(data: bytes) -> None:
    from ca.errors import RegCAError
    try:
        _verifiers()[0].verify(data)
    except RegCAError:
        pass


def _pdf_seeds() -> list[bytes]:
    from signing_support import sample_pdf
    return [sample_pdf(), b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root "
            b"1 0 R >>\n%%EOF\n"]


def _xml_input(data: bytes) -> None:
    from ca.errors import RegCAError
    try:
        _verifiers()[1].verify(data)
    except RegCAError:
        pass


def _xml_seeds() -> list[bytes]:
    from conftest import SAMPLE_XML
    return [SAMPLE_XML.read_bytes(), b'<?xml version="1.0"?><r a="1"><s>t</s></r>']


# -- RA API JSON body ------------------------------------------------------------------------

@functools.cache
def _flask_app():
    from flask import Flask
    return Flask("fuzz-ra-json")


def _ra_json_input(data: bytes) -> None:
    from flask import request

    from ca.errors import RegCAError
    from ca.identity import parse_subscriber
    from edge.json_body import json_object
    with _flask_app().test_request_context(data=data, content_type="application/json",
                                           method="POST"):
        try:
            body = json_object(request)
            parse_subscriber(body.get("subject"))
        except RegCAError:
            pass


def _ra_json_seeds() -> list[bytes]:
    subject = {"given_name": "Zofia", "surname": "Kowalczyk-Żółtowska", "pesel": "02270803624",
               "email": "zofia@example.pl", "organization_teryt": "0862011", "title": "Inspektor",
               "identity_document": {"type": "IDC", "number": "ABC123456"}}
    return [json.dumps({"profile": "resident-signing", "csr": "x", "subject": subject},
                       ensure_ascii=False).encode(), b'{"reason": "keyCompromise"}']


TARGETS: dict[str, Target] = {
    "csr": Target(_csr_input, _csr_seeds),
    "ocsp_request": Target(_ocsp_input, _ocsp_seeds),
    "tsa_request": Target(_tsa_input, _tsa_seeds),
    "pdf_verify": Target(_pdf_input, _pdf_seeds),
    "xml_verify": Target(_xml_input, _xml_seeds),
    "ra_json": Target(_ra_json_input, _ra_json_seeds),
}
