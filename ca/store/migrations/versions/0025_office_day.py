"""A registration office's day: bulk-imported enrolments keep the profiles asked for, expiry
notices sent (never twice), officers' notice addresses.

Revision ID: 0025
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_profiles', sa.String(length=200),
                                      nullable=True))
    op.create_table('expiry_notices',
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.Column('days_before', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state in ('sending', 'sent', 'failed')",
                       name='ck_expiry_notices_state'),
    sa.ForeignKeyConstraint(['serial'], ['certificates.serial'], ),
    sa.PrimaryKeyConstraint('serial', 'days_before', 'recipient')
    )
    op.create_table('staff_contacts',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['username'], ['users.username'], ),
    sa.PrimaryKeyConstraint('username')
    )


def downgrade() -> None:
    op.drop_table('staff_contacts')
    op.drop_table('expiry_notices')
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_column('requested_profiles')
