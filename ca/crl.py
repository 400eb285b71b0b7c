"""CRLs (RFC 5280 §5): a complete CRL and a delta CRL per CA, numbered from one sequence,
published in the database and, on each node, as files under the home's ``crl/`` directory that
``/crl/`` serves (the files also serve while the database is away).

The whole revoked list goes to cryptography's builder at once: adding entries one call at a
time copies the list each time and is quadratic (DESIGN.md, "OCSP and CRL at scale").
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.audit import Event
from ca.certbuilder import signature_hash
from ca.context import CaContext
from ca.errors import ConfigurationError, HsmUnavailable, RegCAError
from ca.issuing_cas import generation_of
from ca.store import crl as crl_store

__all__ = ["CrlPublisher", "PublishedCopy", "PublishedCrl", "FULL_VALIDITY", "DELTA_VALIDITY",
           "crl_path", "publish_after_revocation"]

log = logging.getLogger(__name__)

# nextUpdate - thisUpdate. A complete CRL is re-issued daily and a delta hourly and on every
# revocation (the scheduler in `regca serve`); each stays valid well past its successor.
FULL_VALIDITY = dt.timedelta(days=2)
DELTA_VALIDITY = dt.timedelta(hours=6)
FULL_INTERVAL = dt.timedelta(days=1)
DELTA_INTERVAL = dt.timedelta(hours=1)


def crl_path(crl_dir: Path, ca: str, delta: bool) -> Path:
    return crl_dir / (f"{ca}-delta.crl" if delta else f"{ca}.crl")


@dataclass(frozen=True)
class PublishedCrl:
    ca: str
    delta: bool
    number: int
    entries: int
    path: Path
    size: int


# One shared Extension object per reason: 100,000 entries need not build 100,000 of them.
_REASON_EXTENSIONS = {
    flag.value: x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(flag))
    for flag in x509.ReasonFlags if flag is not x509.ReasonFlags.unspecified}


def _naive_utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _entry(serial: str, revoked_at: dt.datetime, reason: str | None,
           invalidity: dt.datetime | None) -> x509.RevokedCertificate:
    # RFC 5280 §5.3.1: reasonCode unspecified SHOULD be absent; abandoned rows carry none.
    extensions = [_REASON_EXTENSIONS[reason]] if reason and reason != "unspecified" else []
    if invalidity is not None:  # RFC 5280 §5.3.2
        extensions.append(x509.Extension(x509.InvalidityDate.oid, False,
                                         x509.InvalidityDate(_naive_utc(invalidity))))
    # The builder's constructor takes what its setters would check and convert: serials from
    # the store (positive, under 160 bits) and naive UTC dates. It is twice as fast as the
    # setters for 100,000 entries (0.32 s against 0.73 s, measured).
    return x509.RevokedCertificateBuilder(int(serial, 16), _naive_utc(revoked_at),
                                          extensions).build()


class CrlPublisher:
    def __init__(self, ctx: CaContext):
        self.ctx = ctx

    def _aki(self, issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)

    def _validity(self, ca: str, delta: bool) -> dt.timedelta:
        """The offline root's CRLs (and its empty delta) last until past its next ceremony
        (policies/ceremonies.toml); an online CA's are re-issued by the scheduler."""
        if ca not in self.ctx.online_cas():
            return self.ctx.ceremony_policy.validity
        return DELTA_VALIDITY if delta else FULL_VALIDITY

    def publish(self, ca: str, delta: bool = False) -> PublishedCrl:
        """Generate, sign and publish a complete (or delta) CRL of ``ca`` now.

        A complete CRL is followed by an empty delta on the new base, so the delta URL never
        serves one based on an older complete CRL; a delta with no base yet starts with one.
        """
        if ca != "root" and generation_of(ca) is None:
            raise RegCAError(f"unknown CA {ca!r}")
        if delta:
            with self.ctx.db.reading() as s:
                has_base = crl_store.peek(s, ca).base_number is not None
            if has_base:
                return self.publish_one(ca, delta=True)
        full = self.publish_one(ca, delta=False)
        latest_delta = self.publish_one(ca, delta=True)
        return latest_delta if delta else full

    def publish_one(self, ca: str, delta: bool) -> PublishedCrl:
        """Exactly one CRL (no delta after a complete one); `publish` is what callers want."""
        ctx = self.ctx
        issuer, key = ctx.key_pair(ca)
        # Step 1: the number, committed first so a crash leaves a gap, never a reuse.
        with ctx.db.transaction() as s:
            number = crl_store.next_number(s, ca)
            st = crl_store.state(s, ca)
            base_number, base_seq = st.base_number, st.base_change_seq
        now = ctx.now().replace(microsecond=0)
        # Step 2: the entries. For a complete CRL the change sequence is read first, so a
        # revocation racing the read is at worst listed again by the next delta.
        with ctx.db.reading() as s:
            if delta:
                seq, changed = crl_store.changes_since(s, ca, base_seq or 0)
                revoked = [_delta_entry(row) for row in changed]
            else:
                seq = crl_store.last_change_seq(s, ca)
                revoked = [_entry(*row) for row in crl_store.revoked_entries(s, ca)]
        # Step 3: build and sign with the whole list handed over at once.
        b = (x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
             .issuer_name(issuer.subject)
             .last_update(now)
             .next_update(now + self._validity(ca, delta))
             .add_extension(self._aki(issuer), critical=False)
             .add_extension(x509.CRLNumber(number), critical=False))
        if delta:
            # RFC 5280 §5.2.4: critical, naming the complete CRL this delta updates.
            b = b.add_extension(x509.DeltaCRLIndicator(base_number), critical=True)
        else:
            # RFC 5280 §5.2.6: where relying parties find the deltas of this complete CRL.
            b = b.add_extension(x509.FreshestCRL([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(ctx.urls.delta_crl(ca))], None, None, None)]),
                critical=False)
        der = b.sign(key, signature_hash(key)).public_bytes(Encoding.DER)
        # Step 4: publish in the database, with what the complete CRL covered: the bytes
        # every node serves (its jobs process copies them, PublishedCopy); then this node's
        # file at once, unless another node has meanwhile published a newer one.
        path = crl_path(ctx.settings.crl_dir, ca, delta)
        with ctx.db.transaction() as s:
            st = crl_store.state(s, ca, for_update=True)
            if delta:
                st.delta_this_update = now
            else:
                st.base_number, st.base_change_seq, st.full_this_update = number, seq, now
            newest = crl_store.save_published(s, ca, delta, number, now, der)
            ctx.audit(s, Event(actor="system", action="crl.publish", object=f"crl:{ca}",
                               details={"number": number, "delta": delta,
                                        "entries": len(revoked), "base": base_number}))
        if newest:
            _write_atomically(path, der)
        return PublishedCrl(ca, delta, number, len(revoked), path, len(der))

    def publish_due(self) -> list[PublishedCrl]:
        """What the scheduler runs: each online CA's complete CRL once a day (or when
        missing), its delta hourly. The offline root's are signed at its ceremonies only."""
        done = []
        now = self.ctx.now()
        for ca in self.ctx.online_cas():
            with self.ctx.db.reading() as s:
                st = crl_store.peek(s, ca)
                full_at, delta_at = st.full_this_update, st.delta_this_update
                kept = (ca, False) in crl_store.published_numbers(s)
            missing = not kept or not crl_path(self.ctx.settings.crl_dir, ca, False).exists()
            try:
                if missing or full_at is None or now - full_at >= FULL_INTERVAL:
                    done.append(self.publish(ca))
                elif delta_at is None or now - delta_at >= DELTA_INTERVAL:
                    done.append(self.publish(ca, delta=True))
            except (HsmUnavailable, ConfigurationError) as exc:
                log.warning("CRL of the %s CA not published: %s", ca, exc)
        return done


