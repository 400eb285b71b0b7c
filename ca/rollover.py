"""Service certificate rollover: a new generation of a service's key and certificate.

The mechanism is generic over a service *role* (``ocsp``, ``tsa``, ``seal``: the keys of
``SERVICE_PROFILES``) and a *scope*: empty for the centre's own service, a JST's TERYT for a
service of that JST (its own seal). Each (role, scope) has numbered generations; generation
``n`` has its own HSM key (label and CKA_ID from ``KeyConfig.generation``), its own certificate
(from the role's profile, the subject of the generation before) and its row in the store
(``service_certificates``), exactly one of them active. To add a service of a JST, issue its
first certificate and ``record_generation(ctx, role, teryt, 1, issued, actor)``; ``roll_over``
and the workers' ``RoleKey`` (ca/rolekeys.py) then work for it unchanged.

Earlier generations are never deleted: their certificates stay published (``regca export-ca``,
``/ca/<role>-g<n>.crt``) so that responses, tokens and seals they made can still be validated.
The OCSP responder's certificate is short-lived and renewed by the jobs process once it is past
``RENEW_AT`` of its life (``renew_due``); the TSA's and the seals' are renewed by command, and
``regca status`` warns ahead of their end.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.exc import IntegrityError

from ca.audit import Event
from ca.certbuilder import CertificateSpec
from ca.config import KeyConfig
from ca.context import CaContext
from ca.errors import ConfigurationError, Conflict, NotFound
from ca.issuance import IssuedCertificate, Issuer
from ca.rolekeys import SERVICE_PROFILES, key_of
from ca.store import certificates as cert_store
from ca.store import service_certificates as generations_store
from ca.store.service_certificates import Generation

__all__ = ["RolledOver", "roll_over", "record_generation", "generation_key", "renewal_due",
           "renew_due", "published", "published_name", "AUTO_RENEWED", "RENEW_AT"]

log = logging.getLogger(__name__)

# Renewed by the jobs process, unattended: the OCSP responder, whose certificate is short-lived
# (policies/profiles/ocsp-responder.toml) and carries id-pkix-ocsp-nocheck, so that a
# compromised one is only trusted until its near end (RFC 6960 §4.2.2.2.1).
AUTO_RENEWED = ("ocsp",)
# The share of a certificate's life after which the jobs process renews it: its last quarter
# is the margin for a jobs process that was down, or an HSM that was away, for a while.
RENEW_AT = 0.75


@dataclass(frozen=True)
class RolledOver:
    role: str
    scope: str
    generation: int
    serial: str
    certificate: x509.Certificate
    key_label: str
    previous_serial: str


def _object(role: str, scope: str) -> str:
    return f"service:{role}:{scope}" if scope else f"service:{role}"


def record_generation(ctx: CaContext, role: str, scope: str, generation: int,
                      issued: IssuedCertificate, actor: str, key: KeyConfig | None = None,
                      previous_serial: str | None = None) -> None:
    """Make ``issued`` (certifying ``key``, default the generation's derived key) the active
    generation of ``role``/``scope``, audited (``service.activate``)."""
    key = key or ctx.hsm.config.key(role).generation(generation, scope)
    details = {"generation": generation, "serial": issued.serial, "key_label": key.label,
               "key_id": key.id.hex(), "previous_serial": previous_serial}
    try:
        with ctx.db.transaction() as s:
            generations_store.activate(
                s, role, scope, generation, issued.serial, key.label, key.id.hex(),
                issued.certificate.not_valid_after_utc,
                Event(actor=actor, action="service.activate", object=_object(role, scope),
                      organization_teryt=scope or None, details=details), ctx.now())
    except IntegrityError:
        raise Conflict(f"another rollover of {role} recorded generation {generation} first; "
                       f"certificate {issued.serial} stays unused") from None


def generation_key(ctx: CaContext, role: str, key: KeyConfig, scope: str, generation: int,
                   actor: str):
    """The public key of generation ``generation``'s ``key``: generated in the token now
    (audited, ``key.generate``), or found there when an interrupted attempt left it."""
    hsm = ctx.hsm.with_key(role, key)
    if hsm.has_key(role):
        log.warning("%s: reusing key %r left by an interrupted attempt", role, key.label)
        return hsm.public_key(role)
    public = hsm.generate_key(role)
    with ctx.db.transaction() as s:
        ctx.audit(s, Event(actor=actor, action="key.generate", object=f"key:{role}",
                           organization_teryt=scope or None,
                           details={"label": key.label, "id": key.id.hex(),
                                    "algorithm": key.algorithm, "generation": generation,
                                    "token": ctx.settings.hsm.tokens[key.token].label}))
    return public


def roll_over(ctx: CaContext, role: str, scope: str = "", actor: str = "operator:cli"
              ) -> RolledOver:
    """A new key in the HSM and a new certificate for ``role`` (of JST ``scope``), active from
    its commit on; every worker follows within ``ca.rolekeys.RECHECK`` seconds.

    Steps in this order, each a point a crash may stop at: a key left without a certificate is
    found and used by the next attempt; a certificate issued but not recorded is harmless (it
    certifies a key only this HSM holds, and signs nothing).
    """
    if role not in SERVICE_PROFILES:
        raise ConfigurationError(f"no service {role!r} to roll over "
                                 f"(one of {', '.join(SERVICE_PROFILES)})")
    with ctx.db.reading() as s:
        current = generations_store.active(s, role, scope)
        generation = generations_store.next_generation(s, role, scope)
        row = cert_store.get(s, current.serial) if current else None
    if current is None or row is None:
        raise NotFound(f"no {role} for JST {scope}" if scope else
                       f"no active {role} certificate to roll over (is the home initialised?)")
    key = ctx.hsm.config.key(role).generation(generation, scope)
    if key.label == key_of(ctx.hsm, current).label:
        raise ConfigurationError(f"hsm.keys.{role}: generation {generation} would reuse the "
                                 f"key label {key.label!r}")
    # Step 1: the key, generated in the token (or found there, left by an interrupted attempt).
    public = generation_key(ctx, role, key, scope, generation, actor)

    # Step 2: its certificate, from the role's profile, named as the generation before.
    previous = x509.load_der_x509_certificate(current.der)
    spec = CertificateSpec(ctx.profiles.get(SERVICE_PROFILES[role]), previous.subject, public)
    issued = Issuer(ctx).issue_spec(spec, ctx.issuing_authority(), actor,
                                    row.organization_teryt)

    # Step 3: the new generation becomes the active one.
    record_generation(ctx, role, scope, generation, issued, actor, key, current.serial)
    ctx.forget_cached()  # this process follows at once; the others within RECHECK seconds
    return RolledOver(role, scope, generation, issued.serial, issued.certificate, key.label,
                      current.serial)


def published_name(generation: Generation) -> str:
    """The name an earlier or current generation's certificate is published under:
    ``<role>[-<teryt>]-g<n>`` (``regca export-ca`` adds ``.pem``, ``/ca/`` serves ``.crt``)."""
    scope = f"-{generation.scope}" if generation.scope else ""
    return f"{generation.role}{scope}-g{generation.generation}"


def published(ctx: CaContext) -> dict[str, bytes]:
    """Every generation of every service certificate, by ``published_name``, as DER."""
    with ctx.db.reading() as s:
        return {published_name(g): g.der for g in generations_store.generations(s)}


def renewal_due(certificate: x509.Certificate, now: dt.datetime,
                share: float = RENEW_AT) -> bool:
    """Past ``share`` of its life (notBefore to notAfter)."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return now >= start + (end - start) * share


def renew_due(ctx: CaContext, roles: tuple[str, ...] = AUTO_RENEWED) -> list[RolledOver]:
    """The jobs process's round: roll over each centre service of ``roles`` whose active
    certificate is past ``RENEW_AT`` of its life."""
    done = []
    for role in roles:
        with ctx.db.reading() as s:
            current = generations_store.active(s, role)
        if current is None:
            continue
        if renewal_due(x509.load_der_x509_certificate(current.der), ctx.now()):
            rolled = roll_over(ctx, role, actor="system:renewal")
            log.warning("renewed the %s certificate: generation %d, serial %s", role,
                        rolled.generation, rolled.serial)
            done.append(rolled)
    return done
