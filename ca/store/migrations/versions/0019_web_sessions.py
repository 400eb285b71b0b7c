"""Server-side sessions of the enrollment web, and the administrator's hold on a staff log-in:
disabled, or a new password due at the next log-in.

Revision ID: 0019
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0004'  # users (0001) and enrolments (0004), which the sessions refer to
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table('web_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('enrolment_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('pending_totp', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['username'], ['users.username'], ),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index('ix_web_sessions_username', 'web_sessions', ['username'])
    op.create_index('ix_web_sessions_enrolment', 'web_sessions', ['enrolment_id'])


def downgrade() -> None:
    op.drop_index('ix_web_sessions_enrolment', table_name='web_sessions')
    op.drop_index('ix_web_sessions_username', table_name='web_sessions')
    op.drop_table('web_sessions')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('disabled_at')
