"""Certificate profiles, loaded from ``policies/profiles/*.toml`` and checked at load.

The profile decides everything in a certificate except the public key and the names the RA
validated (STYLE.md, "Allowlist what comes from the CSR").
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from ca.config import KEY_ALGORITHMS
from ca.errors import ConfigurationError, UnknownProfile

__all__ = ["Profile", "ProfileSet", "load_profiles", "SUBJECT_KINDS", "KEY_USAGES", "EKUS",
           "ETSI_POLICIES", "ANY_POLICY"]

SUBJECT_KINDS = ("staff", "resident", "seal", "service", "ca")
KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment",
              "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")
EKUS = {
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "time_stamping": ExtendedKeyUsageOID.TIME_STAMPING,
    # id-kp-documentSigning, RFC 9336
    "document_signing": ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
    # signer of the transparency log's tree heads, under this CP's arc (policies/oids.toml)
    "transparency_log_signing": ObjectIdentifier("1.3.6.1.4.1.99999.616.4.1"),
}
# The ETSI EN 319 411-1 §5.3 policies an end-entity certificate may claim (cps.md §1.2 says
# which profile claims which, and why).
ETSI_POLICIES = {"0.4.0.2042.1.1": "NCP", "0.4.0.2042.1.2": "NCP+", "0.4.0.2042.1.3": "LCP"}
ANY_POLICY = "2.5.29.32.0"  # RFC 5280 §4.2.1.4
# ETSI EN 319 412-2 §4.3.2 key usage settings: signing (nonRepudiation alone) apart from
# authentication (digitalSignature alone); a mix of the two draws a warning there.
_MIXED_USAGE = {"digital_signature", "content_commitment"}
SUBJECT_FIELDS = ("given_name", "surname", "pesel", "email", "organization_teryt", "title",
                  "identity_document")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    subject: str
    issuer: str
    policy_oids: tuple[str, ...]
    validity_days: int
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    required_fields: tuple[str, ...]
    key_algorithms: tuple[str, ...]
    extended_key_usage_critical: bool = False
    path_length: int | None = None
    ocsp_nocheck: bool = False
    # May the same subject certify the same public key again (a renewal)? Another subject never.
    key_renewal: bool = False
    # Does a renewal keep the key (true) or make a new one (false)? Keeping it needs
    # key_renewal: the CA must be willing to certify the same key again (ra/renewal.py).
    renewal_same_key: bool = False

    def __post_init__(self):
        where = f"profile {self.name}"
        if self.subject not in SUBJECT_KINDS:
            raise ValueError(f"{where}: subject must be one of {SUBJECT_KINDS}")
        if not 0 < self.validity_days <= 7305:
            raise ValueError(f"{where}: validity_days must be 1..7305")
        for ku in self.key_usage:
            if ku not in KEY_USAGES:
                raise ValueError(f"{where}: unknown key usage {ku!r}")
        for eku in self.extended_key_usage:
            if eku not in EKUS:
                raise ValueError(f"{where}: unknown extended key usage {eku!r}")
        for f in self.required_fields:
            if f not in SUBJECT_FIELDS:
                raise ValueError(f"{where}: unknown subject field {f!r}")
        for alg in self.key_algorithms:
            if alg not in KEY_ALGORITHMS:
                raise ValueError(f"{where}: unknown key algorithm {alg!r}")
        if self.is_ca and "key_cert_sign" not in self.key_usage:
            raise ValueError(f"{where}: a CA profile needs key_cert_sign (RFC 5280 §4.2.1.3)")
        self._check_policies(where)
        if self.renewal_same_key and not self.key_renewal:
            raise ValueError(f"{where}: renewal_same_key needs key_renewal = true (a renewal "
                             "with the same key certifies that key again)")

    def _check_policies(self, where: str) -> None:
        for oid in self.policy_oids:
            ObjectIdentifier(oid)  # raises ValueError on a malformed OID
        if len(set(self.policy_oids)) != len(self.policy_oids) or not self.policy_oids:
            raise ValueError(f"{where}: policy_oids must name each policy once")
        if not self.is_ca:
            if (len(self.etsi_policies) != 1 or len(self.policy_oids) != 2
                    or ANY_POLICY in self.policy_oids):
                raise ValueError(f"{where}: an end-entity profile claims one ETSI EN 319 411-1 "
                                 f"policy ({', '.join(ETSI_POLICIES)}) and one of its own")
            if _MIXED_USAGE <= set(self.key_usage):
                raise ValueError(f"{where}: digital_signature with content_commitment is a "
                                 "mixed key usage setting (ETSI EN 319 412-2 §4.3.2)")

    @property
    def etsi_policies(self) -> tuple[str, ...]:
        return tuple(oid for oid in self.policy_oids if oid in ETSI_POLICIES)

    @property
    def own_policy(self) -> str | None:
        """An end entity's policy under the operator's arc, the one the CPS URI qualifies;
        None for a CA, whose list covers the policies of what it issues."""
        if self.is_ca:
            return None
        return next(o for o in self.policy_oids if o not in ETSI_POLICIES)

    @property
    def is_ca(self) -> bool:
        return self.subject == "ca"

    def x509_key_usage(self) -> x509.KeyUsage:
        flags = {ku: ku in self.key_usage for ku in KEY_USAGES}
        return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)

    def x509_extended_key_usage(self) -> x509.ExtendedKeyUsage | None:
        if not self.extended_key_usage:
            return None
        return x509.ExtendedKeyUsage([EKUS[e] for e in self.extended_key_usage])


class ProfileSet:
    def __init__(self, profiles: dict[str, Profile]):
        self._profiles = profiles

    def get(self, name: str) -> Profile:
        try:
            return self._profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.subscriber_profiles()))
            raise UnknownProfile(f"unknown profile {name!r} (known: {known})") from None

    def subscriber_profiles(self) -> list[str]:
        return [n for n, p in self._profiles.items() if p.subject in ("staff", "resident")]

    def __iter__(self):
        return iter(self._profiles.values())


def load_profiles(policies_dir: Path) -> ProfileSet:
    profiles = {}
    for path in sorted((policies_dir / "profiles").glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text())
            for key in ("policy_oids", "key_usage", "extended_key_usage", "required_fields",
                        "key_algorithms"):
                raw[key] = tuple(raw.get(key, ()))
            profile = Profile(**raw)
        except (tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{path}: {exc}") from None
        if profile.name != path.stem:
            raise ConfigurationError(f"{path}: name {profile.name!r} differs from the file name")
        profiles[profile.name] = profile
    if not profiles:
        raise ConfigurationError(f"{policies_dir}/profiles: no profiles found")
    return ProfileSet(profiles)
