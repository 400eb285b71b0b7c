"""The SQL of expiry notices: certificates nearing their notAfter with their enrolments, the
officers' notice addresses, and the notices already sent (claimed before sending)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ca.store.models import (
    Certificate,
    Enrolment,
    EnrolmentCertificate,
    ExpiryNotice,
    StaffContact,
    User,
    UserOrganization,
)

__all__ = ["expiring", "latest_issued", "officer_contacts", "notified", "claim", "mark",
           "release", "contact_of", "set_contact"]


def expiring(session: Session, now: dt.datetime, until: dt.datetime,
             teryts: list[str] | None = None) -> list[tuple[Certificate, Enrolment]]:
    """Issued, unrevoked certificates of an enrolment whose notAfter falls in ``(now, until]``,
    soonest first; ``teryts`` None: every JST."""
    q = (select(Certificate, Enrolment)
         .join(EnrolmentCertificate, EnrolmentCertificate.serial == Certificate.serial)
         .join(Enrolment, Enrolment.id == EnrolmentCertificate.enrolment_id)
         .where(Certificate.status == "issued", Certificate.not_after > now,
                Certificate.not_after <= until)
         .order_by(Certificate.not_after, Certificate.serial))
    if teryts is not None:
        q = q.where(Enrolment.organization_teryt.in_(teryts))
    return [(c, e) for c, e in session.execute(q)]


def latest_issued(session: Session, enrolment_ids: list[int]
                  ) -> dict[tuple[int, str], dt.datetime]:
    """Per (enrolment, profile): when the latest of its issued certificates was issued (a
    renewal done already makes the notice of an older one pointless)."""
    if not enrolment_ids:
        return {}
    q = (select(EnrolmentCertificate.enrolment_id, Certificate.profile, Certificate.issued_at)
         .join(Certificate, Certificate.serial == EnrolmentCertificate.serial)
         .where(EnrolmentCertificate.enrolment_id.in_(enrolment_ids),
                Certificate.status == "issued"))
    latest: dict[tuple[int, str], dt.datetime] = {}
    for enrolment_id, profile, issued_at in session.execute(q):
        key = (enrolment_id, profile)
        if key not in latest or issued_at > latest[key]:
            latest[key] = issued_at
    return latest


def officer_contacts(session: Session, teryts: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per JST: ``(username, e-mail)`` of its officers who gave a notice address."""
    q = (select(UserOrganization.teryt, User.username, StaffContact.email)
         .join(User, User.username == UserOrganization.username)
         .join(StaffContact, StaffContact.username == User.username)
         .where(User.role == "officer", UserOrganization.teryt.in_(teryts))
         .order_by(User.username))
    out: dict[str, list[tuple[str, str]]] = {}
    for teryt, username, email in session.execute(q):
        out.setdefault(teryt, []).append((username, email))
    return out


def notified(session: Session, serials: list[str]) -> set[tuple[str, int, str]]:
    """``(serial, days_before, recipient)`` of every notice claimed for these certificates."""
    if not serials:
        return set()
    q = select(ExpiryNotice.serial, ExpiryNotice.days_before, ExpiryNotice.recipient).where(
        ExpiryNotice.serial.in_(serials))
    return {(s, d, r) for s, d, r in session.execute(q)}


def claim(session: Session, serial: str, days_before: int, recipient: str,
          now: dt.datetime) -> None:
    """Record the notice before it is sent; the primary key refuses a second claim."""
    session.add(ExpiryNotice(serial=serial, days_before=days_before, recipient=recipient,
                             state="sending", created_at=now))
    session.flush()


def mark(session: Session, keys: list[tuple[str, int, str]], state: str) -> None:
    for serial, days_before, recipient in keys:
        row = session.get(ExpiryNotice, (serial, days_before, recipient))
        if row is not None:
            row.state = state


def release(session: Session, keys: list[tuple[str, int, str]]) -> None:
    """Forget claims whose message the server refused, so the next round tries again."""
    for serial, days_before, recipient in keys:
        session.execute(delete(ExpiryNotice).where(
            ExpiryNotice.serial == serial, ExpiryNotice.days_before == days_before,
            ExpiryNotice.recipient == recipient, ExpiryNotice.state == "sending"))


def contact_of(session: Session, username: str) -> str | None:
    row = session.get(StaffContact, username)
    return row.email if row else None


def set_contact(session: Session, username: str, email: str | None, now: dt.datetime) -> None:
    row = session.get(StaffContact, username)
    if email is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(StaffContact(username=username, email=email, updated_at=now))
    else:
        row.email, row.updated_at = email, now
    session.flush()
