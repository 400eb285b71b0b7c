"""Certificates whose subject carries a PESEL are kept sealed (issue 17): ``person_ref``, the
keyed reference of that PESEL, beside the masked subject. The rows themselves are sealed at
``regca serve``'s start-up (regca/sealed_fields.py), which needs the HSM a migration has not.

Revision ID: 0027
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0017'  # the certificates' spki_sha256, the other key-reuse column
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('certificates', sa.Column('person_ref', sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column('certificates', 'person_ref')
