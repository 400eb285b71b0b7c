"""Certificate rows: pending -> issued -> revoked, and the queries services need.

The only module that writes the ``certificates`` table, through three functions
(tests/test_store_api.py pins it): ``insert_pending_many`` records an intent before signing
(settled later by one of the other two, so audited when it ends: issued or abandoned);
``store_issued`` is the one writer of the issued state and appends each certificate's
``certificate.issue`` event; ``set_revocation`` changes a row's revocation state and appends
its event and the change the next delta CRL lists. Each writes its audit event in the caller's
transaction, so no certificate is stored without one (DESIGN.md, "The audit log"). Two more,
``seal_row`` and ``reseal_row``, re-encode a row with a PESEL (below), never its state; their
caller audits them.

A certificate whose subject carries a PESEL (``PNOPL-<PESEL>``, a resident's) is kept so that a
copy of the database does not reveal it: its ``tbs`` and ``der`` sealed with the field cipher
(ca/field_crypto.py) to their column and serial, its ``subject`` masked as every page masks a
PESEL, and ``person_ref`` the PESEL's keyed reference, what tells two people apart whose masked
subjects agree. ``sealed_pending`` and ``sealed_der`` make such a row (on the issuing thread,
before the group writer's lock), ``der_of`` is how every reader gets the DER back. Other
certificates (CA, services, staff) carry no PESEL and stay in clear: services and signing
commands read them without the HSM's key-encryption key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, func, select

from ca.audit import Event
from ca.field_crypto import (
    SEALED_PREFIX,
    FieldCipher,
    certificate_der_of,
    certificate_tbs_of,
)
from ca.personal_data import PESEL_IN_SUBJECT, masked_subject
from ca.store import audit as audit_store
from ca.store import ocsp as ocsp_store
from ca.store import tables
from ca.store.db import Database, connection_of
from ca.store.direct import ThreadReader
from ca.store.groupcommit import GroupWriter
from ca.store.ocsp import ResponseRow

if TYPE_CHECKING:  # the ORM's rows; the write path runs on Core and never loads the ORM
    from sqlalchemy.orm import Session

    from ca.store.models import Certificate

__all__ = ["PendingCertificate", "SignedCertificate", "Revocation", "IssuanceWriter",
           "insert_pending", "insert_pending_many", "store_issued", "set_revocation", "get",
           "get_many", "current_for_profile", "current_der", "stale_pending", "counts",
           "count_pending", "KeyUse", "KeyUses", "key_uses", "uses_of_key", "carries_pesel",
           "sealed_pending", "sealed_der", "der_of", "person_ref_of", "rows_with_pesel",
           "seal_row", "reseal_row"]


_TABLE = tables.certificates
# Built once: issuance runs these for every certificate.
_INSERT = _TABLE.insert()
_MARK_ISSUED = (_TABLE.update()
                .where(_TABLE.c.serial == bindparam("p_serial"), _TABLE.c.status == "pending")
                .values(status="issued", der=bindparam("p_der"), issued_at=bindparam("p_at")))
# Reads for `regca status` and /metrics: rows per profile and status, and the pending ones.
_COUNTS = select(_TABLE.c.profile, _TABLE.c.status, func.count()).group_by(
    _TABLE.c.profile, _TABLE.c.status)
_COUNT_PENDING = select(func.count()).select_from(_TABLE).where(_TABLE.c.status == "pending")
_CREATED_AT = _TABLE.c.created_at
# A read: the newest issued certificate of a profile, without the ORM.
_CURRENT_DER = (select(_TABLE.c.der)
                .where(_TABLE.c.profile == bindparam("p_profile"), _TABLE.c.status == "issued")
                .order_by(_TABLE.c.issued_at.desc()).limit(1))


class PendingCertificate(NamedTuple):
    """A certificate about to be signed: its row before the signature (DESIGN.md order),
    without ORM state (issuance records one per certificate)."""

    serial: str
    issuer: str
    profile: str
    subject: str
    organization_teryt: str | None
    requested_by: str
    not_before: dt.datetime
    not_after: dt.datetime
    tbs: bytes
    created_at: dt.datetime
    spki_sha256: bytes | None = None
    person_ref: str | None = None  # the PESEL's keyed reference, when the subject has one


class SignedCertificate(NamedTuple):
    """The certificate signed for a pending row, with its first OCSP responses and the subject
    as its audit event names it (PESEL as a keyed hash, ca/personal_data.py; empty: masked).
    ``stored``: the DER as the row keeps it (``sealed_der``); None: ``der`` itself."""

    row: PendingCertificate
    der: bytes
    responses: Sequence[ResponseRow] = ()
    audit_subject: str = ""
    stored: bytes | None = None


_SEALED = SEALED_PREFIX.encode()
_REF_IN_SUBJECT = re.compile(r"PNOPL-(hmac:[a-z2-7]+)")


def carries_pesel(subject: str) -> bool:
    """Whether an RFC 4514 subject names a person by PESEL: its row is kept sealed."""
    return PESEL_IN_SUBJECT.search(subject) is not None


def person_ref_of(keyed_subject: str) -> str | None:
    """The PESEL's reference in a subject as ``PersonRefs.subject`` writes it (None: masked,
    in a home without the HMAC key)."""
    found = _REF_IN_SUBJECT.search(keyed_subject)
    return found.group(1) if found else None


def sealed_pending(fields: FieldCipher, row: PendingCertificate, keyed_subject: str
                   ) -> PendingCertificate:
    """``row`` as it is stored: when its subject carries a PESEL, the subject masked, the TBS
    sealed to its serial and the PESEL's keyed reference taken from ``keyed_subject`` (the
    audit event's form of the subject); any other row as it is."""
    if not carries_pesel(row.subject):
        return row
    return row._replace(
        subject=masked_subject(row.subject),
        tbs=fields.seal_bytes(row.tbs, certificate_tbs_of(row.serial)).encode(),
        person_ref=person_ref_of(keyed_subject))


