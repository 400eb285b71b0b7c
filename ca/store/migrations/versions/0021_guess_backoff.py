"""Back-off of guessed secrets shared by every worker; pickup codes carry when they were given.

Revision ID: 0021
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guess_backoffs',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_allowed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_guess_backoffs_last_failure', 'guess_backoffs', ['last_failure_at'])
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pickup_issued_at', sa.DateTime(timezone=True),
                                      nullable=True))
    # codes given before this revision count from the enrolment's recording
    op.execute("UPDATE enrolments SET pickup_issued_at = created_at "
               "WHERE pickup_code_hash IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_column('pickup_issued_at')
    op.drop_index('ix_guess_backoffs_last_failure', table_name='guess_backoffs')
    op.drop_table('guess_backoffs')
