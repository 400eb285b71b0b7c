"""Every certificate RegCA produces passes pkilint's RFC 5280 linter, and every end-entity
certificate its ETSI EN 319 412 linters, with no finding of WARNING or worse.

The home has a public URL and e-mail domains a production centre would have: pkilint's ETSI
linters refuse internal names such as 127.0.0.1 or example domains in certificates, and CRL
distribution points over https (ETSI EN 319 412-2 GEN-4.3.11-4 asks for http or ldap)."""

from __future__ import annotations

import pytest
from conftest import RESIDENT, STAFF, make_csr, make_home, new_key
from cryptography.hazmat.primitives.serialization import Encoding
from pkilint import etsi, finding_filter, loader
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


def _findings(results) -> list[str]:
    findings = []
    for result in results:
        for finding in result.finding_descriptions:
            if finding.finding.severity <= ValidationFindingSeverity.WARNING:
                findings.append(f"{result.node.path}: {finding.finding.code} "
                                f"({finding.finding.severity}) {finding.message or ''}")
    return findings


def lint_errors(cert) -> list[str]:
    """pkilint's RFC 5280 findings of severity WARNING or worse, as text."""
    doc = loader.load_der_certificate(cert.public_bytes(Encoding.DER), "cert")
    return _findings(_VALIDATOR.validate(doc.root))


def etsi_lint_errors(cert) -> list[str]:
    """pkilint's ETSI EN 319 412 findings of severity WARNING or worse, for the certificate
    type pkilint detects (natural or legal person), as ``lint_etsi_cert`` reports them."""
    doc = loader.load_der_certificate(cert.public_bytes(Encoding.DER), "cert")
    kind = etsi.determine_certificate_type(doc)
    validator = certificate.create_pkix_certificate_validator_container(
        etsi.create_decoding_validators(kind), etsi.create_validators(kind))
    results, _ = finding_filter.filter_results(etsi.create_etsi_finding_filters(kind),
                                               validator.validate(doc.root))
    return _findings(results)


# RFC 3161 §2.3 and ETSI EN 319 422 §7.2 make a TSA certificate's EKU critical (and OpenSSL
# refuses a TSA certificate without), where EN 319 412-2 §4.3.10 asks non-critical: the
# time-stamping standard, the specific one, wins for this one finding.
_TSA_EKU = "etsi.en_319_412_2.gen-4.3.10-1.eku_extension_is_critical"

_DOMAINS = {"email": "jan.nowak@zielona-gora.pl"}


@pytest.fixture(scope="module")
def production_like(tmp_path_factory):
    ctx = make_home(tmp_path_factory.mktemp("lint") / "home",
                    public_url="http://pki.lubuskie.pl")
    yield ctx
    ctx.db.dispose()


def _issue(ctx, profile, subject, kind="ec-p256"):
    return Issuer(ctx).issue(IssuanceRequest(profile, make_csr(new_key(kind)),
                                             {**subject, **_DOMAINS}, "test")).certificate


@pytest.mark.parametrize("profile", ["root-ca", "issuing-ca", "ocsp-responder", "tsa", "seal"])
def test_ca_and_service_certificates_lint_clean(sqlite_ctx, profile):
    assert lint_errors(sqlite_ctx.certificate_of(profile)) == []


@pytest.mark.parametrize("profile", ["ocsp-responder", "tsa", "seal"])
def test_service_certificates_pass_the_etsi_linters(production_like, profile):
    findings = etsi_lint_errors(production_like.certificate_of(profile))
    if profile == "tsa":
        assert [f for f in findings if _TSA_EKU in f] != []
        findings = [f for f in findings if _TSA_EKU not in f]
    assert findings == []


@pytest.mark.parametrize("profile,subject", [
    ("staff-signing", STAFF), ("staff-authentication", STAFF),
    ("resident-signing", RESIDENT), ("resident-authentication", RESIDENT)])
def test_subscriber_certificates_pass_the_etsi_linters(production_like, profile, subject):
    cert = _issue(production_like, profile, subject)
    assert etsi_lint_errors(cert) == []
    assert lint_errors(cert) == []


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
