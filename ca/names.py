"""Subject names as Polish providers write them (ETSI EN 319 412-2 for people, -3 for seals).

People: C=PL, surname, givenName, serialNumber (semantics identifier), CN; staff add O and
organizationIdentifier ``VATPL-<NIP>`` of their JST. Seals: C, O, organizationIdentifier, CN and
no personal names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID

from ca.errors import InvalidSubject
from ca.identity import Subscriber

if TYPE_CHECKING:  # any row with teryt, name, nip and regon will do (``organizations.find``)
    from ca.store.models import Organization

__all__ = ["person_name", "seal_name", "service_name", "organization_identifier"]


def organization_identifier(org: Organization, field: str = "organization_teryt") -> str:
    """ETSI EN 319 412-1 §5.1.4: ``VATPL-`` followed by the NIP."""
    if not org.nip:
        raise InvalidSubject(field, f"JST {org.teryt} has no NIP on record; its certificates "
                             "carry organizationIdentifier VATPL-<NIP> (regca org add --nip)")
    return f"VATPL-{org.nip}"


def _attr(oid, value: str) -> x509.NameAttribute:
    return x509.NameAttribute(oid, value)


def _organization(org: Organization, strict: bool = True) -> list[x509.NameAttribute]:
    """O and organizationIdentifier; ``strict`` refuses an organisation without a NIP."""
    attrs = [_attr(NameOID.ORGANIZATION_NAME, org.name[:64])]
    if strict or org.nip:
        attrs.append(_attr(NameOID.ORGANIZATION_IDENTIFIER, organization_identifier(org)))
    return attrs


def person_name(subscriber: Subscriber, org: Organization | None) -> x509.Name:
    attrs = [_attr(NameOID.COUNTRY_NAME, "PL")]
    if org is not None:
        attrs += _organization(org)
        if subscriber.title:
            attrs.append(_attr(NameOID.TITLE, subscriber.title))
    attrs += [_attr(NameOID.SURNAME, subscriber.surname),
              _attr(NameOID.GIVEN_NAME, subscriber.given_name)]
    identifier = subscriber.semantics_identifier()
    if identifier:
        attrs.append(_attr(NameOID.SERIAL_NUMBER, identifier))
    common = subscriber.common_name
    if len(common) > 64:
        raise InvalidSubject("surname", "given name and surname exceed 64 characters together")
    attrs.append(_attr(NameOID.COMMON_NAME, common))
    return x509.Name(attrs)


def seal_name(org: Organization, strict: bool = True) -> x509.Name:
    return x509.Name([_attr(NameOID.COUNTRY_NAME, "PL"), *_organization(org, strict),
                      _attr(NameOID.COMMON_NAME, org.name[:64])])


def service_name(common_name: str, operator: Organization) -> x509.Name:
    """CA, OCSP and TSA names: the operator's organisation and a role name."""
    return x509.Name([_attr(NameOID.COUNTRY_NAME, "PL"), *_organization(operator, strict=False),
                      _attr(NameOID.COMMON_NAME, common_name)])