def sealed_der(fields: FieldCipher, row: PendingCertificate, der: bytes) -> bytes | None:
    """The DER as the row of ``row`` (``sealed_pending``'s) keeps it; None: in clear."""
    if not row.tbs.startswith(_SEALED):
        return None
    return fields.seal_bytes(der, certificate_der_of(row.serial)).encode()


def der_of(fields: FieldCipher, serial: str, stored: bytes | None) -> bytes | None:
    """The certificate's DER as signed, from what its row's ``der`` holds: opened when sealed
    (BrokenSeal when it does not open at this serial), as it is otherwise (CA, services,
    staff; an older home's rows until ``regca serve`` seals them)."""
    if stored is None or not stored.startswith(_SEALED):
        return stored
    return fields.open_bytes(stored.decode("ascii"), certificate_der_of(serial))


def insert_pending(session, row: PendingCertificate | Certificate) -> None:
    insert_pending_many(session, [row])


def insert_pending_many(session, rows: Sequence[PendingCertificate | Certificate]) -> None:
    """Record certificates about to be signed, status ``pending``, in one statement (no
    unit-of-work bookkeeping: the hot path of issuance); the primary key makes a duplicate
    serial fail here, before anything is signed. ``session`` may be a connection."""
    values = [{**(row._asdict() if isinstance(row, PendingCertificate) else
                  {c: getattr(row, c) for c in PendingCertificate._fields}), "status": "pending"}
              for row in rows]
    connection_of(session).execute(_INSERT, values)


def store_issued(session, signed: Sequence[SignedCertificate], at: dt.datetime) -> None:
    """Store signed certificates as issued, with their OCSP responses and one
    ``certificate.issue`` audit event each, in the caller's transaction (a session or a
    connection). Each must still be pending, or RuntimeError (the transaction must then
    roll back)."""
    conn = connection_of(session)
    params = [{"p_serial": s.row.serial, "p_der": s.stored or s.der, "p_at": at}
              for s in signed]
    if len(params) > 1 and not conn.dialect.supports_sane_multi_rowcount:
        # this driver cannot count an executemany: one statement each
        marks = [(conn.execute(_MARK_ISSUED, p), [p]) for p in params]
    else:
        marks = [(conn.execute(_MARK_ISSUED, params), params)]
    ocsp_store.save(conn, [r for s in signed for r in s.responses])
    # Last: appending takes the audit head's lock, which every writer of every process waits
    # for; it is held from here to the COMMIT only.
    # The event is the certificate's transparency-log entry: its SHA-256 lets the holder of
    # the certificate recompute the leaf (CONTRACT.md, "Issuance transparency log").
    audit_store.append_many(conn, [(at, Event(
        actor=s.row.requested_by, action="certificate.issue",
        object=f"certificate:{s.row.serial}", organization_teryt=s.row.organization_teryt,
        details={"profile": s.row.profile,
                 "subject": s.audit_subject or masked_subject(s.row.subject),
                 "certificate_sha256": hashlib.sha256(s.der).hexdigest()}))
        for s in signed])
    # Row counts read once the head's row has come back: on a pipelined connection, no round
    # trip of their own.
    for result, marked in marks:
        if result.rowcount != len(marked):
            which = marked[0]["p_serial"] if len(marked) == 1 else f"one of {len(marked)}"
            raise RuntimeError(f"certificate {which} was not pending when its signature arrived")


