"""The append-only audit log: one row per event, each chained to the one before by SHA-256.

``verify`` re-walks the chain and names the first row that was edited, deleted or moved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GENESIS", "Event", "ChainProblem", "chain_hash", "canonical", "unsequenced",
           "sequenced"]

GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    """Who did what to which object, and how it ended."""

    actor: str
    action: str
    object: str
    outcome: str = "success"
    details: dict[str, Any] = field(default_factory=dict)
    organization_teryt: str | None = None


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    message: str

    def __str__(self) -> str:
        return f"audit row {self.seq}: {self.message}"


def canonical(seq: int, at: dt.datetime, event: Event) -> str:
    """The exact text a row's hash covers (sorted keys, no whitespace, UTC microseconds)."""
    return sequenced(unsequenced(at, event), seq)


def unsequenced(at: dt.datetime, event: Event) -> str:
    """``canonical`` but for the sequence number, which only the chain's head can give: an
    appender prepares this before it takes the head's lock. "seq" sorts after every other key,
    so it is the text's end, left open here."""
    return json.dumps({
        "at": at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "object": event.object,
        "outcome": event.outcome,
        "details": event.details,
        "organization_teryt": event.organization_teryt,
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)[:-1]


def sequenced(text: str, seq: int) -> str:
    """Close an ``unsequenced`` text with its sequence number."""
    return f'{text},"seq":{seq}}}'


def chain_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()
