"""Organisations without a TERYT code of their own (jednostki podległe: schools, social-care
centres) keyed by their REGON, under a parent JST; organisations can be deactivated.

The key column stays ``teryt`` (CONTRACT.md: ``regca org list`` shows "TERYT, or REGON for a unit
without one"); it and every column holding it widen from 7 to 14 characters, a REGON's longest.

Revision ID: 0026
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0004'
branch_labels = None
depends_on = None

# (table, column) holding an organisation's key
_KEYS = (('organizations', 'teryt'), ('certificates', 'organization_teryt'),
         ('audit_events', 'organization_teryt'), ('api_keys', 'organization_teryt'),
         ('user_organizations', 'teryt'), ('enrolments', 'organization_teryt'),
         ('tokens', 'organization_teryt'))


def upgrade() -> None:
    postgres = op.get_context().dialect.name == 'postgresql'
    if postgres:  # SQLite does not enforce a VARCHAR's length; widening is binary-compatible
        for table, column in _KEYS:
            op.alter_column(table, column, type_=sa.String(length=14),
                            existing_type=sa.String(length=7))
    op.add_column('organizations', sa.Column('parent_teryt', sa.String(length=14),
                                             nullable=True))
    op.add_column('organizations', sa.Column('active', sa.Boolean(), nullable=False,
                                             server_default=sa.true()))
    if postgres:  # SQLite cannot add a constraint to a table other tables point at in place
        op.create_foreign_key('fk_organizations_parent', 'organizations', 'organizations',
                              ['parent_teryt'], ['teryt'])
    op.create_index('ix_organizations_parent', 'organizations', ['parent_teryt'])


def downgrade() -> None:
    op.drop_index('ix_organizations_parent', 'organizations')
    if op.get_context().dialect.name == 'postgresql':
        op.drop_constraint('fk_organizations_parent', 'organizations', type_='foreignkey')
    with op.batch_alter_table('organizations') as batch_op:
        batch_op.drop_column('active')
        batch_op.drop_column('parent_teryt')
