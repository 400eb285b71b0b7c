"""Each front built with only what it uses (issue 13, "Narrow interfaces instead of one
context"): the composition holds the ``CaContext``; OCSP gets a status store and the responder's
key, the TSA its own key, the signing API the seal key and a TSA client; the web and the RA API
the registration authority (which reaches the CA's issuing key only through ``IssuingCa``) and
a read-only view of the store. Each builder checks the keys it hands out at start-up (a
certificate for another key is refused, KeyMismatch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from flask import Flask
from pyhanko.sign.timestamps import TimeStamper
from sqlalchemy.exc import SQLAlchemyError

from ca.context import KEY_PROFILES, CaContext
from ca.errors import HsmUnavailable, KeyMismatch
from ca.issuing_cas import IssuingCas, IssuingKeys
from ca.ocsp_cache import node_mirror
from ca.ocsp_signer import OcspSigner
from ca.policy import load_tsa_policy
from ca.quotas import QuotaGuard, Quotas
from ca.rolekeys import SERVICE_PROFILES, CertifiedKey, ServiceGenerations
from ca.seal_journal import SealJournal
from ca.services import (
    IssuingCa,
    OcspServices,
    ReadOnlyStore,
    ResponderKeys,
    ResponseStore,
    RoleKey,
    ScopedKeys,
)
from ca.transparency import AUDIT_ROLE, HMAC_ROLE, HeadSigner, LogReader, LogSchedule
from enrollment_web.ra_api import create_ra_api
from enrollment_web.web import WebSettings, create_enrollment_app
from ocsp.app import OcspApp
from ra.apikeys import ApiKeys
from ra.authority import RegistrationAuthority
from ra.settings import RaSettings
from signing.config import SigningConfig
from signing.seal import SealRegistry
from signing.timestamping import AuthorityTimeStamper, http_timestamper
from signing.trust import TrustInputs, TrustStore
from signing.web import SigningServices, create_app
from transparency.app import TransparencyApp
from tsa.app import TsaApp
from tsa.authority import TimeStampAuthority
from tsa.request import request_for_digest

LOG_REQUESTER = "in-process:transparency"

__all__ = ["role_key", "ocsp_services", "ocsp_app", "time_stamp_authority", "tsa_app",
           "in_process_timestamper", "trust_store", "seal_registry", "signing_services",
           "signing_app", "log_timestamp", "head_signer", "log_reader",
           "transparency_app", "issuing_ca", "registration_authority", "read_only_store",
           "enrollment_app", "ra_api"]


def role_key(ctx: CaContext, role: str, scope: str = "") -> RoleKey | CertifiedKey:
    """The role's key, checked now (KeyMismatch): a service's follows its active generation; a
    CA's (or the log's) has one certificate. A key of its own for each front: it holds an HSM
    narrowed to its role and, for a service, the store's view of generations; nothing else of
    the context."""
    if role in SERVICE_PROFILES:
        key = RoleKey(role, ctx.hsm, ServiceGenerations(ctx.db), scope)
    else:
        key = CertifiedKey(role, ctx.certificate_of(KEY_PROFILES[role]), ctx.hsm)
    key.check()
    return key


def _issuing_chain(ctx: CaContext) -> list:
    """Every issuing-CA generation, the active one first, then the root: a service certificate
    issued before an issuing-CA ceremony keeps its issuer until its own rollover, and a
    relying party picks the one its certificate names from this bag (RFC 5652 §5.1)."""
    active = ctx.certificate_of("issuing-ca")
    others = [c for c in ctx.issuing_cas.certificates().values() if c is not active]
    return [active, *reversed(others), ctx.certificate_of("root-ca")]


# -- OCSP ---------------------------------------------------------------------------------------

def ocsp_services(ctx: CaContext) -> OcspServices:
    """Built in each worker, which reads the CA certificates now: a worker that had answered
    nothing when the database went away still knows which CAs a CertID names, and answers from
    its mirror like the others."""
    cas = IssuingCas(ctx.db)
    with contextlib.suppress(SQLAlchemyError):  # away now: read on the first request instead
        cas.certificates()
    keys = ResponderKeys(ctx.certificate_of("root-ca"), cas, role_key(ctx, "ocsp"), ctx.clock)
    return OcspServices(OcspSigner(keys), ResponseStore(ctx.db, node_mirror(ctx)), ctx.clock)


def ocsp_app(ctx: CaContext) -> OcspApp:
    return OcspApp(ocsp_services(ctx))


# -- TSA ----------------------------------------------------------------------------------------

def time_stamp_authority(ctx: CaContext) -> TimeStampAuthority:
    """The home's TSA; its policy is checked here, so a bad ``[tsa]`` table fails at start."""
    intermediates = _issuing_chain(ctx)[:-1]
    return TimeStampAuthority(ctx.db, load_tsa_policy(ctx.settings), role_key(ctx, "tsa"),
                              intermediates, ctx.clock)


def tsa_app(ctx: CaContext, authority: TimeStampAuthority | None = None) -> TsaApp:
    return TsaApp(authority or time_stamp_authority(ctx), ApiKeys(ctx.db, ctx.clock))


def in_process_timestamper(ctx: CaContext) -> AuthorityTimeStamper:
    """The home's TSA in this process, behind pyHanko's ``TimeStamper``."""
    return AuthorityTimeStamper(time_stamp_authority(ctx))


# -- transparency log -----------------------------------------------------------------------------

