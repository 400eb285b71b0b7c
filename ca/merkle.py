"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0) §2.1: hashes, audit paths and
consistency proofs, over any source of subtree hashes.

Appending is incremental: the log keeps its *frontier*, the roots of the perfect subtrees the
leaves so far split into (one per set bit of the tree size, largest first), so an append hashes
O(log n) nodes and reports the nodes it completed, which the store keeps for proofs. A proof
asks ``subtree(start, end)`` for O(log n) hashes, each a stored node or a few combined.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = ["EMPTY_ROOT", "leaf_hash", "node_hash", "append", "root_of_frontier", "root_of",
           "inclusion_path", "consistency_proof", "verify_inclusion", "verify_consistency",
           "Subtree", "ranges_of"]

EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() (RFC 9162 §2.1.1)

# subtree(start, end) -> MTH(D[start:end]); start is aligned to a power of two
Subtree = Callable[[int, int], bytes]


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = HASH(0x00 || d)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || MTH(left) || MTH(right))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1), as RFC 9162 §2.1.1 splits."""
    return 1 << ((n - 1).bit_length() - 1)


def ranges_of(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``[start, end)`` a tree of ``size`` leaves splits into, largest
    first: the frontier's positions."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((start, start + (1 << level)))
            start += 1 << level
    return out


def append(frontier: Sequence[bytes], size: int, leaves: Sequence[bytes]
           ) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append leaf hashes to a tree of ``size`` leaves with ``frontier``; returns the new
    frontier and the interior nodes completed, as ``(level, index, hash)`` (the node covering
    leaves ``[index << level, (index + 1) << level)``)."""
    stack = list(frontier)
    completed: list[tuple[int, int, bytes]] = []
    for leaf in leaves:
        h, level, index = leaf, 0, size
        # the trailing set bits of size are the subtrees this leaf completes, smallest first
        while index & 1:
            h = node_hash(stack.pop(), h)
            level, index = level + 1, index >> 1
            completed.append((level, index, h))
        stack.append(h)
        size += 1
    return stack, completed


def root_of_frontier(frontier: Sequence[bytes]) -> bytes:
    """MTH of the whole tree: the frontier folded from the right (RFC 9162's right-heavy
    split makes the last subtrees the deepest)."""
    if not frontier:
        return EMPTY_ROOT
    h = frontier[-1]
    for left in reversed(frontier[:-1]):
        h = node_hash(left, h)
    return h


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, by appending them all (a full recompute, for verifiers)."""
    return root_of_frontier(append([], 0, leaves)[0])


def _mth(subtree: Subtree, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned, from the perfect subtrees."""
    n = end - start
    if n & (n - 1) == 0:
        return subtree(start, end)
    k = _split(n)
    return node_hash(subtree(start, start + k), _mth(subtree, start + k, end))


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf-to-root order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_mth(subtree, start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    return list(reversed(path))


def consistency_proof(first: int, second: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (SUBPROOF with b = true)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    out: list[bytes] = []

    def sub(m: int, start: int, end: int, b: bool) -> None:
        n = end - start
        if m == n:
            if not b:
                out.append(_mth(subtree, start, end))
            return
        k = _split(n)
        if m <= k:
            sub(m, start, start + k, b)
            out.append(_mth(subtree, start + k, end))
        else:
            sub(m - k, start + k, end, False)
            out.append(subtree(start, start + k))

    sub(first, 0, second, True)
    return out


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes],
                     root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, for a leaf hash."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
