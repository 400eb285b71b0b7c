"""SQLAlchemy 2 models. Schema changes go through an Alembic migration in ``migrations/``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "UtcDateTime", "Organization", "Certificate", "AuditEvent", "AuditHead",
           "ApiKey", "User", "UserOrganization", "CERT_STATUSES", "Enrolment",
           "EnrolmentCertificate", "Token", "TokenCertificate", "LoginState", "TOKEN_STATES"]

CERT_STATUSES = ("pending", "issued", "revoked", "abandoned")
TOKEN_STATES = ("active", "blocked", "lost", "destroyed", "replaced")


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Organization(Base):
    """A JST (or the voivodeship itself) served by this home, keyed by its TERYT code."""

    __tablename__ = "organizations"
    teryt: Mapped[str] = mapped_column(String(7), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    nip: Mapped[str | None] = mapped_column(String(10))
    regon: Mapped[str | None] = mapped_column(String(14))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    # One NIP, one REGON, one JST: a second JST under the same tax number would carry the
    # first one's organizationIdentifier (VATPL-<NIP>) in its certificates.
    __table_args__ = (
        Index("ux_organizations_nip", "nip", unique=True),
        Index("ux_organizations_regon", "regon", unique=True),
    )


class Certificate(Base):
    """Every certificate RegCA ever intended to sign, from the pending row onwards."""

    __tablename__ = "certificates"
    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # lowercase hex
    issuer: Mapped[str] = mapped_column(String(16))  # "root" | "issuing"
    profile: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)  # RFC 4514
    organization_teryt: Mapped[str | None] = mapped_column(ForeignKey("organizations.teryt"))
    requested_by: Mapped[str] = mapped_column(String(200))
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    tbs: Mapped[bytes] = mapped_column(LargeBinary)  # the TBSCertificate, recorded before signing
    der: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # SHA-256 of the certified SubjectPublicKeyInfo: finds every certificate of one key (a key
    # revoked for keyCompromise is never certified again; one key, one subject).
    spki_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    __table_args__ = (
        CheckConstraint("status in ('pending', 'issued', 'revoked', 'abandoned')",
                        name="ck_certificates_status"),
        Index("ix_certificates_issuer_status", "issuer", "status"),
        Index("ix_certificates_profile_status", "profile", "status"),
        Index("ix_certificates_revoked_at", "issuer", "revoked_at"),
        Index("ix_certificates_organization", "organization_teryt"),
        Index("ix_certificates_spki", "spki_sha256"),
    )


class AuditEvent(Base):
    """One row per event; ``hash`` chains it to the row before (DESIGN.md, "The audit log")."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    organization_teryt: Mapped[str | None] = mapped_column(String(7))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_object", "object"), Index("ix_audit_at", "at"))


class AuditHead(Base):
    """The chain's last sequence number and hash: the row appenders lock, and what detects
    a deleted tail."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


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
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


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
    pesel: Mapped[str | None] = mapped_column(String(11))
    email: Mapped[str | None] = mapped_column(String(254))
    title: Mapped[str | None] = mapped_column(String(64))
    document_type: Mapped[str | None] = mapped_column(String(8))
    document_number: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    pickup_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    pickup_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revocation_password_hash: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_enrolments_organization", "organization_teryt"),)


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

    __tablename__ = "ocsp_responses"
    serial: Mapped[str] = mapped_column(String(40), primary_key=True)
    hash_algorithm: Mapped[str] = mapped_column(String(16), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(16))
    der: Mapped[bytes] = mapped_column(LargeBinary)  # the whole OCSPResponse
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_ocsp_responses_next_update", "next_update"),)


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
