"""The registration office's day (issue 18): form submissions by idempotency key, and the
enrolments' keyed PESEL reference for search and the duplicate-person check.

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
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_ref', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_enrolments_person_ref', ['person_ref'])


def downgrade() -> None:
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_index('ix_enrolments_person_ref')
        batch_op.drop_column('person_ref')
    op.drop_index('ix_form_submissions_created', table_name='form_submissions')
    op.drop_table('form_submissions')
