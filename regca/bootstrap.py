"""``regca init``: a home, its HSM tokens and keys, the CA hierarchy and service certificates.

Keys are generated inside the tokens; no CA, OCSP, TSA or seal private key is ever a file.
Refuses to touch a home (or a database) that already holds a PKI.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ca.audit import Event
from ca.ceremony import RootCeremony, next_root_ceremony, root_ceremony
from ca.certbuilder import CertificateSpec
from ca.clock import Clock
from ca.config import HSM_CONFIG_DIR, write_settings, write_softhsm_conf
from ca.context import CaContext
from ca.errors import AlreadyInitialised, ConfigurationError
from ca.field_crypto import KEK_ROLE, new_data_key
from ca.issuance import Issuer
from ca.issuing_rollover import COMMON_NAME
from ca.names import seal_name, service_name
from ca.rollover import record_generation
from ca.store.models import Certificate
from ra.organizations import add_organization
from ra.users import create_user

__all__ = ["InitOptions", "InitReport", "initialise", "DEMO_REGION", "DEMO_JST",
           "add_transparency_log", "record_data_key"]

# A demo voivodeship (Lubuskie) and a handful of its JST. TERYT codes follow TERC; the NIP and
# REGON numbers are synthetic but pass their check digits.
DEMO_REGION = {"teryt": "0800000", "name": "Województwo Lubuskie", "nip": "9731000002",
               "regon": "970000003"}
DEMO_JST = [
    {"teryt": "0862011", "name": "Gmina Miasto Zielona Góra", "nip": "9291004928",
     "regon": "080000012"},
    {"teryt": "0861011", "name": "Gmina Miasto Gorzów Wielkopolski", "nip": "5991000014",
     "regon": "080000029"},
    {"teryt": "0809000", "name": "Powiat Zielonogórski", "nip": "9281000024",
     "regon": "080000035"},
    {"teryt": "0809052", "name": "Gmina Świdnica", "nip": "9261000038", "regon": "080000041"},
    {"teryt": "0802011", "name": "Gmina Miejska Gubin", "nip": "9731000048",
     "regon": "080000058"},
]
_SERVICE_CERTS = (("ocsp", "ocsp-responder", "RegCA OCSP Responder"),
                  ("tsa", "tsa", "RegCA Time-Stamping Unit"))


@dataclass(frozen=True)
class InitOptions:
    home: Path
    public_url: str = "http://127.0.0.1:8080"
    demo: bool = False
    operator_name: str = "RegCA"
    operator_nip: str | None = None
    database_url: str | None = None  # written to regca.toml; default SQLite in the home
    key_algorithms: dict[str, str] = field(default_factory=dict)  # role -> e.g. "rsa-3072"
    # The offline root token's user PIN (the operator's REGCA_ROOT_PIN); None: a new one is
    # made for the embedded SoftHSM2 and handed back once in the report, never stored.
    root_pin: str | None = field(default=None, repr=False)


@dataclass
class InitReport:
    home: Path
    serials: dict[str, str] = field(default_factory=dict)
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)  # user -> (role, password)
    # PINs of the offline root token made here: shown to the operator once, kept nowhere.
    root_pin: str | None = field(default=None, repr=False)
    root_so_pin: str | None = field(default=None, repr=False)
    next_root_ceremony: str | None = None


def _write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


def _prepare_home(opts: InitOptions) -> None:
    """Write regca.toml, the SoftHSM2 configuration and the demo PIN files."""
    home = opts.home
    home.mkdir(parents=True, exist_ok=True)
    (home / "crl").mkdir(exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    hsm_dir = home / "hsm"
    hsm_dir.mkdir(exist_ok=True)
    if (home / "regca.toml").exists():
        return  # the operator wrote the configuration first (e.g. other key algorithms)
    hsm = tomllib.loads((HSM_CONFIG_DIR / "pkcs11.toml").read_text())
    hsm["softhsm_conf"] = "hsm/softhsm2.conf"
    for name, token in hsm["tokens"].items():
        if not token.get("offline"):  # the root's PIN is never in the home
            token["pin_file"] = f"hsm/{name}.pin"
    for role, algorithm in opts.key_algorithms.items():
        if role not in hsm["keys"]:
            raise ConfigurationError(f"key_algorithms: no key role {role!r}")
        hsm["keys"][role]["algorithm"] = algorithm
    operator = ({"name": DEMO_REGION["name"], "nip": DEMO_REGION["nip"],
                 "teryt": DEMO_REGION["teryt"]} if opts.demo
                else {"name": opts.operator_name, "nip": opts.operator_nip})
    write_settings(home / "regca.toml", {"public_url": opts.public_url.rstrip("/"),
                                         "database_url": opts.database_url}, operator, hsm)


def _create_tokens(ctx: CaContext, report: InitReport) -> None:
    """The embedded SoftHSM2's tokens; the online ones' PINs in 0600 files of the home, the
    offline root's only in the report."""
    hsm_cfg = ctx.settings.hsm
    if hsm_cfg.softhsm_conf is not None:
        write_softhsm_conf(hsm_cfg.softhsm_conf, hsm_cfg.softhsm_conf.parent / "tokens")
    if not hsm_cfg.create_tokens:
        return
    so_pins = {}
    for name, token in hsm_cfg.tokens.items():
        so_pins[name] = secrets.token_hex(8)
        if token.offline:
            report.root_so_pin = so_pins[name]
            continue
        if token.pin_file and not token.pin_file.exists():
            _write_secret(token.pin_file, secrets.token_hex(8))
        _write_secret(ctx.settings.home / "hsm" / f"{name}.so-pin", so_pins[name])
    ctx.hsm.create_softhsm_tokens(so_pins)


