"""Double submission made harmless: each web form carries an idempotency key, and the first
submission with a key acts while any later one finds its result (issue 18: a reloaded
"Wniosek zapisany" recorded a second enrolment, a reloaded "Wydano" issued twice).

The key is claimed in its own transaction before the form's action runs, so a second request
arriving while the first still works waits for it instead of acting too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ca.errors import Conflict
from ca.store import submissions as store
from ra.authority import Reader, RegistrationAuthority

__all__ = ["Submission", "claim", "complete", "release", "earlier", "KEEP"]

KEEP = dt.timedelta(days=1)  # how long a form's result can be replayed


@dataclass(frozen=True)
class Submission:
    key: str
    actor: str
    created_at: dt.datetime
    result: str | None  # where the first submission led; None while it is still working
    payload: str | None


def _view(row) -> Submission:
    return Submission(row.key, row.actor, row.created_at, row.result, row.payload)


def claim(ra: RegistrationAuthority, key: str, actor: str) -> Submission | None:
    """None: this is the first submission with ``key``, act on it. Otherwise the earlier one
    (done or still working). A key some other person submitted is refused."""
    now = ra.now()
    with ra.db.transaction() as s:
        store.prune(s, now - KEEP)
        row = store.claim(s, key, actor, now)
        found = _view(row) if row is not None else None
    if found is not None and found.actor != actor:
        raise Conflict("this form was submitted by someone else")
    return found


def complete(ra: RegistrationAuthority, key: str, result: str, payload: str | None) -> None:
    with ra.db.transaction() as s:
        store.complete(s, key, result, payload)


def release(ra: RegistrationAuthority, key: str) -> None:
    with ra.db.transaction() as s:
        store.release(s, key)


def earlier(ra: Reader, key: str, actor: str) -> Submission | None:
    """The submission with ``key`` if this actor made it and it is still kept."""
    with ra.reading() as s:
        row = store.get(s, key)
        found = _view(row) if row is not None else None
    if found is None or found.actor != actor or found.created_at < ra.now() - KEEP:
        return None
    return found