def rows_with_pesel(session: Session) -> list[Certificate]:
    """Rows whose subject names a person by PESEL (``PNOPL-``, masked or not), locked for the
    update that seals them (again): an older home's upgrade and ``regca fields rotate``."""
    from ca.store.models import Certificate
    q = (select(Certificate).where(Certificate.subject.like("%PNOPL-%"))
         .order_by(Certificate.serial).with_for_update())
    return list(session.execute(q).scalars())


def seal_row(fields: FieldCipher, row: Certificate, keyed_subject: str) -> bool:
    """An older home's row kept as ``sealed_pending`` and ``sealed_der`` keep a new one; False
    when it needs nothing (no PESEL in clear)."""
    if not carries_pesel(row.subject):
        return False
    row.subject = masked_subject(row.subject)
    row.person_ref = person_ref_of(keyed_subject)
    row.tbs = fields.seal_bytes(row.tbs, certificate_tbs_of(row.serial)).encode()
    if row.der is not None:
        row.der = fields.seal_bytes(row.der, certificate_der_of(row.serial)).encode()
    return True


def reseal_row(fields: FieldCipher, row: Certificate) -> bool:
    """A sealed row's TBS and DER opened with the data key they name and sealed with the
    current one (``regca fields rotate``); False for a row that is not sealed."""
    if not row.tbs.startswith(_SEALED):
        return False
    def again(stored: bytes, place) -> bytes:
        return fields.seal_bytes(fields.open_bytes(stored.decode("ascii"), place), place).encode()
    row.tbs = again(row.tbs, certificate_tbs_of(row.serial))
    if row.der is not None:
        row.der = again(row.der, certificate_der_of(row.serial))
    return True


class Revocation(NamedTuple):
    """A row's move to another revocation state, and the audit event that records it."""

    row: Certificate  # read in the same transaction (``get``, ``get_many``), for update
    status: str  # revoked, issued (released from hold) or abandoned
    revoked_at: dt.datetime | None
    reason: str | None
    invalidity_date: dt.datetime | None
    event: Event


def set_revocation(session: Session, changes: Sequence[Revocation], at: dt.datetime) -> None:
    """Change rows' revocation state (revoked, on hold, released to ``issued``, or
    ``abandoned``) inside the caller's transaction, with each change's audit event and the
    changes the next delta CRL lists, all stamped ``at``. ValueError if an event names another
    object than its certificate."""
    if not changes:
        return  # nor take the audit head's lock
    from ca.store import crl as crl_store  # the ORM's models: not on the issuance path
    for c in changes:
        if c.event.object != f"certificate:{c.row.serial}":
            raise ValueError(f"the event of certificate {c.row.serial} names {c.event.object}")
    for c in changes:
        row = c.row
        row.status, row.revoked_at = c.status, c.revoked_at
        row.revocation_reason, row.invalidity_date = c.reason, c.invalidity_date
        crl_store.record_change(session, row, at)
    audit_store.append_many(session, [(at, c.event) for c in changes])


