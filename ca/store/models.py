"""SQLAlchemy 2 models (the hot paths' tables are defined in Core, ``tables.py``, and mapped
here). Schema changes go through an Alembic migration in ``migrations/``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ca.store import tables
from ca.store.tables import UtcDateTime

__all__ = ["Base", "UtcDateTime", "Organization", "Certificate", "AuditEvent", "AuditHead",
           "LogNode", "LogMac", "TreeHead",
           "ApiKey", "User", "UserOrganization", "CERT_STATUSES", "Enrolment",
           "EnrolmentCertificate", "Token", "TokenCertificate", "LoginState", "TOKEN_STATES"]

CERT_STATUSES = ("pending", "issued", "revoked", "abandoned")
TOKEN_STATES = ("active", "blocked", "lost", "destroyed", "replaced")


class Base(DeclarativeBase):
    metadata = tables.metadata  # one schema: the Core tables of the hot paths are in it


class Organization(Base):
    """A JST (or the voivodeship itself) served by this home, keyed by its TERYT code."""

    __table__ = tables.organizations


class Certificate(Base):
    """Every certificate RegCA ever intended to sign, from the pending row onwards."""

    __table__ = tables.certificates


class AuditEvent(Base):
    """One row per event; ``hash`` chains it to the row before (DESIGN.md, "The audit log")."""

    __table__ = tables.audit_events


class AuditHead(Base):
    """The chain's last sequence number and hash: the row appenders lock, and what detects
    a deleted tail."""

    __table__ = tables.audit_head


class LogNode(Base):
    """An interior node of the Merkle log that an append completed: the hash of leaves
    ``[idx << level, (idx + 1) << level)``; what proofs are built from (ca/merkle.py)."""

    __table__ = tables.log_nodes


class LogMac(Base):
    """HMAC (HSM key) of a leaf's index and hash, written when a tree head first covers it:
    what names the first changed entry when a saved tree head no longer matches."""

    __tablename__ = "log_macs"
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    mac: Mapped[str] = mapped_column(String(64))


class TreeHead(Base):
    """A signed tree head (CONTRACT.md, "Issuance transparency log")."""

    __tablename__ = "tree_heads"
    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)  # DER of the signing certificate
    timestamp_token: Mapped[bytes] = mapped_column(LargeBinary)


class ApiKey(Base):
    """An API key: only the SHA-256 of its secret is stored."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))  # comma-separated
    organization_teryt: Mapped[str | None] = mapped_column(ForeignKey("organizations.teryt"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # to the minute


class User(Base):
    """A staff log-in of the enrollment web (administrator, officer, auditor)."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    role: Mapped[str] = mapped_column(String(16))
    # sealed (ca/field_crypto.py): ``v1.<data key>.<AES-GCM>``, never the secret itself
    totp_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Set by an administrator (migration 0019): a disabled user has no session and cannot log
    # in; after a password reset the user chooses a new password at the next log-in.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)


class UserOrganization(Base):
    """Which JST a registration officer acts for."""

    __tablename__ = "user_organizations"
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), primary_key=True)
    teryt: Mapped[str] = mapped_column(ForeignKey("organizations.teryt"), primary_key=True)


# -- Time-stamping (issue 4) ----------------------------------------------------------------------

from sqlalchemy import BigInteger  # noqa: E402  (kept with the TSA models so branches merge)


class TimestampToken(Base):
    """One row per RFC 3161 token issued: what an auditor needs to show which time-stamps the
    TSA produced (the token itself is the requester's to keep)."""

    __tablename__ = "tsa_tokens"
    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    gen_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    policy: Mapped[str] = mapped_column(String(64))
    hash_algorithm: Mapped[str] = mapped_column(String(16))
    message_imprint: Mapped[str] = mapped_column(String(128))  # lowercase hex
    nonce: Mapped[str | None] = mapped_column(String(64))  # lowercase hex
    requester: Mapped[str] = mapped_column(String(200))  # "apikey:<id>" or "ip:<address>"

    __table_args__ = (Index("ix_tsa_tokens_gen_time", "gen_time"),
                      Index("ix_tsa_tokens_imprint", "message_imprint"))


class TsaSerialCounter(Base):
    """The next unreserved token serial; workers reserve blocks from it (ca/tsaserials.py)."""

    __tablename__ = "tsa_serial_counter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_serial: Mapped[int] = mapped_column(BigInteger)


__all__ += ["TimestampToken", "TsaSerialCounter"]


# -- enrollment web and tokens (issue 6, migration 0004) ----------------------------------------

class Enrolment(Base):
    """An applicant recorded at an officer's desk, with the residents' self-service secrets
    (only their hashes: a pickup code by SHA-256, the revocation password by argon2id)."""

    __tablename__ = "enrolments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_teryt: Mapped[str] = mapped_column(ForeignKey("organizations.teryt"))
    officer: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # resident | staff
    given_name: Mapped[str] = mapped_column(String(64))
    surname: Mapped[str] = mapped_column(String(64))
    # sealed (ca/field_crypto.py); the clear PESEL is ``pesel``, set by the RA once opened
    pesel_sealed: Mapped[str | None] = mapped_column("pesel", String(200))
    # the keyed PESEL reference (ca/personal_data.py): what exact searches compare
    person_ref: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    title: Mapped[str | None] = mapped_column(String(64))
    document_type: Mapped[str | None] = mapped_column(String(8))
    document_number: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    pickup_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    pickup_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # when the current pickup code was given out: it expires a configured time later (0021)
    pickup_issued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revocation_password_hash: Mapped[str | None] = mapped_column(String(200))
    # the profiles asked for when the enrolment came from a bulk import, space-separated (0025)
    requested_profiles: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_enrolments_organization", "organization_teryt"),
                      Index("ix_enrolments_person_ref", "person_ref"))

    pesel = None  # not mapped: the opened PESEL (ra/enrolment.py), never stored


class EnrolmentCertificate(Base):
    """Which certificates were issued for an enrolment."""

    __tablename__ = "enrolment_certificates"
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), primary_key=True)
    serial: Mapped[str] = mapped_column(ForeignKey("certificates.serial"), primary_key=True)


