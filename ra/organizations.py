"""The organisations a home serves: JST keyed by TERYT, and their subordinate units (jednostki
podległe: schools, social-care centres) keyed by REGON under their JST. Codes are validated
before anything is stored; every change is audited; a deactivated organisation takes no new
enrolments (``ra.enrolment.record``) while its certificates stand."""

from __future__ import annotations

from ca.audit import Event
from ca.errors import Conflict, InvalidSubject, NotFound
from ca.identity import validate_nip, validate_regon, validate_teryt, validate_text
from ca.store import organizations as org_store
from ca.store.models import Organization
from ra.authority import Reader, Recorder

__all__ = ["add_organization", "add_unit", "update_organization", "set_active",
           "list_organizations", "get_organization", "OrganizationInactive", "check_active",
           "organization_name"]


class OrganizationInactive(Conflict):
    """The organisation was deactivated: it takes no new enrolments."""

    code = "organization_inactive"


def _codes(nip: str | None, regon: str | None) -> tuple[str | None, str | None]:
    return (validate_nip(nip) if nip else None, validate_regon(regon) if regon else None)


def _unique(s, org: Organization) -> None:
    for field in ("nip", "regon"):
        value = getattr(org, field)
        holder = org_store.holder_of(s, field, value) if value else None
        if holder is not None and holder is not org:
            raise Conflict(f"{field}: {value} is already the {field.upper()} of "
                           f"{holder.teryt} ({holder.name}); one organisation per "
                           f"{field.upper()}")


def add_organization(ra: Recorder, teryt: str, name: str, nip: str | None = None,
                     regon: str | None = None, actor: str = "operator") -> Organization:
    teryt = validate_teryt(teryt, "teryt")
    name = validate_text(name, "name", max_length=200)
    nip, regon = _codes(nip, regon)
    org = Organization(teryt=teryt, name=name, nip=nip, regon=regon, created_at=ra.now(),
                       active=True)
    with ra.db.transaction() as s:
        if org_store.get(s, teryt) is not None:
            raise Conflict(f"teryt: JST {teryt} is already registered")
        _unique(s, org)
        org_store.add(s, org)
        ra.audit(s, Event(actor=actor, action="organization.add", object=f"organization:{teryt}",
                           organization_teryt=teryt,
                           details={"name": name, "nip": org.nip, "regon": org.regon}))
    return org


def add_unit(ra: Recorder, regon: str, name: str, parent_teryt: str, nip: str | None = None,
             actor: str = "operator") -> Organization:
    """A subordinate unit without a TERYT code of its own, keyed by its REGON, under the JST
    ``parent_teryt`` (whose officers then enrol its staff)."""
    regon = validate_regon(regon, "regon")
    name = validate_text(name, "name", max_length=200)
    parent_teryt = validate_teryt(parent_teryt, "parent_teryt")
    nip = validate_nip(nip) if nip else None
    org = Organization(teryt=regon, name=name, nip=nip, regon=regon,
                       parent_teryt=parent_teryt, created_at=ra.now(), active=True)
    with ra.db.transaction() as s:
        parent = org_store.get(s, parent_teryt)
        if parent is None or parent.parent_teryt is not None:
            raise InvalidSubject("parent_teryt", f"no JST {parent_teryt} in this home")
        if org_store.get(s, regon) is not None:
            raise Conflict(f"regon: {regon} is already registered")
        _unique(s, org)
        org_store.add(s, org)
        ra.audit(s, Event(actor=actor, action="organization.add", object=f"organization:{regon}",
                           organization_teryt=regon,
                           details={"name": name, "nip": nip, "regon": regon,
                                    "parent": parent_teryt}))
    return org


def update_organization(ra: Recorder, key: str, name: str, nip: str | None,
                        regon: str | None, actor: str) -> Organization:
    """New name, NIP or REGON (a unit's REGON is its key and stays). Certificates issued
    before keep the name they were issued with; new ones carry the new name."""
    name = validate_text(name, "name", max_length=200)
    nip, regon = _codes(nip, regon)
    with ra.db.transaction() as s:
        org = org_store.get(s, key)
        if org is None:
            raise NotFound(f"no organisation {key}")
        if org.parent_teryt is not None and regon != org.regon:
            raise InvalidSubject("regon", "a unit's REGON is its key in this home")
        before = {"name": org.name, "nip": org.nip, "regon": org.regon}
        org.name, org.nip, org.regon = name, nip, regon
        _unique(s, org)
        s.flush()
        after = {"name": name, "nip": nip, "regon": regon}
        ra.audit(s, Event(actor=actor, action="organization.update",
                           object=f"organization:{key}", organization_teryt=key,
                           details={k: [before[k], after[k]] for k in after
                                    if before[k] != after[k]}))
    return org


def set_active(ra: Recorder, key: str, active: bool, actor: str) -> Organization:
    """Deactivate (no new enrolments; certificates, tokens and past enrolments untouched) or
    activate again."""
    with ra.db.transaction() as s:
        org = org_store.get(s, key)
        if org is None:
            raise NotFound(f"no organisation {key}")
        if org.active != active:
            org.active = active
            ra.audit(s, Event(actor=actor,
                               action="organization.activate" if active
                               else "organization.deactivate",
                               object=f"organization:{key}", organization_teryt=key))
    return org


def check_active(org: Organization | None, field: str = "organization_teryt") -> None:
    """Refuse a new enrolment for an organisation the home does not serve, or no longer."""
    if org is None:
        raise InvalidSubject(field, "no such organisation in this home")
    if not org.active:
        raise OrganizationInactive(f"{field}: {org.name} ({org.teryt}) is deactivated and "
                                   "takes no new enrolments")


def get_organization(ra: Reader, key: str) -> Organization:
    with ra.reading() as s:
        org = org_store.get(s, key)
    if org is None:
        raise NotFound(f"no organisation {key}")
    return org


def list_organizations(ra: Reader) -> list[Organization]:
    with ra.reading() as s:
        return org_store.all_(s)


def organization_name(ra: Reader, teryt: str) -> str:
    """The organisation's registered name, or its code when the home does not know it."""
    with ra.reading() as s:
        org = org_store.get(s, teryt)
    return org.name if org is not None else teryt
