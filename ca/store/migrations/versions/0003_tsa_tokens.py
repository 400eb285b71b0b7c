"""Time-stamping: the journal of issued tokens and the serial counter.

Revision ID: 0003
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tsa_tokens',
    sa.Column('serial', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('gen_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('policy', sa.String(length=64), nullable=False),
    sa.Column('hash_algorithm', sa.String(length=16), nullable=False),
    sa.Column('message_imprint', sa.String(length=128), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=True),
    sa.Column('requester', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('serial')
    )
    op.create_index('ix_tsa_tokens_gen_time', 'tsa_tokens', ['gen_time'], unique=False)
    op.create_index('ix_tsa_tokens_imprint', 'tsa_tokens', ['message_imprint'], unique=False)
    op.create_table('tsa_serial_counter',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('next_serial', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('tsa_serial_counter')
    op.drop_index('ix_tsa_tokens_imprint', table_name='tsa_tokens')
    op.drop_index('ix_tsa_tokens_gen_time', table_name='tsa_tokens')
    op.drop_table('tsa_tokens')
