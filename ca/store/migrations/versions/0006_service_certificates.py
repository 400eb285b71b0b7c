"""Service certificate generations: which HSM key and certificate each service signs with now,
and every earlier one (ca/rollover.py).

Existing homes get generation 1 of each service: its newest issued certificate, the key
configured for the role (NULL label and id: derived from regca.toml).

Revision ID: 0006_service_certificates
Revises: 0001
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0006_service_certificates'
down_revision = '0001'
branch_labels = None
depends_on = None

_PROFILES = {"ocsp": "ocsp-responder", "tsa": "tsa", "seal": "seal"}


def upgrade() -> None:
    table = op.create_table(
        'service_certificates',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('scope', sa.String(length=7), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('serial', sa.String(length=40), nullable=False),
        sa.Column('key_label', sa.String(length=100), nullable=True),
        sa.Column('key_id', sa.String(length=64), nullable=True),
        sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['serial'], ['certificates.serial']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('role', 'scope', 'generation', name='uq_service_generation'),
    )
    op.create_index('ix_service_certificates_active', 'service_certificates',
                    ['role', 'scope', 'active'])
    conn = op.get_bind()
    now = dt.datetime.now(dt.timezone.utc)
    if conn.dialect.name == "sqlite":  # stored naive, in UTC (ca/store/models.py UtcDateTime)
        now = now.replace(tzinfo=None)
    newest_of = sa.text(
        "SELECT serial, not_after FROM certificates WHERE profile = :p AND status = 'issued' "
        "ORDER BY issued_at DESC LIMIT 1").columns(serial=sa.String(), not_after=sa.DateTime())
    rows = []
    for role, profile in _PROFILES.items():
        newest = conn.execute(newest_of, {"p": profile}).first()
        if newest is not None:
            rows.append({"role": role, "scope": "", "generation": 1, "serial": newest[0],
                         "key_label": None, "key_id": None, "not_after": newest[1],
                         "active": True, "created_at": now})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index('ix_service_certificates_active', table_name='service_certificates')
    op.drop_table('service_certificates')
