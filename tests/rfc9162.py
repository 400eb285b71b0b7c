"""RFC 9162's Merkle tree written again from the RFC's text, for the tests only: the judge of
ca/merkle.py and of the log's proofs. Deliberately naive (recursive MTH over all the leaves,
no frontier, no stored nodes) and sharing no code with the project."""

from __future__ import annotations

import base64
import hashlib
import json


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(entries: list[bytes]) -> bytes:
    """§2.1.1: MTH over the entries themselves (not their leaf hashes)."""
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + entries[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:]))


def path(m: int, entries: list[bytes]) -> list[bytes]:
    """§2.1.3.1 PATH(m, D[n])."""
    n = len(entries)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, entries[:k]) + [mth(entries[k:])]
    return path(m - k, entries[k:]) + [mth(entries[:k])]


def proof(m: int, entries: list[bytes]) -> list[bytes]:
    """§2.1.4.1 PROOF(m, D[n])."""
    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]
    return subproof(m, entries, True)


def root_from_inclusion(leaf_index: int, tree_size: int, entry: bytes,
                        audit_path: list[bytes]) -> bytes | None:
    """§2.1.3.2: the root an inclusion proof leads to, or None when it is malformed."""
    if leaf_index >= tree_size:
        return None
    fn, sn, r = leaf_index, tree_size - 1, sha256(b"\x00" + entry)
    for p in audit_path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            r = sha256(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    return r if sn == 0 else None


def consistent(first: int, second: int, first_hash: bytes, second_hash: bytes,
               consistency_path: list[bytes]) -> bool:
    """§2.1.4.2."""
    if first == second:
        return consistency_path == [] and first_hash == second_hash
    if not consistency_path:
        return False
    p = list(consistency_path)
    if first & (first - 1) == 0:
        p = [first_hash] + p
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = p[0]
    for c in p[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            sr = sha256(b"\x01" + sr + c)
        fn //= 2
        sn //= 2
    return sn == 0 and fr == first_hash and sr == second_hash


def proves_certificate(proof: dict, der: bytes) -> bool:
    """What RegCA's ``proof`` JSON (the web's download, the RA API, ``/transparency/v1/proof``)
    shows: its entry names this certificate, and the audit path leads from that entry to the
    signed tree head's root (§2.1.3.2)."""
    leaf = base64.b64decode(proof["leaf"])
    if json.loads(leaf)["details"]["certificate_sha256"] != hashlib.sha256(der).hexdigest():
        return False
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    root = root_from_inclusion(proof["leaf_index"], proof["tree_size"], leaf, path)
    return root == base64.b64decode(proof["sth"]["root_hash"])
