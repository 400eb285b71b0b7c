"""The registration office's day (issue 18): form submissions by idempotency key (the
enrolments' keyed PESEL reference comes from 0020).

Revision ID: 0024
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('form_submissions',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('result', sa.String(length=500), nullable=True),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_form_submissions_created', 'form_submissions', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_form_submissions_created', table_name='form_submissions')
    op.drop_table('form_submissions')
