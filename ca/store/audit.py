"""Audit rows: append under the head row's lock, and walk them in order for verification."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from ca import merkle
from ca.audit import GENESIS, ChainProblem, Event, canonical, chain_hash, sequenced, unsequenced
from ca.store import tables
from ca.store.db import connection_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ca.store.models import AuditEvent

__all__ = ["append", "append_many", "verify_chain", "events"]

_EVENTS, _HEAD, _NODES = tables.audit_events, tables.audit_head, tables.log_nodes
# Built once: every write path appends.
_LOCK_HEAD = (select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.frontier).where(_HEAD.c.id == 1)
              .with_for_update())
_INSERT_EVENT = _EVENTS.insert()
_INSERT_NODES = _NODES.insert()
_MOVE_HEAD = (_HEAD.update().where(_HEAD.c.id == 1)
              .values(seq=bindparam("p_seq"), hash=bindparam("p_hash"),
                      frontier=bindparam("p_frontier")))


def frontier_of(text: str) -> list[bytes]:
    """The head row's frontier column as hashes (64 hex digits each)."""
    return [bytes.fromhex(text[i:i + 64]) for i in range(0, len(text), 64)]


def append(session: Session, event: Event, at: dt.datetime) -> int:
    """Append ``event`` inside the caller's transaction; returns its sequence number."""
    return append_many(session, [(at, event)])


def append_many(session, events: list[tuple[dt.datetime, Event]]) -> int:
    """Append ``(when, event)`` pairs in order inside the caller's transaction (a session or
    a connection); returns the last one's sequence number.

    The head row is locked (FOR UPDATE on PostgreSQL; SQLite transactions here are already
    BEGIN IMMEDIATE), so concurrent appenders line up and the chain stays linear; a group of
    events takes that lock once. Each row is also the next leaf of the Merkle log: its leaf
    hash goes in the row, the interior nodes it completes in ``log_nodes`` and the new
    frontier in the head, O(log n) hashes per event (ca/merkle.py).
    """
    conn = connection_of(session)  # SQL Core: appends are on every write path
    # Everything but the chaining is prepared before the head's lock is taken.
    rows = [{"at": at, "actor": event.actor, "action": event.action, "object": event.object,
             "outcome": event.outcome, "organization_teryt": event.organization_teryt,
             "details": json.dumps(event.details, sort_keys=True, ensure_ascii=False,
                                   default=str),
             "text": unsequenced(at, event)} for at, event in events]
    seq, head_hash, frontier_text = conn.execute(_LOCK_HEAD).one()
    size, leaves = seq, []
    for row in rows:
        seq += 1
        text = sequenced(row.pop("text"), seq)
        row_hash = chain_hash(head_hash, text)
        leaf = merkle.leaf_hash(text.encode())
        leaves.append(leaf)
        row.update(seq=seq, prev_hash=head_hash, hash=row_hash, leaf_hash=leaf.hex())
        head_hash = row_hash
    if rows:
        frontier, completed = merkle.append(frontier_of(frontier_text), size, leaves)
        conn.execute(_INSERT_EVENT, rows)
        if completed:
            conn.execute(_INSERT_NODES, [{"level": lv, "idx": ix, "hash": h.hex()}
                                         for lv, ix, h in completed])
        conn.execute(_MOVE_HEAD, {"p_seq": seq, "p_hash": head_hash,
                                  "p_frontier": "".join(h.hex() for h in frontier)})
    return seq


def _event_of(row: AuditEvent) -> Event:
    return Event(actor=row.actor, action=row.action, object=row.object, outcome=row.outcome,
                 details=json.loads(row.details), organization_teryt=row.organization_teryt)


def verify_chain(session: Session) -> tuple[int, list[ChainProblem]]:
    """Re-check every row; returns (rows checked, problems) and stops at the first break."""
    from ca.store.models import AuditEvent, AuditHead  # the ORM: not on the write path
    expected_seq, prev = 1, GENESIS
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq)
                           .execution_options(yield_per=2000)).scalars()
    count = 0
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            return count, [ChainProblem(expected_seq, f"missing (next row found is {row.seq}): "
                                        "deleted or reordered")]
        if row.prev_hash != prev:
            return count, [ChainProblem(row.seq, "does not follow the row before it: "
                                        "a row was deleted, inserted or reordered")]
        try:
            text = canonical(row.seq, row.at, _event_of(row))
        except ValueError:
            return count, [ChainProblem(row.seq, "details are not valid JSON: edited")]
        if chain_hash(prev, text) != row.hash:
            return count, [ChainProblem(row.seq, "content does not match its hash: edited")]
        prev, expected_seq = row.hash, row.seq + 1
    head = session.get(AuditHead, 1)
    if head is None or head.seq != expected_seq - 1 or head.hash != prev:
        last = head.seq if head else "?"
        return count, [ChainProblem(expected_seq, f"chain ends early (head says {last}): "
                                    "the newest rows were deleted")]
    return count, []


def events(session: Session, object_: str | None = None, action: str | None = None,
           limit: int = 1000) -> Iterator[AuditEvent]:
    from ca.store.models import AuditEvent  # the ORM: not on the write path
    q = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if object_:
        q = q.where(AuditEvent.object == object_)
    if action:
        q = q.where(AuditEvent.action == action)
    return iter(session.execute(q).scalars().all())
