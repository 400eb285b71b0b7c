"""The tables the hot paths touch, in SQLAlchemy Core: certificates, their OCSP responses, the
audit chain and the JST. ``regca issue`` writes through these without loading the ORM (its
import alone is a fifth of the command's start-up); ``models.py`` maps the same tables for the
other paths, so there is one schema. Changes go through an Alembic migration in
``migrations/``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)

__all__ = ["metadata", "UtcDateTime", "organizations", "certificates", "audit_events",
           "audit_head", "log_nodes", "ocsp_responses",
           "service_certificates", "data_keys"]

metadata = MetaData()


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


# A JST (or the voivodeship itself) served by this home, keyed by its TERYT code.
organizations = Table(
    "organizations", metadata,
    # the JST's TERYT code, or the REGON of a unit without one (0026)
    Column("teryt", String(14), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("nip", String(10)),
    Column("regon", String(14)),
    Column("created_at", UtcDateTime, nullable=False),
    # a subordinate unit's JST (0026); NULL for a JST
    Column("parent_teryt", String(14), ForeignKey("organizations.teryt")),
    # a deactivated organisation takes no new enrolments; its certificates stand (0026)
    Column("active", Boolean, nullable=False, server_default=true()),
    Index("ix_organizations_parent", "parent_teryt"),
    # One NIP, one REGON, one JST: a second JST under the same tax number would carry the
    # first one's organizationIdentifier (VATPL-<NIP>) in its certificates.
    Index("ux_organizations_nip", "nip", unique=True),
    Index("ux_organizations_regon", "regon", unique=True),
)

# Every certificate RegCA ever intended to sign, from the pending row onwards.
certificates = Table(
    "certificates", metadata,
    Column("serial", String(40), primary_key=True),  # lowercase hex
    Column("issuer", String(16), nullable=False),  # "root" | "issuing"
    Column("profile", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    # RFC 4514; a PESEL in it masked, the TBS and the DER then sealed (certificates.py, 0027)
    Column("subject", Text, nullable=False),
    Column("organization_teryt", ForeignKey("organizations.teryt")),
    Column("requested_by", String(200), nullable=False),
    Column("not_before", UtcDateTime, nullable=False),
    Column("not_after", UtcDateTime, nullable=False),
    Column("tbs", LargeBinary, nullable=False),  # the TBSCertificate, recorded before signing
    Column("der", LargeBinary),
    Column("created_at", UtcDateTime, nullable=False),
    Column("issued_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Column("revocation_reason", String(32)),
    Column("invalidity_date", UtcDateTime),
    # SHA-256 of the certified SubjectPublicKeyInfo: finds every certificate of one key (a key
    # revoked for keyCompromise is never certified again; one key, one subject).
    Column("spki_sha256", LargeBinary(32)),
    # the keyed reference of the PESEL the subject carries (ca/personal_data.py), NULL for
    # subjects without one: what key reuse compares, the subject being masked (0027)
    Column("person_ref", String(40)),
    CheckConstraint("status in ('pending', 'issued', 'revoked', 'abandoned')",
                    name="ck_certificates_status"),
    Index("ix_certificates_issuer_status", "issuer", "status"),
    Index("ix_certificates_profile_status", "profile", "status"),
    Index("ix_certificates_revoked_at", "issuer", "revoked_at"),
    Index("ix_certificates_organization", "organization_teryt"),
    Index("ix_certificates_spki", "spki_sha256"),
)

# One row per event; ``hash`` chains it to the row before (DESIGN.md, "The audit log").
audit_events = Table(
    "audit_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON
    Column("organization_teryt", String(14)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # RFC 9162 leaf hash of the row's canonical text: the row is leaf ``seq - 1`` of the log
    # (NULL only in rows older than the log, until `regca audit init-log` fills them)
    Column("leaf_hash", String(64)),
    Index("ix_audit_object", "object"),
    Index("ix_audit_at", "at"),
)

# The chain's last sequence number and hash: the row appenders lock, and what detects a
# deleted tail.
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    # the Merkle tree's frontier: hex roots of its perfect subtrees, largest first, concatenated
    Column("frontier", Text, nullable=False, default="", server_default=""),
)

# An interior node of the Merkle log that an append completed: the hash of leaves
# ``[idx << level, (idx + 1) << level)``; what proofs are built from (ca/merkle.py).
log_nodes = Table(
    "log_nodes", metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)

# A pre-signed OCSP response for one certificate and one CertID hash (RFC 5019 §2.1.1: SHA-1
# for the lightweight profile; SHA-256 as RFC 6960 clients increasingly send).
ocsp_responses = Table(
    "ocsp_responses", metadata,
    Column("serial", String(40), primary_key=True),
    Column("hash_algorithm", String(16), primary_key=True),
    Column("issuer", String(16), nullable=False),
    Column("der", LargeBinary, nullable=False),  # the whole OCSPResponse
    Column("this_update", UtcDateTime, nullable=False),
    Column("next_update", UtcDateTime, nullable=False),
    Index("ix_ocsp_responses_next_update", "next_update"),
)


# One generation of a service's HSM key and its certificate (OCSP responder, TSA, seal; a seal
# of one JST when ``scope`` is its TERYT, the centre's own when it is empty). Exactly one
# generation per (role, scope) is ``active``: the one every worker signs with (ca/rollover.py
# writes it, ca/rolekeys.py follows it). Earlier generations stay, with their certificates
# published, so what they signed can still be validated. ``key_label``/``key_id`` NULL: a
# generation recorded before they were (migration 0006), derived from regca.toml.
service_certificates = Table(
    "service_certificates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("role", String(16), nullable=False),  # hsm.keys role: ocsp | tsa | seal
    Column("scope", String(7), nullable=False, default=""),  # "" or a JST's TERYT
    Column("generation", Integer, nullable=False),
    Column("serial", String(40), ForeignKey("certificates.serial"), nullable=False),
    Column("key_label", String(100)),
    Column("key_id", String(64)),
    Column("not_after", UtcDateTime, nullable=False),
    Column("active", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("role", "scope", "generation", name="uq_service_generation"),
    Index("ix_service_certificates_active", "role", "scope", "active"),
)


# A data key that encrypts the fields kept sealed (ca/field_crypto.py), only wrapped by the HSM's
# key-encryption key (RFC 5649); in Core because `regca issue` seals a certificate naming a
# PESEL and reads its data key without the ORM (migration 0020).
data_keys = Table(
    "data_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kek_label", String(100), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
