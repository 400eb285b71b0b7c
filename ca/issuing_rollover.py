"""Issuing-CA rollover: a new generation of the issuing CA, signed by the root at a ceremony.

The writing half of ca/issuing_cas.py. Run with a context that holds the root's PIN
(``regca ceremony issuing-ca``, ca/ceremony.py). Why a new CA and not a longer certificate: a
certificate never outlives its issuer (ca/issuance.py clamps notAfter), so once the issuing CA
has less left than a subscriber profile's validity, it issues short certificates; a new key is
also the only remedy for a key that has signed for years. The CP/CPS (§5.6) sets the cadence.

After the switch the old generation is *retired*: it issues nothing more, while its key keeps
signing its CRLs and the OCSP answers about its certificates until its certificate ends, so
every chain it issued stays verifiable with its own CRL and OCSP answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.exc import IntegrityError

from ca.audit import Event
from ca.certbuilder import CertificateSpec
from ca.context import CaContext
from ca.crl import CrlPublisher
from ca.errors import ConfigurationError, Conflict
from ca.issuance import Issuer
from ca.issuing_cas import PROFILE, ROLE, ca_name
from ca.names import service_name
from ca.rollover import RolledOver, generation_key, roll_over
from ca.store import service_certificates as generations_store

__all__ = ["NewIssuingCa", "roll_issuing_ca", "COMMON_NAME"]

COMMON_NAME = "RegCA Issuing CA"  # regca init's; generation n adds " G<n>"


@dataclass(frozen=True)
class NewIssuingCa:
    name: str  # issuing-g<n>: in its certificates' URLs, its CRL's and its OCSP answers'
    generation: int
    serial: str
    certificate: x509.Certificate
    key_label: str
    previous: str  # the retired generation's CA name
    responder: RolledOver  # the OCSP responder's new certificate, issued by the new CA


def roll_issuing_ca(ctx: CaContext, actor: str) -> NewIssuingCa:
    """A new issuing CA, active from its commit on (every worker follows within
    ``ca.rolekeys.RECHECK`` seconds). ``ctx`` must hold the root's PIN.

    Steps in this order, each a point a crash may stop at: a key left without a certificate is
    found and used by the next attempt; a certificate issued but not recorded signs nothing (it
    certifies a key only this HSM holds) and stays in the store, listed by the root's OCSP.
    """
    if ctx.settings.hsm.offline(ROLE):
        raise ConfigurationError(f"hsm.keys.{ROLE}: the issuing CA's token is offline here")
    previous = ctx.issuing_cas.active()
    with ctx.db.reading() as s:
        generation = generations_store.next_generation(s, ROLE)
    name = ca_name(generation)
    key = ctx.hsm.config.key(ROLE).generation(generation)

    # Step 1: the key, generated in the issuing CA's token (or left there by an interrupted
    # attempt).
    public = generation_key(ctx, ROLE, key, "", generation, actor)

    # Step 2: its certificate, signed by the root, named apart from the generations before
    # (RFC 5280 §4.1.2.6: relying parties tell CAs apart by name before they look at keys).
    subject = service_name(f"{COMMON_NAME} G{generation}", ctx.operator)
    spec = CertificateSpec(ctx.profiles.get(PROFILE), subject, public)
    issued = Issuer(ctx).issue_spec(spec, ctx.authority("root"), actor)

    # Step 3: the new generation becomes the one that issues.
    details = {"generation": generation, "serial": issued.serial, "key_label": key.label,
               "key_id": key.id.hex(), "previous": ca_name(previous.generation),
               "previous_serial": previous.serial}
    try:
        with ctx.db.transaction() as s:
            generations_store.activate(
                s, ROLE, "", generation, issued.serial, key.label, key.id.hex(),
                issued.certificate.not_valid_after_utc,
                Event(actor=actor, action="ca.activate", object=f"ca:{name}", details=details),
                ctx.now())
    except IntegrityError:
        raise Conflict(f"another ceremony recorded issuing-CA generation {generation} first; "
                       f"certificate {issued.serial} stays unused") from None
    ctx.forget_cached()

    # Step 4: its first CRL (empty), so its distribution point answers from the start.
    CrlPublisher(ctx).publish(name)

    # Step 5: the OCSP responder's certificate from the new CA: a delegated responder answers
    # only for its issuer's certificates (RFC 6960 §4.2.2.2); the retired CA signs its own.
    responder = roll_over(ctx, "ocsp", actor=actor)
    return NewIssuingCa(name, generation, issued.serial, issued.certificate, key.label,
                        ca_name(previous.generation), responder)
