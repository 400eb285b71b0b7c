"""The Merkle log's side of the store: leaves (the audit rows), the interior nodes appends
completed, the leaves' HMACs and the signed tree heads.

The leaves themselves are written by ``ca.store.audit.append_many``; nothing here changes a
leaf. Leaf ``i`` is the audit row ``seq = i + 1``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.audit import Event, canonical
from ca.store.audit import frontier_of
from ca.store.models import AuditEvent, AuditHead, LogMac, LogNode, TreeHead

__all__ = ["head", "subtree_hash", "entries", "leaf_rows", "issue_index", "add_tree_head",
           "latest_tree_head", "tree_head", "tree_heads", "add_macs", "macs", "mac_count",
           "nodes", "certificate_ders"]


def head(session: Session) -> tuple[int, list[bytes]]:
    """The log's size and frontier as last committed."""
    row = session.get(AuditHead, 1)
    return row.seq, frontier_of(row.frontier or "")


def subtree_hash(session: Session, start: int, end: int) -> bytes:
    """The stored hash of the perfect subtree ``[start, end)`` (a leaf, or a node an append
    completed); LookupError when the log has no such subtree."""
    n = end - start
    level = n.bit_length() - 1
    if n <= 0 or n & (n - 1) or start % n:
        raise LookupError(f"[{start}, {end}) is not a perfect subtree")
    if level == 0:
        value = session.execute(select(AuditEvent.leaf_hash)
                                .where(AuditEvent.seq == start + 1)).scalar_one_or_none()
    else:
        value = session.execute(select(LogNode.hash).where(
            LogNode.level == level, LogNode.idx == start >> level)).scalar_one_or_none()
    if value is None:
        raise LookupError(f"the log holds no subtree [{start}, {end})")
    return bytes.fromhex(value)


def _entry_bytes(row: AuditEvent) -> bytes:
    """The leaf's entry: the row's canonical text (ca/audit.py), UTF-8."""
    event = Event(actor=row.actor, action=row.action, object=row.object, outcome=row.outcome,
                  details=json.loads(row.details), organization_teryt=row.organization_teryt)
    return canonical(row.seq, row.at, event).encode()


def entries(session: Session, start: int, end: int) -> list[tuple[int, bytes]]:
    """``(index, entry bytes)`` of leaves ``start`` to ``end`` inclusive, as the rows are now."""
    rows = session.execute(select(AuditEvent).where(AuditEvent.seq.between(start + 1, end + 1))
                           .order_by(AuditEvent.seq)).scalars()
    return [(row.seq - 1, _entry_bytes(row)) for row in rows]


def leaf_rows(session: Session, first: int = 0, last: int | None = None
              ) -> Iterator[tuple[int, bytes | None, str | None]]:
    """The rows of leaves ``first`` to ``last`` (default: to the end) in order: ``(seq, entry
    bytes or None when its details are not JSON, stored leaf hash)``; for verification and
    signing, which recompute the leaves from the rows."""
    q = select(AuditEvent).where(AuditEvent.seq > first).order_by(AuditEvent.seq)
    if last is not None:
        q = q.where(AuditEvent.seq <= last + 1)
    rows = session.execute(q.execution_options(yield_per=2000)).scalars()
    for row in rows:
        try:
            entry = _entry_bytes(row)
        except ValueError:
            entry = None
        yield row.seq, entry, row.leaf_hash


def nodes(session: Session) -> Iterator[tuple[int, int, str]]:
    """Every stored interior node ``(level, idx, hex hash)``."""
    yield from session.execute(select(LogNode.level, LogNode.idx, LogNode.hash)
                               .execution_options(yield_per=5000))


def issue_index(session: Session, serial: str) -> int | None:
    """The leaf of the ``certificate.issue`` event of ``serial``, or None."""
    seq = session.execute(select(AuditEvent.seq).where(
        AuditEvent.object == f"certificate:{serial}",
        AuditEvent.action == "certificate.issue")).scalar_one_or_none()
    return None if seq is None else seq - 1


def add_tree_head(session: Session, row: TreeHead, macs_: Sequence[tuple[int, bytes]]) -> None:
    """Keep a signed tree head with the HMACs of the leaves it is the first to cover."""
    session.add(row)
    add_macs(session, macs_)


def latest_tree_head(session: Session) -> TreeHead | None:
    return session.execute(select(TreeHead).order_by(TreeHead.tree_size.desc())
                           .limit(1)).scalar_one_or_none()


def tree_head(session: Session, tree_size: int) -> TreeHead | None:
    return session.get(TreeHead, tree_size)


def tree_heads(session: Session) -> list[TreeHead]:
    return list(session.execute(select(TreeHead).order_by(TreeHead.tree_size)).scalars())


def add_macs(session: Session, values: Sequence[tuple[int, bytes]]) -> None:
    if values:
        session.execute(LogMac.__table__.insert(),
                        [{"idx": i, "mac": mac.hex()} for i, mac in values])


def macs(session: Session, start: int, end: int) -> dict[int, bytes]:
    """The HMACs kept for leaves ``start`` to ``end - 1``."""
    rows = session.execute(select(LogMac.idx, LogMac.mac).where(
        LogMac.idx >= start, LogMac.idx < end))
    return {i: bytes.fromhex(m) for i, m in rows}


def mac_count(session: Session) -> int:
    """How many leaves have an HMAC: they are kept for a prefix of the log."""
    top = session.execute(select(LogMac.idx).order_by(LogMac.idx.desc()).limit(1)
                          ).scalar_one_or_none()
    return 0 if top is None else top + 1


def certificate_ders(session: Session) -> Iterator[tuple[str, bytes]]:
    """``(serial, DER as stored)`` of every certificate that was signed, for an export of the
    log (``certificates.der_of`` opens a sealed one)."""
    from ca.store.models import Certificate
    yield from session.execute(select(Certificate.serial, Certificate.der)
                               .where(Certificate.der.is_not(None))
                               .order_by(Certificate.serial)
                               .execution_options(yield_per=2000))
