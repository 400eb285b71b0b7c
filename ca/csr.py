"""Parsing and checking PKCS#10 requests: proof of possession, then the key policy."""

from __future__ import annotations

from cryptography import x509

from ca.errors import BadCSR
from ca.keypolicy import good_key

__all__ = ["load_csr", "checked_public_key"]

_MAX_CSR = 64 * 1024


def load_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    """A CSR from PEM or DER; BadCSR for anything else."""
    if isinstance(data, str):
        data = data.encode()
    if not data or len(data) > _MAX_CSR:
        raise BadCSR("CSR is empty or larger than 64 KiB")
    pem = b"-----BEGIN" in data
    try:
        return x509.load_pem_x509_csr(data) if pem else x509.load_der_x509_csr(data)
    except ValueError:
        # The parser's own words (a Rust ParseError's debug form) help no caller.
        what = ("a PEM block that is not a valid CERTIFICATE REQUEST" if pem
                else "neither PEM (-----BEGIN CERTIFICATE REQUEST-----) nor DER")
        raise BadCSR(f"not a PKCS#10 certificate request: {what}") from None


def checked_public_key(csr: x509.CertificateSigningRequest, allowed: tuple[str, ...]):
    """The CSR's public key once its signature verifies and the key policy accepts it."""
    try:
        public_key = csr.public_key()
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        raise BadCSR(f"CSR public key cannot be read: {exc}") from None
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # cryptography raises several types for odd algorithms
        raise BadCSR(f"CSR signature cannot be checked: {exc}") from None
    if not valid:
        raise BadCSR("CSR signature does not verify (no proof of possession of the key)")
    good_key(public_key, allowed)
    return public_key
