"""High availability: the jobs lease (one node runs the jobs process's work at a time) and the
published CRLs' bytes, so that every node serves the same CRL (ca/lease.py, ca/crl.py).

Revision ID: 0023
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'job_leases',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=False),
        sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'published_crls',
        sa.Column('ca', sa.String(length=16), nullable=False),
        sa.Column('delta', sa.Boolean(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('this_update', sa.DateTime(timezone=True), nullable=False),
        sa.Column('der', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('ca', 'delta'),
    )


def downgrade() -> None:
    op.drop_table('published_crls')
    op.drop_table('job_leases')
