"""Each front built with only what it uses (issue 13, "Narrow interfaces instead of one
context"): the composition holds the ``CaContext``; OCSP gets a status store and the responder's
key, the TSA its own key, the signing API the seal key and a TSA client. Each builder checks
the keys it hands out at start-up (a certificate for another key is refused, KeyMismatch).
"""

from __future__ import annotations

from flask import Flask
from pyhanko.sign.timestamps import TimeStamper

from ca.context import CA_PROFILES, KEY_PROFILES, CaContext
from ca.ocsp_cache import node_mirror
from ca.ocsp_signer import OcspSigner
from ca.policy import load_tsa_policy
from ca.services import OcspServices, ResponderKeys, ResponseStore, RoleKey
from ocsp.app import OcspApp
from ra.apikeys import ApiKeys
from signing.config import SigningConfig
from signing.seal import SealRegistry
from signing.timestamping import AuthorityTimeStamper, http_timestamper
from signing.trust import TrustInputs, TrustStore
from signing.web import SigningServices, create_app
from tsa.app import TsaApp
from tsa.authority import TimeStampAuthority

__all__ = ["role_key", "ocsp_services", "ocsp_app", "time_stamp_authority", "tsa_app",
           "in_process_timestamper", "trust_store", "seal_registry", "signing_services",
           "signing_app"]


def role_key(ctx: CaContext, role: str) -> RoleKey:
    """The role's key with its current certificate, checked now (KeyMismatch)."""
    key = RoleKey(role, ctx.certificate_of(KEY_PROFILES[role]), ctx.hsm)
    key.check()
    return key


# -- OCSP ---------------------------------------------------------------------------------------

def ocsp_services(ctx: CaContext) -> OcspServices:
    cas = {profile: ctx.certificate_of(profile) for profile in CA_PROFILES.values()}
    keys = ResponderKeys(cas, role_key(ctx, "ocsp"), ctx.clock)
    return OcspServices(OcspSigner(keys), ResponseStore(ctx.db, node_mirror(ctx)), ctx.clock)


def ocsp_app(ctx: CaContext) -> OcspApp:
    return OcspApp(ocsp_services(ctx))


# -- TSA ----------------------------------------------------------------------------------------

def time_stamp_authority(ctx: CaContext) -> TimeStampAuthority:
    """The home's TSA; its policy is checked here, so a bad ``[tsa]`` table fails at start."""
    intermediates = [c for c in ctx.chain() if c.issuer != c.subject]
    return TimeStampAuthority(ctx.db, load_tsa_policy(ctx.settings), role_key(ctx, "tsa"),
                              intermediates, ctx.clock)


def tsa_app(ctx: CaContext, authority: TimeStampAuthority | None = None) -> TsaApp:
    return TsaApp(authority or time_stamp_authority(ctx), ApiKeys(ctx.db))


def in_process_timestamper(ctx: CaContext) -> AuthorityTimeStamper:
    """The home's TSA in this process, behind pyHanko's ``TimeStamper``."""
    return AuthorityTimeStamper(time_stamp_authority(ctx))


# -- signing ------------------------------------------------------------------------------------

def trust_store(ctx: CaContext, config: SigningConfig | None = None) -> TrustStore:
    inputs = TrustInputs(ctx.certificate_of("root-ca"), ctx.certificate_of("issuing-ca"),
                         ctx.settings.home, ctx.settings.public_url, ctx.clock)
    if config is None:
        return TrustStore(inputs)
    return TrustStore(inputs, config.trust_anchors, config.fetching)


def seal_registry(ctx: CaContext) -> SealRegistry:
    return SealRegistry(role_key(ctx, "seal"), tuple(ctx.chain()))


def _timestamper(ctx: CaContext, config: SigningConfig) -> TimeStamper:
    if config.timestamper == "in-process":
        return in_process_timestamper(ctx)
    return http_timestamper(config.tsa_url or ctx.urls.tsa)


def signing_services(ctx: CaContext, config: SigningConfig | None = None,
                     timestamper: TimeStamper | None = None) -> SigningServices:
    """``timestamper``: any pyHanko TimeStamper; default per ``[signing] timestamper``."""
    seals = seal_registry(ctx)  # a seal certificate for another key is refused first
    config = config or SigningConfig.load(ctx.settings)
    return SigningServices(config, seals, timestamper or _timestamper(ctx, config),
                           trust_store(ctx, config), ApiKeys(ctx.db), ctx.clock)


def signing_app(ctx: CaContext, config: SigningConfig | None = None,
                timestamper: TimeStamper | None = None, fetch_revocation: bool = True) -> Flask:
    return create_app(signing_services(ctx, config, timestamper), fetch_revocation)
