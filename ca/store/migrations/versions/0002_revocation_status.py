"""Revocation status: pre-signed OCSP responses, revocation changes, CRL numbers.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ocsp_responses',
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.Column('hash_algorithm', sa.String(length=16), nullable=False),
    sa.Column('issuer', sa.String(length=16), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('this_update', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_update', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('serial', 'hash_algorithm')
    )
    with op.batch_alter_table('ocsp_responses', schema=None) as batch_op:
        batch_op.create_index('ix_ocsp_responses_next_update', ['next_update'], unique=False)

    op.create_table('revocation_changes',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.Column('issuer', sa.String(length=16), nullable=False),
    sa.Column('released', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('revocation_changes', schema=None) as batch_op:
        batch_op.create_index('ix_revocation_changes_issuer_seq', ['issuer', 'seq'],
                              unique=False)

    op.create_table('crl_state',
    sa.Column('ca', sa.String(length=16), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('base_number', sa.Integer(), nullable=True),
    sa.Column('base_change_seq', sa.Integer(), nullable=True),
    sa.Column('full_this_update', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delta_this_update', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('ca')
    )


def downgrade() -> None:
    op.drop_table('crl_state')
    with op.batch_alter_table('revocation_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_revocation_changes_issuer_seq')
    op.drop_table('revocation_changes')
    with op.batch_alter_table('ocsp_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_ocsp_responses_next_update')
    op.drop_table('ocsp_responses')