def log_timestamp(ctx: CaContext, authority: TimeStampAuthority | None = None
                  ) -> Callable[[bytes], bytes]:
    """SHA-256 digest -> an RFC 3161 token (DER) from the home's TSA core, in this process."""
    authority = authority or time_stamp_authority(ctx)

    def stamp(digest: bytes) -> bytes:
        return authority.issue(request_for_digest("sha256", digest), LOG_REQUESTER).der

    return stamp


def head_signer(ctx: CaContext) -> HeadSigner:
    """The jobs process's signer of tree heads: the ``audit`` key, the HSM's HMAC key and the
    TSA, checked now (KeyMismatch)."""
    audit = role_key(ctx, AUDIT_ROLE)
    hsm = ctx.hsm.only(HMAC_ROLE)
    return HeadSigner(ctx.db, ctx.clock, audit.pair, lambda d: hsm.hmac_sha256(HMAC_ROLE, d),
                      log_timestamp(ctx), LogSchedule.load(ctx.settings))


def log_reader(ctx: CaContext) -> LogReader:
    return LogReader(ctx.db)


def transparency_app(ctx: CaContext) -> TransparencyApp:
    return TransparencyApp(log_reader(ctx))


# -- signing ------------------------------------------------------------------------------------

def trust_store(ctx: CaContext, config: SigningConfig | None = None) -> TrustStore:
    inputs = TrustInputs(ctx.certificate_of("root-ca"), ctx.certificate_of("issuing-ca"),
                         ctx.settings.home, ctx.settings.public_url, ctx.clock)
    if config is None:
        return TrustStore(inputs)
    return TrustStore(inputs, config.trust_anchors, config.fetching)


def seal_registry(ctx: CaContext, config: SigningConfig | None = None) -> SealRegistry:
    """The region's seal, checked now, and the JSTs' own, found as their keys ask for them."""
    config = config or SigningConfig.load(ctx.settings)
    return SealRegistry(role_key(ctx, "seal"), tuple(_issuing_chain(ctx)),
                        ScopedKeys("seal", ctx.hsm, ServiceGenerations(ctx.db)),
                        config.region_seal_stands_in)


def _timestamper(ctx: CaContext, config: SigningConfig) -> TimeStamper:
    if config.timestamper == "in-process":
        return in_process_timestamper(ctx)
    return http_timestamper(config.tsa_url or ctx.urls.tsa)


def signing_services(ctx: CaContext, config: SigningConfig | None = None,
                     timestamper: TimeStamper | None = None) -> SigningServices:
    """``timestamper``: any pyHanko TimeStamper; default per ``[signing] timestamper``."""
    config = config or SigningConfig.load(ctx.settings)
    seals = seal_registry(ctx, config)  # a seal certificate for another key is refused first
    return SigningServices(config, seals, timestamper or _timestamper(ctx, config),
                           trust_store(ctx, config), ApiKeys(ctx.db, ctx.clock),
                           SealJournal(ctx.db, ctx.clock),
                           QuotaGuard(ctx.db, Quotas.load(ctx.settings), ctx.clock), ctx.clock)


def signing_app(ctx: CaContext, config: SigningConfig | None = None,
                timestamper: TimeStamper | None = None, fetch_revocation: bool = True) -> Flask:
    return create_app(signing_services(ctx, config, timestamper), fetch_revocation)


# -- the registration authority, the web and the RA API -----------------------------------------

def issuing_ca(ctx: CaContext) -> IssuingCa:
    """The CA as the RA reaches it: the issuing CA's keys (every generation: the active one
    issues, each signs its own CRLs and OCSP answers) and the OCSP responder's (pre-signed
    responses), the CA certificates; never the root's key. The active generation's key is
    checked now (KeyMismatch)."""
    certificates = {"root-ca": ctx.certificate_of("root-ca")}
    issuing = IssuingKeys(ctx.hsm, IssuingCas(ctx.db))
    try:
        issuing.active()
    except KeyMismatch:  # a kind of HsmUnavailable, but not one to wait out
        raise
    except HsmUnavailable:  # left to its first use and to /healthz, as for every key
        pass
    return IssuingCa(ctx.db, ctx.profiles, ctx.clock, ctx.urls, ctx.settings.crl_dir,
                     certificates, {"ocsp": role_key(ctx, "ocsp")}, issuing,
                     ctx.people, ctx.fields, ctx.ceremony_policy)


def registration_authority(ctx: CaContext, ca: IssuingCa | None = None) -> RegistrationAuthority:
    return RegistrationAuthority(ctx.db, ctx.clock, ctx.profiles, ca or issuing_ca(ctx),
                                 ctx.people, ctx.fields, RaSettings.load(ctx.settings))


def read_only_store(ctx: CaContext) -> ReadOnlyStore:
    return ReadOnlyStore(ctx.db, ctx.clock, ctx.profiles, ctx.people, ctx.fields)


def enrollment_app(ctx: CaContext, ra: RegistrationAuthority | None = None, **config) -> Flask:
    """The web pages; ``config`` overrides Flask settings (tests: limiters, WEB_SETTINGS)."""
    return create_enrollment_app(ra or registration_authority(ctx), read_only_store(ctx),
                                 config.pop("WEB_SETTINGS", None) or WebSettings(ctx.settings),
                                 **config)


def ra_api(ctx: CaContext, ra: RegistrationAuthority | None = None) -> Flask:
    return create_ra_api(ra or registration_authority(ctx), read_only_store(ctx),
                         ApiKeys(ctx.db, ctx.clock))
