"""Keys and organisations seen once: the SHA-256 of each certificate's SubjectPublicKeyInfo,
indexed (compromised keys, one key per subject), and NIP and REGON unique among JST.

Rows certified before this revision get their hash from their DER (or their TBS if pending).

Revision ID: 0017
Revises: 0001
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0001'
branch_labels = None
depends_on = None


def _spki_sha256(der: bytes, certificate: bool) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    if certificate:
        key = x509.load_der_x509_certificate(der).public_key()
        return hashlib.sha256(key.public_bytes(Encoding.DER,
                                               PublicFormat.SubjectPublicKeyInfo)).digest()
    from asn1crypto import x509 as asn1_x509
    tbs = asn1_x509.TbsCertificate.load(der)
    return hashlib.sha256(tbs["subject_public_key_info"].dump()).digest()


def upgrade() -> None:
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spki_sha256', sa.LargeBinary(length=32), nullable=True))
        batch_op.create_index('ix_certificates_spki', ['spki_sha256'], unique=False)
    conn = op.get_bind()
    table = sa.table('certificates', sa.column('serial', sa.String),
                     sa.column('der', sa.LargeBinary), sa.column('tbs', sa.LargeBinary),
                     sa.column('spki_sha256', sa.LargeBinary))
    rows = conn.execute(sa.select(table.c.serial, table.c.der, table.c.tbs)).all()
    updates = [{"s": serial, "h": _spki_sha256(der, True) if der else _spki_sha256(tbs, False)}
               for serial, der, tbs in rows]
    if updates:
        conn.execute(table.update().where(table.c.serial == sa.bindparam("s"))
                     .values(spki_sha256=sa.bindparam("h")), updates)
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.create_index('ux_organizations_nip', ['nip'], unique=True)
        batch_op.create_index('ux_organizations_regon', ['regon'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_index('ux_organizations_regon')
        batch_op.drop_index('ux_organizations_nip')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_certificates_spki')
        batch_op.drop_column('spki_sha256')
