"""A JST's own e-seal: a key in the HSM and a certificate from the ``seal`` profile naming that
JST (C, O, organizationIdentifier ``VATPL-<NIP>``, CN: ETSI EN 319 412-3 §4.2), recorded as
generation 1 of the ``seal`` service with the JST's TERYT as its scope.

From then on it is an ordinary service generation (ca/rollover.py): ``regca rollover seal
--org TERYT`` makes the next one, and every worker's seal registry picks the active one up
within ``ca.rolekeys.RECHECK`` seconds, without a restart (signing/seal.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from ca.certbuilder import CertificateSpec
from ca.context import CaContext
from ca.errors import Conflict, InvalidSubject
from ca.identity import validate_teryt
from ca.issuance import Issuer
from ca.names import seal_name
from ca.rolekeys import SERVICE_PROFILES
from ca.rollover import generation_key, record_generation
from ca.store import organizations as org_store
from ca.store import service_certificates as generations_store

__all__ = ["JstSeal", "create_seal"]

ROLE = "seal"


@dataclass(frozen=True)
class JstSeal:
    teryt: str
    serial: str
    certificate: x509.Certificate
    key_label: str


def create_seal(ctx: CaContext, teryt: str, actor: str = "operator:cli") -> JstSeal:
    """The first seal of JST ``teryt``; refused (Conflict) when it has one (roll that over)."""
    teryt = validate_teryt(teryt, "org")
    with ctx.db.reading() as s:
        org = org_store.get(s, teryt)
        existing = generations_store.active(s, ROLE, teryt)
    if org is None:
        raise InvalidSubject("org", f"no JST with TERYT {teryt} is served by this home")
    if existing is not None:
        raise Conflict(f"JST {teryt} already has a seal (certificate {existing.serial}); "
                       f"`regca rollover seal --org {teryt}` makes a new one")
    name = seal_name(org, strict=True)  # refuses a JST without a NIP, naming the field
    # Step 1: the key, in the seal's token (or the one an interrupted attempt left there).
    key = ctx.hsm.config.key(ROLE).generation(1, teryt)
    public = generation_key(ctx, ROLE, key, teryt, 1, actor)
    # Step 2: the certificate from the seal profile, issued by the issuing CA for that JST.
    spec = CertificateSpec(ctx.profiles.get(SERVICE_PROFILES[ROLE]), name, public)
    issued = Issuer(ctx).issue_spec(spec, ctx.issuing_authority(), actor, teryt)
    # Step 3: generation 1 of the JST's seal, active from its commit on (audited).
    record_generation(ctx, ROLE, teryt, 1, issued, actor, key)
    return JstSeal(teryt, issued.serial, issued.certificate, key.label)