class Token(Base):
    """A personalised token in the registry and where it is in its life."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(64))
    serial_number: Mapped[str | None] = mapped_column(String(64))  # CK_TOKEN_INFO serialNumber
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"))
    organization_teryt: Mapped[str] = mapped_column(ForeignKey("organizations.teryt"))
    state: Mapped[str] = mapped_column(String(16))
    replaced_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("state in ('active', 'blocked', 'lost', 'destroyed', 'replaced')",
                        name="ck_tokens_state"),
        Index("ix_tokens_enrolment", "enrolment_id"),
    )


class TokenCertificate(Base):
    __tablename__ = "token_certificates"
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), primary_key=True)
    serial: Mapped[str] = mapped_column(ForeignKey("certificates.serial"), primary_key=True)


class LoginState(Base):
    """Failed log-ins in a row and the lock-out they caused, shared by every web worker."""

    __tablename__ = "login_states"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    totp_counter: Mapped[int | None] = mapped_column(Integer)  # last accepted TOTP time step


# -- revocation status: pre-signed OCSP responses and CRL bookkeeping (migration 0002) ---------
# (imports and __all__ extended here, so this section merges as a pure append)

from sqlalchemy import Boolean  # noqa: E402

__all__ += ["OcspResponse", "RevocationChange", "CrlState"]


class OcspResponse(Base):
    """A pre-signed OCSP response for one certificate and one CertID hash (RFC 5019 §2.1.1:
    SHA-1 for the lightweight profile; SHA-256 as RFC 6960 clients increasingly send)."""

    __table__ = tables.ocsp_responses


class RevocationChange(Base):
    """Every change of a certificate's revocation state, in order: what a delta CRL lists
    (RFC 5280 §5.2.4), including releases from hold (removeFromCRL, §5.3.1)."""

    __tablename__ = "revocation_changes"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(40))
    issuer: Mapped[str] = mapped_column(String(16))
    released: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_revocation_changes_issuer_seq", "issuer", "seq"),)


class CrlState(Base):
    """Per CA: the last CRL number used (complete and delta CRLs share one sequence,
    RFC 5280 §5.2.3) and what the last complete CRL covered, the base of the next delta."""

    __tablename__ = "crl_state"
    ca: Mapped[str] = mapped_column(String(16), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    base_number: Mapped[int | None] = mapped_column(Integer)
    base_change_seq: Mapped[int | None] = mapped_column(Integer)
    full_this_update: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    delta_this_update: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


# -- service certificate generations (migration 0006) ------------------------------------------

__all__ += ["ServiceCertificate"]


class ServiceCertificate(Base):
    """One generation of a service's HSM key and its certificate (OCSP responder, TSA, seal;
    a seal of one JST when ``scope`` is its TERYT, the centre's own when it is empty).

    Exactly one generation per (role, scope) is ``active``: the one every worker signs with
    (ca/rollover.py writes it, ca/rolekeys.py follows it). Earlier generations stay, with their
    certificates published, so what they signed can still be validated.
    """

    __table__ = tables.service_certificates


# -- fields encrypted at rest (migration 0020) ----------------------------------------------------

__all__ += ["DataKey"]


class DataKey(Base):
    """A data key that encrypts TOTP secrets and PESELs (ca/field_crypto.py), kept only wrapped
    by the HSM's key-encryption key (RFC 5649): the database alone cannot open what it seals."""

    __table__ = tables.data_keys


