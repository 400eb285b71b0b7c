"""TOTP secrets and PESELs encrypted at rest: the wrapped data keys, room in ``users.totp_secret``
and ``enrolments.pesel`` for a sealed value, and each enrolment's keyed PESEL reference (what
exact searches and duplicate checks compare, since the PESEL itself is no longer readable).

The clear values of a home made before this revision are sealed by ``regca serve`` at start-up
(regca/sealed_fields.py), which needs the HSM: a migration only changes the schema.

Revision ID: 0020
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'data_keys',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kek_label', sa.String(length=100), nullable=False),
        sa.Column('wrapped', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_ref', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_enrolments_person_ref', ['person_ref'], unique=False)
    if op.get_bind().dialect.name != 'sqlite':  # SQLite keeps any length in a VARCHAR
        op.alter_column('enrolments', 'pesel', type_=sa.String(length=200),
                        existing_nullable=True)
        op.alter_column('users', 'totp_secret', type_=sa.String(length=200),
                        existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_index('ix_enrolments_person_ref')
        batch_op.drop_column('person_ref')
    op.drop_table('data_keys')
