"""Adding and listing the JST a home serves; codes are validated before anything is stored."""

from __future__ import annotations

from ca.audit import Event
from ca.errors import Conflict
from ca.identity import validate_nip, validate_regon, validate_teryt, validate_text
from ca.store import organizations as org_store
from ca.store.models import Organization
from ra.authority import Reader, Recorder

__all__ = ["add_organization", "list_organizations", "organization_name"]


def add_organization(ra: Recorder, teryt: str, name: str, nip: str | None = None,
                     regon: str | None = None, actor: str = "operator") -> Organization:
    teryt = validate_teryt(teryt, "teryt")
    name = validate_text(name, "name", max_length=200)
    org = Organization(teryt=teryt, name=name,
                       nip=validate_nip(nip) if nip else None,
                       regon=validate_regon(regon) if regon else None,
                       created_at=ra.now())
    with ra.db.transaction() as s:
        if org_store.get(s, teryt) is not None:
            raise Conflict(f"teryt: JST {teryt} is already registered")
        for field in ("nip", "regon"):
            value = getattr(org, field)
            holder = org_store.holder_of(s, field, value) if value else None
            if holder is not None:
                raise Conflict(f"{field}: {value} is already the {field.upper()} of JST "
                               f"{holder.teryt} ({holder.name}); one JST per {field.upper()}")
        org_store.add(s, org)
        ra.audit(s, Event(actor=actor, action="organization.add", object=f"organization:{teryt}",
                           organization_teryt=teryt,
                           details={"name": name, "nip": org.nip, "regon": org.regon}))
    return org


def list_organizations(ra: Reader) -> list[Organization]:
    with ra.reading() as s:
        return org_store.all_(s)


def organization_name(ra: Reader, teryt: str) -> str:
    """The JST's registered name, or its code when the home does not know it."""
    with ra.reading() as s:
        org = org_store.get(s, teryt)
    return org.name if org is not None else teryt
