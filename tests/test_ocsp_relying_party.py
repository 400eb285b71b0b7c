"""A relying party that knows only the root: pyhanko-certvalidator, hard-fail, fetching the
issuing CA, OCSP responses and CRLs from the URLs in the certificates themselves."""

from __future__ import annotations

import asyncio

import pytest
from asn1crypto import x509 as a_x509
from conftest import run_cli
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from revocation_support import issue, serve_home, stop

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = serve_home(tmp_path_factory.mktemp("relying-party"), None)
    yield s
    stop(s.process)


def _asn1(cert) -> a_x509.Certificate:
    return a_x509.Certificate.load(cert.public_bytes(Encoding.DER))


RULES = {"ocsp": RevocationCheckingRule.OCSP_REQUIRED,
         "crl": RevocationCheckingRule.CRL_REQUIRED}


def _validate(served, cert, via: str):
    """Validate ``cert`` requiring revocation information of kind ``via`` for the end entity
    and the issuing CA alike."""
    policy = CertRevTrustPolicy(RevocationCheckingPolicy(RULES[via], RULES[via]))

    async def run():
        async with AIOHttpFetcherBackend() as fetchers:
            vc = ValidationContext(
                trust_roots=[_asn1(served.ctx.certificate_of("root-ca"))], allow_fetching=True,
                revinfo_policy=policy, fetchers=fetchers)
            validator = CertificateValidator(_asn1(cert), validation_context=vc)
            return await validator.async_validate_usage({"non_repudiation"})

    return asyncio.run(run())


@pytest.mark.parametrize("via", ["ocsp", "crl"])
def test_pyhanko_accepts_good_and_rejects_revoked_certificate(served, tmp_path, via):
    serial, cert, _ = issue(served.ctx, tmp_path)
    path = _validate(served, cert, via)
    assert path.leaf.serial_number == cert.serial_number
    run_cli(served.home, "revoke", serial, "--reason", "keyCompromise")
    with pytest.raises(RevokedError):
        _validate(served, cert, via)
