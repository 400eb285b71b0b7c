"""Every certificate RegCA produces passes pkilint's RFC 5280 linter with no error."""

from __future__ import annotations

import pytest
from conftest import RESIDENT, STAFF, make_csr, new_key
from cryptography.hazmat.primitives.serialization import Encoding
from pkilint import loader
from pkilint.pkix import certificate, extension, name
from pkilint.validation import ValidationFindingSeverity

from ca.issuance import IssuanceRequest, Issuer

pytestmark = pytest.mark.hsm

_VALIDATOR = certificate.create_pkix_certificate_validator_container(
    certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS,
                                           extension.EXTENSION_MAPPINGS),
    [certificate.create_issuer_validator_container([]),
     certificate.create_validity_validator_container(),
     certificate.create_subject_validator_container([]),
     certificate.create_extensions_validator_container([]),
     certificate.create_spki_validator_container([])])


def lint_errors(cert) -> list[str]:
    """pkilint findings of severity WARNING or worse, as text."""
    doc = loader.load_der_certificate(cert.public_bytes(Encoding.DER), "cert")
    results = _VALIDATOR.validate(doc.root)
    findings = []
    for result in results:
        for finding in result.finding_descriptions:
            if finding.finding.severity <= ValidationFindingSeverity.WARNING:
                findings.append(f"{result.node.path}: {finding.finding.code} "
                                f"({finding.finding.severity}) {finding.message or ''}")
    return findings


@pytest.mark.parametrize("profile", ["root-ca", "issuing-ca", "ocsp-responder", "tsa", "seal"])
def test_ca_and_service_certificates_lint_clean(sqlite_ctx, profile):
    assert lint_errors(sqlite_ctx.certificate_of(profile)) == []


@pytest.mark.parametrize("profile,subject,kind", [
    ("staff-signing", STAFF, "ec-p256"),
    ("staff-authentication", STAFF, "rsa-2048"),
    ("resident-signing", RESIDENT, "ec-p384"),
    ("resident-authentication", {**RESIDENT, "identity_document":
                                 {"type": "PAS", "number": "AB1234567"}}, "rsa-3072"),
])
def test_subscriber_certificates_lint_clean(sqlite_ctx, profile, subject, kind):
    issued = Issuer(sqlite_ctx).issue(IssuanceRequest(profile, make_csr(new_key(kind)),
                                                      dict(subject), "test"))
    assert lint_errors(issued.certificate) == []
