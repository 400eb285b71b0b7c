"""``regca``: the operator's command line (CONTRACT.md, "Command line").

Every command exits 0 on success and 1 with one line on stderr on any error the user can fix.

Operators script bulk issuance with it, so start-up counts: this module imports nothing beyond
the standard library and ``ca.errors``, and each command imports what it needs in its handler
(SQLAlchemy, the HSM and cryptography only where a command opens the home; Flask, pyHanko and
signxml only in the commands that use them). tests/test_cli_imports.py keeps it so;
bench/cli.py measures it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ca.errors import RegCAError

if TYPE_CHECKING:
    from ca.context import CaContext

__all__ = ["main", "build_parser"]


class UserError(Exception):
    """A mistake on the command line that is not a RegCAError (a missing file, say)."""

    exit_code = 1


class PartlyDone(UserError):
    """The command did part of its work (what it could is kept); exit 2 tells cron apart."""

    exit_code = 2


def _ctx(args) -> CaContext:
    from ca.context import CaContext
    return CaContext.open(args.home)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from None


def _pem(cert) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.PEM).decode()


# -- commands ------------------------------------------------------------------------------------

def cmd_init(args) -> None:
    from regca.bootstrap import InitOptions, initialise
    report = initialise(InitOptions(args.home, args.public_url, args.demo,
                                    args.operator_name, args.operator_nip))
    print(f"initialised {report.home}")
    for role, serial in report.serials.items():
        print(f"  {role:8} certificate {serial}")
    for user, (role, password) in report.logins.items():
        print(f"  demo log-in {user} ({role}): {password}")


def cmd_serve(args) -> None:
    from regca.server import serve
    serve(args.home, args.bind, args.workers, args.server)


def cmd_export_ca(args) -> None:
    ctx = _ctx(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"root.pem": "root-ca", "issuing.pem": "issuing-ca", "ocsp.pem": "ocsp-responder",
             "tsa.pem": "tsa", "seal.pem": "seal"}
    for name, profile in files.items():
        (out / name).write_text(_pem(ctx.certificate_of(profile)))
    (out / "chain.pem").write_text("".join(_pem(c) for c in ctx.chain()))
    print(f"wrote {', '.join([*files, 'chain.pem'])} to {out}")


def cmd_issue(args) -> None:
    from ca.issuance import IssuanceRequest, Issuer
    try:
        subject = json.loads(_read(args.subject))
    except ValueError as exc:
        raise UserError(f"{args.subject}: not JSON ({exc})") from None
    issued = Issuer(_ctx(args)).issue(IssuanceRequest(
        profile=args.profile, csr=_read(args.csr), subject=subject, actor="operator:cli"))
    if args.out:
        Path(args.out).write_text(_pem(issued.certificate))
    print(issued.serial)


def cmd_revoke(args) -> None:
    from ca.revocation import RevocationRequest, Revoker
    row = Revoker(_ctx(args)).revoke(RevocationRequest(args.serial, args.reason, "operator:cli"))
    print(f"{row.serial} {row.status}" + (f" ({row.revocation_reason})"
                                          if row.revocation_reason else ""))


def cmd_org_list(args) -> None:
    from ra.organizations import list_organizations
    for org in list_organizations(_ctx(args)):
        print("\t".join([org.teryt, org.name, org.nip or "-", org.regon or "-"]))


def cmd_org_add(args) -> None:
    from ra.organizations import add_organization
    org = add_organization(_ctx(args), args.teryt, args.name, args.nip, args.regon)
    print(f"{org.teryt}\t{org.name}")


def cmd_apikey_create(args) -> None:
    from ra.apikeys import create_api_key
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    print(create_api_key(_ctx(args), args.name, scopes, args.org))


def cmd_audit_verify(args) -> None:
    from ca.store.audit import verify_chain
    ctx = _ctx(args)
    with ctx.db.reading() as s:
        count, problems = verify_chain(s)
    if problems:
        raise UserError(f"audit log broken: {problems[0]}")
    print(f"audit log intact: {count} events")


def cmd_token_enroll(args) -> None:
    import os

    from ra.personalisation import LocalCa, PersonalisationRequest, personalise
    from ra.token import TokenRef
    from regca.remote_ca import RemoteCa
    try:
        subject = json.loads(_read(args.subject))
    except ValueError as exc:
        raise UserError(f"{args.subject}: not JSON ({exc})") from None
    conf = os.environ.get("SOFTHSM2_CONF")  # the caller's token store, read before the CA's HSM
    if args.ca_url:
        if not args.api_key:
            raise UserError("--ca-url needs --api-key (an API key of scope 'issue')")
        ca = RemoteCa(args.ca_url, args.api_key)
    else:
        ctx = _ctx(args)
        hsm = ctx.settings.hsm
        if conf is None and hsm.softhsm_conf and args.module == hsm.module:
            conf = str(hsm.softhsm_conf)  # no store of its own: the token is in the home's
        ca = LocalCa(ctx, "operator:cli")
    done = personalise(PersonalisationRequest(
        TokenRef(args.module, args.token_label, conf), args.pin, tuple(args.profile), subject),
        ca)
    for item in done:
        print(f"{item.issued.serial}\t{item.profile}\tid={item.key_id.hex()}\t"
              f"label={item.label}")


def cmd_crl(args) -> None:
    from ca.crl import CrlPublisher
    from ca.urls import CA_NAMES
    publisher = CrlPublisher(_ctx(args))
    for ca in [args.ca] if args.ca else CA_NAMES:
        crl = publisher.publish(ca, delta=args.delta)
        kind = "delta CRL" if crl.delta else "CRL"
        print(f"{ca} {kind} #{crl.number}: {crl.entries} entries, {crl.size} bytes, {crl.path}")


def cmd_ocsp_refresh(args) -> None:
    from ca.ocsp_cache import ResponseCache
    from ca.urls import CA_NAMES
    done = ResponseCache(_ctx(args)).refresh(issuers=[args.ca] if args.ca else CA_NAMES)
    for ca, count in done.items():
        print(f"{ca}: {count} OCSP responses signed")


def cmd_trust_refresh(args) -> None:
    from signing.trusted_lists import refresh
    ctx = _ctx(args)
    now = ctx.now()
    done = refresh(ctx.settings, now, args.lotl, [Path(p) for p in args.tl or ()])

    def when(value):
        if value is None:
            return "-"
        stale = " (past it: a newer list should exist)" if value < now else ""
        return value.strftime("%Y-%m-%dT%H:%MZ") + stale

    lotl = done.lotl
    print(f"LOTL\tsequence {lotl.sequence}\tissued {when(lotl.issued)}\t"
          f"next update {when(lotl.next_update)}")
    for item in sorted(done.loaded, key=lambda i: i.territory):
        print(f"{item.territory}\t{item.services} services\tnext update {when(item.next_update)}")
    for where, why in done.refused:
        print(f"regca: refused: {where}: {why}", file=sys.stderr)
    if done.refused:
        raise PartlyDone(f"{len(done.refused)} trusted list(s) refused and not stored; "
                         f"{len(done.loaded)} stored")


# -- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="regca", description="RegCA regional PKI")
    p.add_argument("--home", type=Path, default=None,
                   help="home directory (default: $REGCA_HOME or ./var/demo)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.set_defaults(fn=fn)
        return sp

    sp = add("init", cmd_init, "create HSM tokens and keys, the CA hierarchy and the schema")
    sp.add_argument("--demo", action="store_true", help="add a demo region, JST and log-ins")
    sp.add_argument("--public-url", default="http://127.0.0.1:8080",
                    help="base URL put into certificates (CRL, OCSP, caIssuers)")
    sp.add_argument("--operator-name", default="RegCA", help="organisation running the CA")
    sp.add_argument("--operator-nip", default=None, help="its NIP (organizationIdentifier)")

    sp = add("serve", cmd_serve, "serve every HTTP service (granian, or gunicorn)")
    sp.add_argument("--bind", default="127.0.0.1:8080")
    sp.add_argument("--workers", type=int, default=2)
    sp.add_argument("--server", choices=("granian", "gunicorn"), default="granian",
                    help="the HTTP server running the workers (default granian)")

    sp = add("export-ca", cmd_export_ca, "write the CA and service certificates as PEM")
    sp.add_argument("--out", required=True)

    sp = add("issue", cmd_issue, "issue a certificate from a CSR; prints the serial")
    sp.add_argument("--profile", required=True)
    sp.add_argument("--csr", required=True)
    sp.add_argument("--subject", required=True, help="SUBJ.json")
    sp.add_argument("--out")

    sp = add("revoke", cmd_revoke, "revoke a certificate")
    sp.add_argument("serial")
    sp.add_argument("--reason", required=True)

    sp = add("crl", cmd_crl, "generate and publish fresh CRLs now (complete, or --delta)")
    sp.add_argument("--delta", action="store_true", help="a delta CRL on the last complete one")
    sp.add_argument("--ca", choices=["root", "issuing"], help="only this CA (default: both)")

    ocsp = sub.add_parser("ocsp", help="OCSP responses").add_subparsers(
        dest="ocsp_command", required=True, metavar="ACTION")
    sp = ocsp.add_parser("refresh", help="pre-sign missing responses and those past half "
                                         "their validity (the root's need its token)")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--ca", choices=["root", "issuing"], help="only this CA (default: both)")
    sp.set_defaults(fn=cmd_ocsp_refresh)

    org = sub.add_parser("org", help="JST organisations").add_subparsers(
        dest="org_command", required=True, metavar="ACTION")
    for name, fn, help_ in (("list", cmd_org_list, "list JST"),
                            ("add", cmd_org_add, "add a JST")):
        sp = org.add_parser(name, help=help_)
        sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.set_defaults(fn=fn)
        if name == "add":
            sp.add_argument("--teryt", required=True)
            sp.add_argument("--name", required=True)
            sp.add_argument("--nip")
            sp.add_argument("--regon")

    apikey = sub.add_parser("apikey", help="API keys").add_subparsers(
        dest="apikey_command", required=True, metavar="ACTION")
    sp = apikey.add_parser("create", help="create an API key (printed once)")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--name", required=True)
    sp.add_argument("--scopes", required=True)
    sp.add_argument("--org", default=None, help="TERYT of the JST the key is bound to")
    sp.set_defaults(fn=cmd_apikey_create)

    token = sub.add_parser("token", help="subscriber tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION")
    sp = token.add_parser("enroll", help="key pair on a token, certificate issued, written back")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--module", required=True, help="the token's PKCS#11 library")
    sp.add_argument("--token-label", required=True)
    sp.add_argument("--pin", required=True, help="the token's user PIN")
    sp.add_argument("--profile", required=True, action="append",
                    help="certificate profile; repeat for a signing and an authentication key")
    sp.add_argument("--subject", required=True, help="SUBJ.json")
    sp.add_argument("--ca-url", default=None, help="the CA's base URL (RA API); default: "
                    "this home's CA in-process")
    sp.add_argument("--api-key", default=None, help="API key of scope 'issue' for --ca-url")
    sp.set_defaults(fn=cmd_token_enroll)

    trust = sub.add_parser("trust", help="EU trusted lists").add_subparsers(
        dest="trust_command", required=True, metavar="ACTION")
    sp = trust.add_parser("refresh", help="load the EU LOTL and the national lists it points "
                                          "to, check their signatures, keep them in the home")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--lotl", default=None, metavar="FILE_OR_URL",
                    help="the LOTL (default: regca.toml's lotl_url, else the EU's)")
    sp.add_argument("--tl", nargs="+", action="extend", metavar="FILE",
                    help="national lists to load instead of downloading them")
    sp.set_defaults(fn=cmd_trust_refresh)

    audit = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    sp = audit.add_parser("verify", help="re-check the whole audit chain")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.set_defaults(fn=cmd_audit_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and usage errors exit here
    from ca.config import default_home
    args.home = (args.home or default_home()).resolve()
    try:
        args.fn(args)
    except (RegCAError, UserError) as exc:
        print(f"regca: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
