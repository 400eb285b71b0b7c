"""The audit log as an RFC 9162 Merkle tree: leaf hashes, interior nodes, the frontier, the
leaves' HMACs and the signed tree heads. Existing rows become the tree's first leaves.

Revision ID: 0005
Revises: 0001
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaf_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frontier', sa.Text(), nullable=False,
                                      server_default=''))
    nodes = op.create_table('log_nodes',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx')
    )
    op.create_table('log_macs',
    sa.Column('idx', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('idx')
    )
    op.create_table('tree_heads',
    sa.Column('tree_size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('timestamp_ms', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.Column('certificate', sa.LargeBinary(), nullable=False),
    sa.Column('timestamp_token', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('tree_size')
    )
    _hash_existing_rows(nodes)


def _hash_existing_rows(nodes) -> None:
    """Leaf hashes, nodes and frontier of the rows written before this revision."""
    from ca import merkle
    from ca.audit import Event, canonical
    from ca.store.models import AuditEvent

    bind = op.get_bind()
    events = AuditEvent.__table__
    rows = bind.execute(sa.select(events).order_by(events.c.seq)).all()
    leaves = []
    for row in rows:
        event = Event(row.actor, row.action, row.object, row.outcome, json.loads(row.details),
                      row.organization_teryt)
        leaf = merkle.leaf_hash(canonical(row.seq, row.at, event).encode())
        leaves.append(leaf)
        bind.execute(events.update().where(events.c.seq == row.seq)
                     .values(leaf_hash=leaf.hex()))
    frontier, completed = merkle.append([], 0, leaves)
    if completed:
        bind.execute(nodes.insert(), [{"level": lv, "idx": ix, "hash": h.hex()}
                                      for lv, ix, h in completed])
    bind.execute(sa.text("UPDATE audit_head SET frontier = :f WHERE id = 1"),
                 {"f": "".join(h.hex() for h in frontier)})


def downgrade() -> None:
    op.drop_table('tree_heads')
    op.drop_table('log_macs')
    op.drop_table('log_nodes')
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('frontier')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('leaf_hash')
