"""The transparency log: signing tree heads (the jobs process) and reading proofs (the
``/transparency/v1`` front, the RA API).

The log's leaves are the audit rows (ca/store/audit.py appends both in one go); a tree head is
signed every ``every_entries`` new leaves or ``every_seconds`` (README, "The audit log").
Before signing, the signer recomputes each new leaf from its row and keeps an HMAC of it made
in the HSM, so a later check can name the first leaf that changed even when whoever changed it
recomputed every hash.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from ca import merkle
from ca.clock import Clock
from ca.config import Settings
from ca.errors import ConfigurationError, Malformed, NotFound, RegCAError
from ca.personal_data import HMAC_ROLE
from ca.serials import parse_serial
from ca.store import transparency as log_store
from ca.store.db import Database
from ca.store.models import TreeHead
from ca.tree_head import SignedTreeHead, ms_of, signature_of, tree_head_data

__all__ = ["LogSchedule", "HeadSigner", "LogReader", "leaf_mac", "InclusionProof",
           "HMAC_ROLE", "AUDIT_ROLE"]

AUDIT_ROLE = "audit"
MAX_ENTRIES = 1000  # per /entries request


def leaf_mac(hmac: Callable[[bytes], bytes], index: int, leaf: bytes) -> bytes:
    """The HMAC kept for leaf ``index`` (domain-separated from the PESEL keyed hash)."""
    return hmac(b"regca-log-leaf\x00" + struct.pack(">Q", index) + leaf)


@dataclass(frozen=True)
class LogSchedule:
    """``[transparency]`` of regca.toml: sign a head once this many leaves are new, or once
    the last head is this old. The contract's maximum merge delay is 60 s."""

    every_entries: int = 10000
    every_seconds: float = 60.0

    @classmethod
    def load(cls, settings: Settings) -> LogSchedule:
        try:
            raw = tomllib.loads(settings.config_file.read_text()).get("transparency", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"{settings.config_file}: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigurationError("transparency: expected a table")
        try:
            s = cls(int(raw.get("every_entries", 10000)),
                    float(raw.get("every_seconds", 60)))
        except (TypeError, ValueError):
            raise ConfigurationError("transparency: every_entries and every_seconds must be "
                                     "numbers") from None
        if s.every_entries < 1 or not 1 <= s.every_seconds <= 60:
            raise ConfigurationError("transparency: every_entries must be at least 1 and "
                                     "every_seconds between 1 and 60 (the maximum merge "
                                     "delay)")
        return s


class HeadSigner:
    """Signs the log's head with the ``audit`` key and has it time-stamped by the home's TSA.

    ``key_pair``: the audit certificate and its HSM key; ``hmac``: HMAC-SHA-256 with the HSM's
    secret key; ``timestamp``: SHA-256 digest -> RFC 3161 token (DER).
    """

    def __init__(self, db: Database, clock: Clock, key_pair: Callable[[], tuple],
                 hmac: Callable[[bytes], bytes], timestamp: Callable[[bytes], bytes],
                 schedule: LogSchedule = LogSchedule()):
        self.db, self.clock, self.schedule = db, clock, schedule
        self._key_pair, self._hmac, self._timestamp = key_pair, hmac, timestamp

    def due(self, margin: float = 0.0) -> bool:
        """New leaves, and enough of them or the last head old enough (``margin`` earlier:
        the caller's polling interval, so no leaf waits past ``every_seconds``)."""
        with self.db.reading() as s:
            size, _ = log_store.head(s)
            last = log_store.latest_tree_head(s)
        if last is None:
            return True
        if size <= last.tree_size:
            return False
        age = (ms_of(self.clock.now()) - last.timestamp_ms) / 1000
        return (size - last.tree_size >= self.schedule.every_entries
                or age >= self.schedule.every_seconds - margin)

    def sign(self) -> SignedTreeHead | None:
        """Sign the current head unless the latest signed head already has this size."""
        with self.db.reading() as s:
            size, frontier = log_store.head(s)
            last = log_store.latest_tree_head(s)
            first_new = log_store.mac_count(s)
            new = [(seq - 1, entry, stored) for seq, entry, stored
                   in log_store.leaf_rows(s, first_new, size - 1)]
        if last is not None and last.tree_size >= size:
            return None
        # Step 1: the new leaves as their rows are now, HMACed in the HSM.
        macs = []
        for index, entry, stored in new:
            leaf = merkle.leaf_hash(entry) if entry is not None else None
            if leaf is None or leaf.hex() != stored:
                raise RegCAError(f"audit log entry {index} does not match its leaf hash; "
                                 "not signing (run regca audit verify)")
            macs.append((index, leaf_mac(self._hmac, index, leaf)))
        # Step 2: sign the head, then time-stamp the signed bytes.
        certificate, key = self._key_pair()
        root = merkle.root_of_frontier(frontier)
        at = ms_of(self.clock.now())
        data = tree_head_data(at, size, root)
        signature = signature_of(key, data)
        token = self._timestamp(hashlib.sha256(data).digest())
        head = SignedTreeHead(size, at, root, signature, certificate, token)
        # Step 3: keep both; a head of that size signed meanwhile by another process wins.
        with self.db.transaction() as s:
            if log_store.tree_head(s, size) is not None:
                return None
            log_store.add_tree_head(s, _row_of(head), macs)
        return head


def _row_of(head: SignedTreeHead) -> TreeHead:
    from cryptography.hazmat.primitives.serialization import Encoding
    return TreeHead(tree_size=head.tree_size, timestamp_ms=head.timestamp_ms,
                    root_hash=head.root_hash.hex(), signature=head.signature,
                    certificate=head.certificate.public_bytes(Encoding.DER),
                    timestamp_token=head.timestamp_token)


def head_of(row: TreeHead) -> SignedTreeHead:
    return SignedTreeHead(row.tree_size, row.timestamp_ms, bytes.fromhex(row.root_hash),
                          row.signature, x509.load_der_x509_certificate(row.certificate),
                          row.timestamp_token)


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf: bytes
    audit_path: list[bytes]
    sth: SignedTreeHead

    def to_json(self) -> dict:
        b64 = base64.b64encode
        return {"leaf_index": self.leaf_index, "tree_size": self.tree_size,
                "leaf": b64(self.leaf).decode(),
                "audit_path": [b64(h).decode() for h in self.audit_path],
                "sth": self.sth.to_json()}


class LogReader:
    """What a front may read of the log: signed heads, proofs and entries; no key, no write.
    Errors are core kinds (NotFound, Malformed), mapped to HTTP by the front."""

    def __init__(self, db: Database):
        self._db = db

    def latest(self) -> SignedTreeHead:
        with self._db.reading() as s:
            row = log_store.latest_tree_head(s)
        if row is None:
            raise NotFound("no tree head has been signed yet")
        return head_of(row)

    def inclusion(self, serial: str) -> InclusionProof:
        """The proof that the latest signed head covers the issuance of ``serial``."""
        try:
            serial = parse_serial(serial)
        except ValueError as exc:
            raise Malformed(str(exc)) from None
        with self._db.reading() as s:
            index = log_store.issue_index(s, serial)
            if index is None:
                raise NotFound(f"no issuance of certificate {serial} in the log")
            row = log_store.latest_tree_head(s)
            if row is None or row.tree_size <= index:
                raise NotFound(f"the issuance of {serial} is not in a signed tree head yet "
                               "(the maximum merge delay is 60 s)")
            path = merkle.inclusion_path(index, row.tree_size,
                                         lambda a, b: log_store.subtree_hash(s, a, b))
            [(_, leaf)] = log_store.entries(s, index, index)
        return InclusionProof(index, row.tree_size, leaf, path, head_of(row))

    def consistency(self, first: int, second: int) -> list[bytes]:
        with self._db.reading() as s:
            size, _ = log_store.head(s)
            if not 0 < first <= second <= size:
                raise Malformed(f"need 0 < first <= second <= {size} (the log's size)")
            return merkle.consistency_proof(first, second,
                                            lambda a, b: log_store.subtree_hash(s, a, b))

    def entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        with self._db.reading() as s:
            size, _ = log_store.head(s)
            if not 0 <= start <= end < size:
                raise Malformed(f"need 0 <= start <= end < {size} (the log's size)")
            end = min(end, start + MAX_ENTRIES - 1)
            return log_store.entries(s, start, end)