def _root_pin(ctx: CaContext, opts: InitOptions, report: InitReport) -> str:
    if opts.root_pin:
        return opts.root_pin
    if not ctx.settings.hsm.create_tokens:
        raise ConfigurationError("the root token's PIN: set REGCA_ROOT_PIN (the token exists "
                                 "in the HSM already)")
    report.root_pin = secrets.token_hex(8)
    return report.root_pin


def _refuse_if_initialised(ctx: CaContext) -> None:
    if ctx.settings.initialised_marker.exists():
        raise AlreadyInitialised(f"{ctx.settings.home} is already initialised; "
                                 "refusing to overwrite it")
    ctx.db.migrate()
    with ctx.db.reading() as s:
        if s.query(Certificate).first() is not None:
            raise AlreadyInitialised(f"database {ctx.db.safe_url} already holds a PKI; "
                                     "refusing to overwrite it")


def _issue_hierarchy(ctx: CaContext, report: InitReport) -> None:
    issuer = Issuer(ctx)
    profiles, op = ctx.profiles, ctx.operator
    hsm = ctx.hsm
    root_key = hsm.private_key("root", None)  # no certificate to match yet: it is made here
    root = issuer.issue_spec(
        CertificateSpec(profiles.get("root-ca"), service_name("RegCA Root CA", op),
                        root_key.public_key()),
        None, "init", self_key=root_key)
    report.serials["root"] = root.serial
    if "audit" in ctx.settings.hsm.keys:  # absent from a regca.toml written before it existed
        report.serials["audit"] = issuer.issue_spec(
            CertificateSpec(profiles.get("audit-log"),
                            service_name("RegCA Transparency Log", op), hsm.public_key("audit")),
            ctx.authority("root"), "init").serial
    issuing_ca = issuer.issue_spec(
        CertificateSpec(profiles.get("issuing-ca"), service_name(COMMON_NAME, op),
                        hsm.public_key("issuing")),
        ctx.authority("root"), "init")
    report.serials["issuing"] = issuing_ca.serial
    # Generation 1 of the issuing CA; an issuing-CA ceremony adds the next (ca/issuing_cas.py).
    record_generation(ctx, "issuing", "", 1, issuing_ca, "init")
    issuing = ctx.issuing_authority()
    services = {}
    for role, profile, cn in _SERVICE_CERTS:
        services[role] = issuer.issue_spec(
            CertificateSpec(profiles.get(profile), service_name(cn, op), hsm.public_key(role)),
            issuing, "init")
    services["seal"] = issuer.issue_spec(
        CertificateSpec(profiles.get("seal"), seal_name(op, strict=False),
                        hsm.public_key("seal")),
        issuing, "init", op.teryt)
    for role, issued in services.items():
        record_generation(ctx, role, "", 1, issued, "init")
        report.serials[role] = issued.serial


def _add_demo(ctx: CaContext, report: InitReport) -> None:
    for org in [DEMO_REGION, *DEMO_JST]:
        add_organization(ctx, org["teryt"], org["name"], org["nip"], org["regon"], actor="init")
    for username, role, orgs in (("admin", "administrator", []),
                                 ("urzednik", "officer", [DEMO_JST[0]["teryt"]]),
                                 ("audytor", "auditor", [])):
        password = secrets.token_urlsafe(12)
        create_user(ctx, username, password, role, orgs, actor="init")
        report.logins[username] = (role, password)
    lines = [f"{u}\t{role}\t{pw}" for u, (role, pw) in report.logins.items()]
    _write_secret(ctx.settings.home / "demo-logins.txt", "\n".join(lines))


def initialise(opts: InitOptions, clock: Clock | None = None) -> InitReport:
    home = opts.home.resolve()
    if (home / ".initialised").exists():
        raise AlreadyInitialised(f"{home} is already initialised; refusing to overwrite it")
    _prepare_home(dataclasses.replace(opts, home=home))
    ctx = CaContext.open(home, clock)
    _refuse_if_initialised(ctx)
    report = InitReport(home)
    # `regca init` is the first root ceremony: it alone, in this process, holds the root's PIN.
    online = ctx
    ctx = online.with_root_pin(_root_pin(online, opts, report))
    try:
        _initialise(ctx, opts, report)
    finally:
        ctx.hsm.close_token(ctx.settings.hsm.key("root").token)
    report.next_root_ceremony = next_root_ceremony(online).due.date().isoformat()
    with online.db.transaction() as s:
        online.audit(s, Event(actor="init", action="root.ceremony", object="ca:root",
                              details={"operations": ["issuing-ca", "crl", "ocsp"],
                                       "next_due": report.next_root_ceremony}))
    online.settings.initialised_marker.write_text("initialised\n")
    return report


