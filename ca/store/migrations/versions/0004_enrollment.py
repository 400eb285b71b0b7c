"""Enrollment web and tokens: enrolments, their certificates, the token registry, log-in state.

Revision ID: 0004
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('enrolments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('organization_teryt', sa.String(length=7), nullable=False),
    sa.Column('officer', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('given_name', sa.String(length=64), nullable=False),
    sa.Column('surname', sa.String(length=64), nullable=False),
    sa.Column('pesel', sa.String(length=11), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('title', sa.String(length=64), nullable=True),
    sa.Column('document_type', sa.String(length=8), nullable=True),
    sa.Column('document_number', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pickup_code_hash', sa.String(length=64), nullable=True),
    sa.Column('pickup_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_password_hash', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['organization_teryt'], ['organizations.teryt'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pickup_code_hash')
    )
    op.create_index('ix_enrolments_organization', 'enrolments', ['organization_teryt'])
    op.create_table('enrolment_certificates',
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], ),
    sa.ForeignKeyConstraint(['serial'], ['certificates.serial'], ),
    sa.PrimaryKeyConstraint('enrolment_id', 'serial')
    )
    op.create_table('tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('serial_number', sa.String(length=64), nullable=True),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('organization_teryt', sa.String(length=7), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('replaced_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state in ('active', 'blocked', 'lost', 'destroyed', 'replaced')",
                       name='ck_tokens_state'),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], ),
    sa.ForeignKeyConstraint(['organization_teryt'], ['organizations.teryt'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_tokens_enrolment', 'tokens', ['enrolment_id'])
    op.create_table('token_certificates',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['tokens.id'], ),
    sa.ForeignKeyConstraint(['serial'], ['certificates.serial'], ),
    sa.PrimaryKeyConstraint('token_id', 'serial')
    )
    op.create_table('login_states',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('totp_counter', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('username')
    )


def downgrade() -> None:
    op.drop_table('login_states')
    op.drop_table('token_certificates')
    op.drop_index('ix_tokens_enrolment', table_name='tokens')
    op.drop_table('tokens')
    op.drop_table('enrolment_certificates')
    op.drop_index('ix_enrolments_organization', table_name='enrolments')
    op.drop_table('enrolments')
