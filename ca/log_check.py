"""What ``regca audit verify`` proves about the Merkle log (README, "The audit log").

``check_log`` recomputes every leaf from its row and the tree from the leaves, and checks each
stored node, the head's frontier, every stored tree head (signature, certificate from the root,
time-stamp, root hash) and the HSM's HMAC of every leaf a tree head covers. ``check_saved``
proves that the log still holds, unchanged, the leaves a tree head kept outside covered; when
it does not, the HMACs name the first leaf that changed (whoever changed it could recompute
every hash, not an HMAC made in the HSM).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from ca import merkle
from ca.store import transparency as log_store
from ca.store.db import Database
from ca.transparency import head_of, leaf_mac
from ca.tree_head import SignedTreeHead, TreeHeadProblem

__all__ = ["LogProblem", "LogCheck", "check_log", "check_saved"]

Hmac = Callable[[bytes], bytes]


@dataclass(frozen=True)
class LogProblem:
    index: int | None  # the first leaf found bad, when one can be named
    message: str

    def __str__(self) -> str:
        return self.message if self.index is None else f"entry {self.index}: {self.message}"


@dataclass
class LogCheck:
    entries: int = 0
    tree_heads: int = 0
    macs_checked: int = 0
    problems: list[LogProblem] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)  # recomputed from the rows


def _recompute(db: Database, out: LogCheck) -> None:
    """Leaves from the rows; the first row out of sequence or unlike its leaf hash is a
    problem."""
    with db.reading() as s:
        expected = 1
        for seq, entry, stored in log_store.leaf_rows(s):
            index = expected - 1
            if seq != expected:
                out.problems.append(LogProblem(index, f"missing (the next row is {seq}): "
                                               "deleted or reordered"))
                return
            if entry is None:
                out.problems.append(LogProblem(index, "details are not JSON: edited"))
                return
            leaf = merkle.leaf_hash(entry)
            if stored != leaf.hex():
                out.problems.append(LogProblem(index, "does not match its stored leaf hash: "
                                               "edited"))
                return
            out.leaves.append(leaf)
            expected += 1
        out.entries = len(out.leaves)


def check_log(db: Database, root: x509.Certificate, hmac: Hmac | None) -> LogCheck:
    """Every check of the module docstring; ``hmac`` None skips the HMACs (no HSM here)."""
    out = LogCheck()
    _recompute(db, out)
    if out.problems:
        return out
    with db.reading() as s:
        size, frontier = log_store.head(s)
        stored_nodes = {(lv, ix): h for lv, ix, h in log_store.nodes(s)}
        heads = [head_of(r) for r in log_store.tree_heads(s)]
        covered = log_store.mac_count(s)
        macs = log_store.macs(s, 0, covered) if hmac is not None else {}
    leaves = out.leaves
    # the tree, rebuilt leaf by leaf: each completed node against the stored one
    roots_at = {h.tree_size for h in heads}
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT} if 0 in roots_at else {}
    built: list[bytes] = []
    for n, leaf in enumerate(leaves):
        built, completed = merkle.append(built, n, [leaf])
        for lv, ix, h in completed:
            if stored_nodes.pop((lv, ix), None) != h.hex():
                out.problems.append(LogProblem(ix << lv, f"stored node ({lv}, {ix}) differs "
                                               "from the leaves under it"))
                return out
        if n + 1 in roots_at:
            roots[n + 1] = merkle.root_of_frontier(built)
    if stored_nodes:
        (lv, ix), _ = min(stored_nodes.items())
        out.problems.append(LogProblem(ix << lv, f"a node ({lv}, {ix}) is stored beyond the "
                                       "log's leaves: entries were deleted"))
        return out
    if size != len(leaves) or frontier != built:
        out.problems.append(LogProblem(min(size, len(leaves)), f"the log's head says {size} "
                                       f"entries, the rows hold {len(leaves)}"))
        return out
    for head in heads:
        out.tree_heads += 1
        try:
            head.check(root)
        except TreeHeadProblem as exc:
            out.problems.append(LogProblem(None, f"tree head of size {head.tree_size}: {exc}"))
            return out
        if head.tree_size > len(leaves):
            out.problems.append(LogProblem(len(leaves), f"the tree head of size "
                                           f"{head.tree_size} covers entries that are gone"))
            return out
        if roots.get(head.tree_size) != head.root_hash:
            out.problems.append(LogProblem(None, f"tree head of size {head.tree_size}: its "
                                           "root hash is not the tree of the entries"))
            return out
    if hmac is not None:
        bad = _first_bad_mac(hmac, leaves, macs, covered)
        out.macs_checked = covered
        if bad is not None:
            out.problems.append(LogProblem(bad, "its HMAC (made in the HSM when a tree head "
                                           "first covered it) does not match: changed"))
    return out


def _first_bad_mac(hmac: Hmac, leaves: list[bytes], macs: dict[int, bytes],
                   upto: int) -> int | None:
    for index in range(upto):
        if index >= len(leaves):
            return index
        mac = macs.get(index)
        if mac is None or mac != leaf_mac(hmac, index, leaves[index]):
            return index
    return None


def check_saved(db: Database, saved: SignedTreeHead, root: x509.Certificate,
                hmac: Hmac | None) -> LogProblem | None:
    """None when the log still holds what ``saved`` covered; else the problem, naming the
    first changed leaf when the HMACs can (``hmac`` given)."""
    try:
        saved.check(root)
    except TreeHeadProblem as exc:
        return LogProblem(None, f"the saved tree head: {exc}")
    leaves: list[bytes] = []
    with db.reading() as s:
        for _seq, entry, _ in log_store.leaf_rows(s, 0, saved.tree_size - 1):
            leaves.append(merkle.leaf_hash(entry if entry is not None else b"\xff"))
        macs = log_store.macs(s, 0, saved.tree_size) if hmac is not None else {}
    if len(leaves) == saved.tree_size and merkle.root_of(leaves) == saved.root_hash:
        return None
    if hmac is not None:
        bad = _first_bad_mac(hmac, leaves, macs, saved.tree_size)
        if bad is not None:
            return LogProblem(bad, f"not what the saved tree head of size {saved.tree_size} "
                              "covered (its HMAC does not match: deleted, edited or moved)")
    if len(leaves) < saved.tree_size:
        return LogProblem(len(leaves), f"missing: the saved tree head covered "
                          f"{saved.tree_size} entries, the log holds {len(leaves)}")
    return LogProblem(None, f"the first {saved.tree_size} entries are not what the saved "
                      "tree head covered (without the HSM the changed one cannot be named)")
