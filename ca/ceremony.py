"""Root ceremonies: the only code that uses the offline root key after ``regca init``.

The root's token has no PIN in the home or in the service's environment (``offline = true`` in
``[hsm.tokens.root]``); a ceremony command receives the PIN from the operator, opens a context
with it (``CaContext.with_root_pin``), signs what must last until the next ceremony, records an
audit event, and ends its session on the token. What lasts how long is policy
(``policies/ceremonies.toml``, quoted by the CP/CPS): the root CRL and the pre-signed OCSP
answers about the certificates the root issued stay valid for the interval between ceremonies
plus a margin. The background jobs never touch the root (regca/scheduler.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography import x509

from ca.audit import Event
from ca.context import CaContext
from ca.crl import CrlPublisher, PublishedCrl, crl_path
from ca.issuing_rollover import NewIssuingCa, roll_issuing_ca
from ca.ocsp_cache import ResponseCache
from ca.ocsp_signer import PRESIGNED
from ca.store import ocsp as ocsp_store

__all__ = ["RootCeremony", "RootCeremonyDue", "next_root_ceremony", "root_ceremony", "ROOT"]

ROOT = "root"


@dataclass(frozen=True)
class RootCeremonyDue:
    """When the next root ceremony must be held, from what the last one published."""

    due: dt.datetime  # the earliest nextUpdate the root signed, less the policy's margin
    crl_next_update: dt.datetime | None  # of the published root CRL (None: none published)
    ocsp_next_update: dt.datetime | None  # the earliest of the root's pre-signed answers
    ocsp_missing: int  # certificates of the root with no pre-signed answer (due at once)

    def overdue(self, now: dt.datetime) -> bool:
        return now >= self.due


def next_root_ceremony(ctx: CaContext) -> RootCeremonyDue:
    """For ``regca status`` and the operator: the date of the next root ceremony. It is due
    ``margin`` before the first of the root CRL and the root's OCSP answers runs out, and at
    once when one of them is missing."""
    policy = ctx.ceremony_policy
    try:
        crl = x509.load_der_x509_crl(crl_path(ctx.settings.crl_dir, ROOT, False).read_bytes())
        crl_next = crl.next_update_utc
    except (OSError, ValueError):
        crl_next = None
    with ctx.db.reading() as s:
        missing, ocsp_next = ocsp_store.presigned_until(s, ROOT, PRESIGNED[ROOT])
    ends = [t for t in (crl_next, ocsp_next) if t is not None]
    if crl_next is None or missing or not ends:
        due = ctx.now()
    else:
        due = min(ends) - policy.margin
    return RootCeremonyDue(due, crl_next, ocsp_next, missing)


class RootCeremony:
    """What a root ceremony signs, with a context that holds the root's PIN."""

    def __init__(self, ctx: CaContext, actor: str):
        self.ctx, self.actor = ctx, actor
        self.done: list[str] = []

    def sign_crl(self) -> PublishedCrl:
        """The root's complete CRL and its (empty) delta, valid until past the next ceremony."""
        crl = CrlPublisher(self.ctx).publish(ROOT)
        self.done.append(f"crl #{crl.number}")
        return crl

    def sign_issuing_ca(self) -> NewIssuingCa:
        """A new issuing CA (ca/issuing_rollover.py): its key, its certificate signed by the
        root, active from now on; its OCSP responder's certificate with it."""
        made = roll_issuing_ca(self.ctx, self.actor)
        self.done.append(f"issuing-ca {made.name} {made.serial} (retired {made.previous})")
        return made

    def presign_ocsp(self) -> int:
        """Fresh answers, for every CertID hash, about every certificate the root issued (the
        issuing CAs), valid until past the next ceremony."""
        count = ResponseCache(self.ctx).refresh(issuers=[ROOT], force=True)[ROOT]
        self.done.append(f"ocsp {count}")
        return count


@contextlib.contextmanager
def root_ceremony(ctx: CaContext, pin: str, actor: str) -> Iterator[RootCeremony]:
    """Log into the root's token with ``pin``, yield the ceremony, and record it: an audit
    event ``root.ceremony`` whether it succeeded or not (a wrong PIN included), then end the
    process's session on the token."""
    ceremony_ctx = ctx.with_root_pin(pin)
    ceremony = RootCeremony(ceremony_ctx, actor)
    outcome, reason = "success", None
    try:
        ceremony_ctx.key_pair(ROOT)  # the log-in, and the key checked against its certificate
        yield ceremony
    except Exception as exc:
        outcome, reason = "failure", str(exc) or type(exc).__name__
        raise
    finally:
        ceremony_ctx.hsm.close_token(ctx.settings.hsm.key(ROOT).token)
        ctx.forget_cached()
        details = {"operations": ceremony.done}
        if reason:
            details["error"] = reason
        else:
            details["next_due"] = next_root_ceremony(ctx).due.isoformat()
        with ctx.db.transaction() as s:
            ctx.audit(s, Event(actor=actor, action="root.ceremony", object="ca:root",
                               outcome=outcome, details=details))