# -- back-off of guessed secrets (migration 0021) -----------------------------------------------

__all__ += ["GuessBackoff"]


class GuessBackoff(Base):
    """Wrong guesses in a row under one key (a source, or an account from a source; the key is
    a SHA-256, so no address or name is kept in clear) and when the next guess may be tried:
    shared by every worker, so a back-off holds whichever process the next request reaches."""

    __tablename__ = "guess_backoffs"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    next_allowed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_guess_backoffs_last_failure", "last_failure_at"),)


# -- expiry notices and where officers receive them (migration 0025) ---------------------------

__all__ += ["ExpiryNotice", "StaffContact"]


class ExpiryNotice(Base):
    """One expiry e-mail per certificate, threshold (days before notAfter) and recipient: the
    row is written before the message is handed to SMTP, so a notice is never sent twice."""

    __tablename__ = "expiry_notices"
    serial: Mapped[str] = mapped_column(ForeignKey("certificates.serial"), primary_key=True)
    days_before: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))  # sending | sent | failed
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint("state in ('sending', 'sent', 'failed')",
                                      name="ck_expiry_notices_state"),)


class StaffContact(Base):
    """The e-mail address a staff member receives notices at (officers: their JST's expiring
    certificates)."""

    __tablename__ = "staff_contacts"
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# -- high availability (migration 0023) ---------------------------------------------------------

__all__ += ["JobLease", "PublishedCrlDocument"]


class JobLease(Base):
    """Who runs a singleton's work (the jobs process's rounds) and until when: the holder
    renews it, another node takes it once it has expired (ca/lease.py)."""

    __tablename__ = "job_leases"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PublishedCrlDocument(Base):
    """The newest CRL of each CA and kind, as published: the bytes every node serves."""

    __tablename__ = "published_crls"
    ca: Mapped[str] = mapped_column(String(16), primary_key=True)
    delta: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)


# -- form submissions (migration 0024) -----------------------------------------------------------

__all__ += ["FormSubmission"]


class FormSubmission(Base):
    """One submitted web form, by the idempotency key the page rendered into it: a second
    submission of the same form finds this row and shows ``result`` instead of acting again.
    ``result`` is None while the first is still being handled; ``payload`` is what the result
    page shows (JSON; the web encrypts any secret in it). Rows are pruned after a day."""

    __tablename__ = "form_submissions"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    result: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_form_submissions_created", "created_at"),)


# -- server-side sessions of the enrollment web (issue 17, migration 0019) --------------------

__all__ += ["WebSession"]


class WebSession(Base):
    """A signed-in visitor of the web: a staff member on their way through the log-in stages,
    or a resident who redeemed a pickup code. The cookie carries a random token; only its
    SHA-256 is kept here, so a copy of this table opens no session."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str | None] = mapped_column(ForeignKey("users.username"))
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id"))
    stage: Mapped[str] = mapped_column(String(16))
    pending_totp: Mapped[str | None] = mapped_column(String(200))  # sealed; during set-up only
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_web_sessions_username", "username"),
        Index("ix_web_sessions_enrolment", "enrolment_id"),
    )