def _delta_entry(row: tuple) -> x509.RevokedCertificate:
    """A delta entry for a certificate whose state changed since the base (RFC 5280 §5.2.4):
    revoked ones as in a complete CRL, released holds with reason removeFromCRL (§5.3.1)."""
    serial, status, revoked_at, reason, invalidity, changed_at = row
    if status == "issued":
        return _entry(serial, changed_at, "removeFromCRL", None)
    return _entry(serial, revoked_at, reason if status == "revoked" else None, invalidity)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def publish_after_revocation(ctx: CaContext, ca: str) -> None:
    """A fresh delta CRL after a revocation (RFC 5280 §5.2.4). Best effort: the revocation is
    committed; if the HSM cannot sign now, the scheduler publishes on its next round."""
    try:
        CrlPublisher(ctx).publish(ca, delta=True)
    except (HsmUnavailable, ConfigurationError, OSError) as exc:
        log.warning("delta CRL of the %s CA not published after revocation: %s", ca, exc)


def _number_of(path: Path) -> int | None:
    try:
        crl = x509.load_der_x509_crl(path.read_bytes())
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None


class PublishedCopy:
    """This node's files of the CRLs published in the database, whichever node signed them:
    every node serves the same bytes. Run by each node's jobs process every second; a round
    with nothing new is one small read."""

    def __init__(self, ctx: CaContext):
        self.ctx = ctx
        self._have: dict[tuple[str, bool], int] = {}  # what this node's files hold

    def sync(self) -> list[tuple[str, bool]]:
        """Copy what changed; returns the ``(ca, delta)`` pairs written."""
        with self.ctx.db.reading() as s:
            numbers = crl_store.published_numbers(s)
        written = []
        for (ca, delta), number in numbers.items():
            if self._have.get((ca, delta)) == number:
                continue
            path = crl_path(self.ctx.settings.crl_dir, ca, delta)
            if _number_of(path) != number:  # not already written by a worker of this node
                with self.ctx.db.reading() as s:
                    kept = crl_store.published(s, ca, delta)
                if kept is None:
                    continue
                number, der = kept
                _write_atomically(path, der)
                written.append((ca, delta))
            self._have[(ca, delta)] = number
        return written
