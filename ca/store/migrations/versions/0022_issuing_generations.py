"""Issuing-CA generations: the issuing CA rolls over at a root ceremony (ca/issuing_cas.py), and
its generations are recorded beside the services' in ``service_certificates`` (role
``issuing``).

Existing homes get generation 1: their newest issued issuing-CA certificate, the key configured
for the role (NULL label and id: derived from regca.toml).

Revision ID: 0022
Revises: 0006_service_certificates
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0006_service_certificates'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM service_certificates WHERE role = 'issuing'")
                    ).first() is not None:
        return
    newest = conn.execute(sa.text(
        "SELECT serial, not_after FROM certificates WHERE profile = 'issuing-ca' "
        "AND status = 'issued' ORDER BY issued_at DESC LIMIT 1")).first()
    if newest is None:  # a fresh home: `regca init` records generation 1 itself
        return
    now = dt.datetime.now(dt.timezone.utc)
    if conn.dialect.name == "sqlite":  # stored naive, in UTC (ca/store/models.py UtcDateTime)
        now = now.replace(tzinfo=None)
    conn.execute(sa.text(
        "INSERT INTO service_certificates (role, scope, generation, serial, key_label, key_id, "
        "not_after, active, created_at) VALUES ('issuing', '', 1, :serial, NULL, NULL, "
        ":not_after, :active, :now)"),
        {"serial": newest[0], "not_after": newest[1], "active": True, "now": now})


def downgrade() -> None:
    op.execute("DELETE FROM service_certificates WHERE role = 'issuing'")