def _initialise(ctx: CaContext, opts: InitOptions, report: InitReport) -> None:
    home = ctx.settings.home
    _create_tokens(ctx, report)
    for role, key in ctx.settings.hsm.keys.items():
        ctx.hsm.generate_key(role)
        with ctx.db.transaction() as s:
            ctx.audit(s, Event(actor="init", action="key.generate", object=f"key:{role}",
                               details={"label": key.label, "algorithm": key.algorithm,
                                        "token": ctx.settings.hsm.tokens[key.token].label}))
    if KEK_ROLE in ctx.settings.hsm.keys:
        record_data_key(ctx, "init")
    if opts.demo:
        _add_demo(ctx, report)
    _issue_hierarchy(ctx, report)
    # The root's CRL and its OCSP answers (about itself and the issuing CA), valid until past
    # the next ceremony.
    ceremony = RootCeremony(ctx, "init")
    ceremony.sign_crl()
    ceremony.presign_ocsp()
    with ctx.db.transaction() as s:
        ctx.audit(s, Event(actor="init", action="pki.init", object=f"home:{home.name}",
                           details={"public_url": ctx.settings.public_url, "demo": opts.demo,
                                    "certificates": report.serials}))
    if "audit" in report.serials:
        from regca.roles import head_signer  # the TSA's code: only init and the jobs need it
        head_signer(ctx).sign()  # the first tree head, so /transparency/v1/sth answers at once


def record_data_key(ctx: CaContext, actor: str) -> int:
    """A new data key for the fields kept encrypted, wrapped by the HSM's key-encryption key
    and stored (ca/field_crypto.py); audited. Its id."""
    key_id = new_data_key(ctx.db, ctx.hsm, ctx.settings.hsm.keys, ctx.now())
    with ctx.db.transaction() as s:
        ctx.audit(s, Event(actor=actor, action="key.data_key", object=f"data_key:{key_id}",
                           details={"wrapped_by": ctx.settings.hsm.key(KEK_ROLE).label,
                                    "mechanism": "CKM_AES_KEY_WRAP_PAD"}))
    return key_id


LOG_ROLES = ("audit", "hmac")  # the transparency log's keys (hsm-config/pkcs11.toml)


def add_transparency_log(home: Path, root_pin: str, clock: Clock | None = None) -> str:
    """For a home made before the transparency log: add its two keys to regca.toml (as
    hsm-config/pkcs11.toml ships them), generate them in the HSM, have the root certify the
    ``audit`` key and sign the first tree head. Returns the new certificate's serial. Needs
    the root token's PIN, as ``regca init`` does; refuses a home that has the log already."""
    home = home.resolve()
    ctx = CaContext.open(home, clock)
    if all(role in ctx.settings.hsm.keys for role in LOG_ROLES):
        raise AlreadyInitialised(f"{home} has the transparency log's keys already")
    shipped = tomllib.loads((HSM_CONFIG_DIR / "pkcs11.toml").read_text())["keys"]
    missing = [role for role in LOG_ROLES if role not in ctx.settings.hsm.keys]
    for role in missing:
        if shipped[role]["token"] not in ctx.settings.hsm.tokens:
            raise ConfigurationError(f"hsm.tokens.{shipped[role]['token']}: needed for the "
                                     f"{role} key, not configured in this home")
    text = "".join(f'\n[hsm.keys.{role}]\n' + "".join(
        f'{k} = "{v}"\n' for k, v in shipped[role].items()) for role in missing)
    ctx.settings.config_file.write_text(ctx.settings.config_file.read_text() + text)
    ctx = CaContext.open(home, clock)
    for role in missing:
        ctx.hsm.generate_key(role)
        key = ctx.settings.hsm.keys[role]
        with ctx.db.transaction() as s:
            ctx.audit(s, Event(actor="operator", action="key.generate", object=f"key:{role}",
                               details={"label": key.label, "algorithm": key.algorithm,
                                        "token": ctx.settings.hsm.tokens[key.token].label}))
    with root_ceremony(ctx, root_pin, "operator:init-log") as ceremony:
        root = ceremony.ctx
        serial = Issuer(root).issue_spec(
            CertificateSpec(root.profiles.get("audit-log"),
                            service_name("RegCA Transparency Log", root.operator),
                            root.hsm.public_key("audit")),
            root.authority("root"), "operator").serial
        ceremony.done.append("audit-log")
    from regca.roles import head_signer
    head_signer(ctx).sign()
    return serial