class IssuanceWriter:
    """Issuance's write path: each call returns once its row is committed. Concurrent callers
    share transactions (group commit, ``ca/store/groupcommit.py``) on the direct DB-API path
    (``ca/store/direct.py``), measured in bench/issue.py."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime]):
        self._pending = GroupWriter(db, insert_pending_many, one_statement_each=True)
        self._issued = GroupWriter(
            db, lambda conn, group: store_issued(conn, group, clock()))

    def record_pending(self, row: PendingCertificate) -> None:
        """Raises IntegrityError when the serial is taken."""
        self._pending.submit(row)

    def record_issued(self, signed: SignedCertificate) -> None:
        self._issued.submit(signed)


def get(session: Session, serial: str, for_update: bool = False) -> Certificate | None:
    from ca.store.models import Certificate
    q = select(Certificate).where(Certificate.serial == serial)
    if for_update:
        q = q.with_for_update()
    return session.execute(q).scalar_one_or_none()


def get_many(session: Session, serials: Sequence[str], for_update: bool = False
             ) -> list[Certificate]:
    """The rows of ``serials`` that exist, in no particular order."""
    from ca.store.models import Certificate
    q = select(Certificate).where(Certificate.serial.in_(list(serials)))
    if for_update:
        q = q.with_for_update()
    return list(session.execute(q).scalars())


def current_for_profile(session: Session, profile: str,
                        organization_teryt: str | None = None) -> Certificate | None:
    """The newest issued certificate of a CA or service profile (root, issuing, ocsp...)."""
    from ca.store.models import Certificate
    q = (select(Certificate).where(Certificate.profile == profile,
                                   Certificate.status == "issued")
         .order_by(Certificate.issued_at.desc()).limit(1))
    if organization_teryt is not None:
        q = q.where(Certificate.organization_teryt == organization_teryt)
    return session.execute(q).scalar_one_or_none()


def current_der(db: Database, profile: str) -> bytes | None:
    """The DER of the newest issued certificate of a CA or service profile, read without the
    ORM (every command that signs starts here)."""
    with db.reading_connection() as conn:
        row = conn.execute(_CURRENT_DER, {"p_profile": profile}).first()
    return row[0] if row else None


class KeyUse(NamedTuple):
    """One certificate (any status) of a public key; ``subject`` as stored (masked, with
    ``person_ref``, when it carries a PESEL)."""

    serial: str
    subject: str
    profile: str
    status: str
    revocation_reason: str | None
    person_ref: str | None = None


_USES = (select(_TABLE.c.serial, _TABLE.c.subject, _TABLE.c.profile, _TABLE.c.status,
                _TABLE.c.revocation_reason, _TABLE.c.person_ref)
         .where(_TABLE.c.spki_sha256 == bindparam("p_spki")))


def uses_of_key(session, spki_sha256: bytes) -> list[KeyUse]:
    """Every certificate ever recorded for the key with this SubjectPublicKeyInfo hash."""
    return [KeyUse(*row) for row in session.execute(_USES, {"p_spki": spki_sha256})]


class KeyUses:
    """``uses_of_key`` on issuance's hot path: one indexed read on a DB-API connection kept
    per thread, in autocommit (an ORM session per request doubled issuance's CPU time).
    One per database (``key_uses``), however many issuers come and go."""

    def __init__(self, db: Database):
        self._all = ThreadReader(db).all

    def __call__(self, spki_sha256: bytes) -> list[KeyUse]:
        return [KeyUse(*row) for row in self._all(_USES, {"p_spki": spki_sha256})]


_key_uses: weakref.WeakKeyDictionary[Database, KeyUses] = weakref.WeakKeyDictionary()
_key_uses_lock = threading.Lock()


def key_uses(db: Database) -> KeyUses:
    with _key_uses_lock:
        if db not in _key_uses:
            _key_uses[db] = KeyUses(db)
        return _key_uses[db]


def stale_pending(session: Session, before: dt.datetime) -> list[Certificate]:
    from ca.store.models import Certificate
    q = (select(Certificate).where(Certificate.status == "pending",
                                   Certificate.created_at < before).with_for_update())
    return list(session.execute(q).scalars())


def counts(session: Session) -> dict[tuple[str, str], int]:
    """How many rows per (profile, status): what ``regca status`` and ``/metrics`` report."""
    return {(profile, status): n for profile, status, n in session.execute(_COUNTS)}


def count_pending(session: Session, before: dt.datetime | None = None) -> int:
    """Pending rows (created before ``before``), read without locking them."""
    q = _COUNT_PENDING
    if before is not None:
        q = q.where(_CREATED_AT < before)
    return session.execute(q).scalar_one()
