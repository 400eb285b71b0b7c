"""``regca``: the operator's command line (CONTRACT.md, "Command line").

Every command exits 0 on success and 1 with one line on stderr on any error the user can fix.

Operators script bulk issuance with it, so start-up counts: this module imports nothing beyond
the standard library and ``ca.errors``, and each command imports what it needs in its handler
(SQLAlchemy, the HSM and cryptography only where a command opens the home; Flask, pyHanko and
signxml only in the commands that use them). tests/test_cli_imports.py keeps it so;
bench/cli.py measures it. Run as the program, ``main`` closes the homes a command opened, then
leaves the objects loaded to the process's end rather than to the exit's collection, and
``issue`` runs without the garbage collector (``_BRIEF``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
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
    """The home, opened for this command; ``main`` closes it when the command ends."""
    from ca.context import CaContext
    ctx = CaContext.open(args.home)
    args.opened.append(ctx)
    return ctx


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from None


def _pem(cert) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.PEM).decode()


# -- commands ------------------------------------------------------------------------------------

ROOT_PIN_ENV = "REGCA_ROOT_PIN"


def _root_pin() -> str:
    """The root token's PIN from the operator: $REGCA_ROOT_PIN (automation) or a prompt;
    never an argument, which ``ps`` and shell histories would show."""
    import getpass
    import os
    pin = os.environ.get(ROOT_PIN_ENV)
    if pin:
        return pin
    if not sys.stdin.isatty():
        raise UserError(f"the root token's PIN: set {ROOT_PIN_ENV} or run on a terminal")
    pin = getpass.getpass("PIN of the root token (RegCA Root): ")
    if not pin:
        raise UserError("no PIN given")
    return pin


def cmd_init(args) -> None:
    import os

    from regca.bootstrap import InitOptions, initialise
    report = initialise(InitOptions(args.home, args.public_url, args.demo,
                                    args.operator_name, args.operator_nip,
                                    root_pin=os.environ.get(ROOT_PIN_ENV) or None))
    print(f"initialised {report.home}")
    for role, serial in report.serials.items():
        print(f"  {role:8} certificate {serial}")
    for user, (role, password) in report.logins.items():
        print(f"  demo log-in {user} ({role}): {password}")
    if report.root_pin:
        print(f"  root token PIN: {report.root_pin}   (shown once, stored nowhere: keep it "
              f"for the root ceremonies, given as {ROOT_PIN_ENV} or at the prompt)")
    if report.root_so_pin:
        print(f"  root token SO PIN: {report.root_so_pin}   (shown once, stored nowhere)")
    print(f"  next root ceremony due {report.next_root_ceremony} (regca ceremony root)")


def cmd_ceremony(args) -> None:
    from ca.ceremony import next_root_ceremony, root_ceremony
    ctx = _ctx(args)
    pin = _root_pin()
    with root_ceremony(ctx, pin, "operator:ceremony") as ceremony:
        if args.ceremony_command == "issuing-ca":
            made = ceremony.sign_issuing_ca()
            until = made.certificate.not_valid_after_utc.strftime("%Y-%m-%d")
            print(f"issuing CA {made.name} (generation {made.generation}): certificate "
                  f"{made.serial}, key {made.key_label!r}, valid until {until}; it issues from "
                  f"now on, {made.previous} publishes CRLs and OCSP for what it issued")
            print(f"OCSP responder generation {made.responder.generation}: certificate "
                  f"{made.responder.serial}, issued by {made.name}")
        if args.ceremony_command in ("root", "root-crl", "issuing-ca"):
            crl = ceremony.sign_crl()
            print(f"root CRL #{crl.number} signed, {crl.entries} entries, {crl.path}")
        if args.ceremony_command in ("root", "root-ocsp", "issuing-ca"):
            print(f"root OCSP responses signed: {ceremony.presign_ocsp()}")
    due = next_root_ceremony(ctx)
    print(f"next root ceremony due {due.due.date().isoformat()}")


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
    # Every generation of the service certificates and of the issuing CA (issuing-g<n>.pem),
    # earlier ones included: what they signed (certificates, responses, time-stamps, seals)
    # is still validated against them; and each issuing CA's chain (chain-issuing-g<n>.pem).
    from cryptography import x509

    from ca.issuing_cas import generation_of
    from ca.rollover import published
    generations = {f"{name}.pem": der for name, der in published(ctx).items()}
    for name, der in generations.items():
        (out / name).write_text(_pem(x509.load_der_x509_certificate(der)))
    chains = {}
    for ca in ctx.issuing_cas.names():
        chains[f"chain-issuing-g{generation_of(ca)}.pem"] = ctx.chain_of(ca)
    for name, chain in chains.items():
        (out / name).write_text("".join(_pem(c) for c in chain))
    print(f"wrote {', '.join([*files, 'chain.pem', *generations, *chains])} to {out}")


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
    from regca.roles import read_only_store
    for org in list_organizations(read_only_store(_ctx(args))):
        print("\t".join([org.teryt, org.name, org.nip or "-", org.regon or "-"]))


def cmd_org_add(args) -> None:
    from ra.organizations import add_organization
    org = add_organization(_ctx(args), args.teryt, args.name, args.nip, args.regon)
    print(f"{org.teryt}\t{org.name}")


def cmd_apikey_create(args) -> None:
    from ra.apikeys import create_api_key
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    print(create_api_key(_ctx(args), args.name, scopes, args.org))


def _when(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def cmd_apikey_list(args) -> None:
    from ra.apikeys import list_api_keys
    keys = list_api_keys(_ctx(args))
    if args.json:
        print(json.dumps([{"id": k.id, "name": k.name, "scopes": list(k.scopes),
                           "jst": k.organization_teryt, "created": _when(k.created),
                           "last_used": _when(k.last_used)} for k in keys],
                         ensure_ascii=False, indent=1))
        return
    for k in keys:  # CONTRACT.md, "Output shapes": tab-separated, never the secret
        print("\t".join([k.id, " ".join(k.name.split()), ",".join(k.scopes),
                         k.organization_teryt or "-", _when(k.created), _when(k.last_used) or "-"]))


def cmd_apikey_revoke(args) -> None:
    from ra.apikeys import revoke_api_key
    key_id = revoke_api_key(_ctx(args), args.id, actor="operator:cli")
    print(f"{key_id}\trevoked")


def cmd_audit_verify(args) -> None:
    from ca.log_check import check_log, check_saved
    from ca.personal_data import HMAC_ROLE
    from ca.store.audit import verify_chain
    from ca.tree_head import SignedTreeHead, TreeHeadProblem
    ctx = _ctx(args)
    saved = None
    if args.sth:
        try:
            saved = SignedTreeHead.from_json(json.loads(_read(args.sth)))
        except (ValueError, TreeHeadProblem) as exc:
            raise UserError(f"{args.sth}: not a saved tree head ({exc})") from None
    with ctx.db.reading() as s:
        count, problems = verify_chain(s)
    if problems:
        raise UserError(f"audit log broken: {problems[0]}")
    root = ctx.certificate_of("root-ca")
    hmac = None
    if HMAC_ROLE in ctx.settings.hsm.keys:
        hsm = ctx.hsm.only(HMAC_ROLE)
        hmac = lambda data: hsm.hmac_sha256(HMAC_ROLE, data)  # noqa: E731
    if saved is not None:
        problem = check_saved(ctx.db, saved, root, hmac)
        if problem is not None:
            raise UserError(f"audit log broken: {problem}")
    report = check_log(ctx.db, root, hmac)
    if report.problems:
        raise UserError(f"audit log broken: {report.problems[0]}")
    print(f"audit log intact: {count} events, Merkle tree of {report.entries} entries, "
          f"{report.tree_heads} signed tree heads, {report.macs_checked} entry HMACs")
    if saved is not None:
        print(f"the saved tree head of size {saved.tree_size} is signed and still covers "
              "the same entries")


def cmd_audit_init_log(args) -> None:
    from regca.bootstrap import add_transparency_log
    serial = add_transparency_log(args.home, _root_pin())
    print(f"transparency log keys generated; audit-log certificate {serial}; first tree head "
          "signed")


def cmd_fields_rotate(args) -> None:
    from regca.sealed_fields import rotate_data_key
    key_id, values = rotate_data_key(_ctx(args))
    print(f"data key {key_id} made and wrapped in the HSM; {values} TOTP secret(s), "
          "PESEL(s) and certificate(s) naming a PESEL sealed again with it")


def cmd_audit_export(args) -> None:
    from ca.log_export import export_log
    ctx = _ctx(args)
    try:
        written = export_log(ctx, args.out)
    except OSError as exc:
        raise UserError(f"{args.out}: {exc.strerror or exc}") from None
    print(f"{written.entries} entries, {written.tree_heads} tree heads, "
          f"{written.certificates} certificates written to {args.out}")


def _token_pin(args) -> str:
    """The token's user PIN from the safest source given: a file (--pin-file), the environment
    (REGCA_TOKEN_PIN), a prompt on the terminal; --pin (visible in ``ps``) only if given."""
    if args.pin is not None:
        return args.pin
    if args.pin_file:
        lines = _read(args.pin_file).decode(errors="replace").splitlines()
        if not lines or not lines[0]:
            raise UserError(f"{args.pin_file}: empty; the PIN goes on its first line")
        return lines[0]
    if os.environ.get("REGCA_TOKEN_PIN"):
        return os.environ["REGCA_TOKEN_PIN"]
    if sys.stdin.isatty():
        import getpass
        try:
            pin = getpass.getpass(f"PIN of token {args.token_label!r}: ")
        except EOFError:
            pin = ""
        if pin:
            return pin
    raise UserError("no PIN: give --pin-file FILE, set REGCA_TOKEN_PIN, or run in a terminal "
                    "to be asked")


def cmd_token_enroll(args) -> None:
    from ra.personalisation import LocalCa, PersonalisationRequest, personalise
    from ra.token import TokenRef
    from regca.remote_ca import RemoteCa
    from regca.roles import issuing_ca
    try:
        subject = json.loads(_read(args.subject))
    except ValueError as exc:
        raise UserError(f"{args.subject}: not JSON ({exc})") from None
    conf = os.environ.get("SOFTHSM2_CONF")  # the caller's token store, read before the CA's HSM
    pin = _token_pin(args)
    if args.ca_url:
        if not args.api_key:
            raise UserError("--ca-url needs --api-key or env REGCA_API_KEY (an API key of scope "
                            "'issue')")
        ca = RemoteCa(args.ca_url, args.api_key)
    else:
        ctx = _ctx(args)
        hsm = ctx.settings.hsm
        if conf is None and hsm.softhsm_conf and args.module == hsm.module:
            conf = str(hsm.softhsm_conf)  # no store of its own: the token is in the home's
        ca = LocalCa(issuing_ca(ctx), "operator:cli")
    done = personalise(PersonalisationRequest(
        TokenRef(args.module, args.token_label, conf), pin, tuple(args.profile), subject),
        ca)
    for item in done:
        print(f"{item.issued.serial}\t{item.profile}\tid={item.key_id.hex()}\t"
              f"label={item.label}")


def cmd_backup(args) -> None:
    from regca.backup import make_backup, passphrase_from_env
    passphrase = passphrase_from_env()
    done = make_backup(_ctx(args), Path(args.out), passphrase)
    print(f"backup of {args.home} ({done.database} database, {done.files} files) written to "
          f"{done.path}: {done.size} bytes")


def cmd_restore(args) -> None:
    import os

    from regca.backup import passphrase_from_env, restore
    source = Path(args.source)
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    done = restore(source, args.home, passphrase_from_env(),
                   database_url=os.environ.get("REGCA_DATABASE_URL"))
    print(f"restored {done.home} ({done.database} database, {done.files} files)")


def _known_ca(ctx, name: str | None) -> None:
    if name and name not in ctx.ca_names():
        raise UserError(f"--ca: no CA named {name!r} (one of {', '.join(ctx.ca_names())})")


def cmd_crl(args) -> None:
    from ca.crl import CrlPublisher
    ctx = _ctx(args)
    _known_ca(ctx, args.ca)
    if args.ca and args.ca not in ctx.online_cas():
        raise UserError(f"the {args.ca} CA's key is offline: its CRL is signed at a "
                        f"ceremony (regca ceremony {args.ca}-crl)")
    publisher = CrlPublisher(ctx)
    for ca in [args.ca] if args.ca else ctx.online_cas():
        crl = publisher.publish(ca, delta=args.delta)
        kind = "delta CRL" if crl.delta else "CRL"
        print(f"{ca} {kind} #{crl.number}: {crl.entries} entries, {crl.size} bytes, {crl.path}")


def cmd_ocsp_refresh(args) -> None:
    from ca.ocsp_cache import ResponseCache
    ctx = _ctx(args)
    _known_ca(ctx, args.ca)
    if args.ca and args.ca not in ctx.online_cas():
        raise UserError(f"the {args.ca} CA's key is offline: its OCSP responses are signed at "
                        f"a ceremony (regca ceremony {args.ca}-ocsp)")
    done = ResponseCache(ctx).refresh(issuers=[args.ca] if args.ca else None)
    for ca, count in done.items():
        print(f"{ca}: {count} OCSP responses signed")


def cmd_rollover(args) -> None:
    from ca.rollover import roll_over
    scope = args.org or ""
    if scope and args.service != "seal":
        raise UserError(f"--org: only seals belong to a JST, not the {args.service} service")
    if scope and not (scope.isdigit() and len(scope) == 7):
        raise UserError(f"--org: {scope!r} is not a 7-digit TERYT code")
    done = roll_over(_ctx(args), args.service, scope)
    until = done.certificate.not_valid_after_utc.strftime("%Y-%m-%d")
    print(f"{done.role} generation {done.generation}: certificate {done.serial}, "
          f"key {done.key_label!r}, valid until {until}; signing with it from now on")
    print(f"previous certificate {done.previous_serial} stays published for validation")


def cmd_seal_create(args) -> None:
    from cryptography.x509.oid import NameOID

    from ca.jst_seals import create_seal
    done = create_seal(_ctx(args), args.org)
    subject = done.certificate.subject.rfc4514_string({NameOID.ORGANIZATION_IDENTIFIER:
                                                       "organizationIdentifier"})
    until = done.certificate.not_valid_after_utc.strftime("%Y-%m-%d")
    print(f"seal of JST {done.teryt}: certificate {done.serial} ({subject}), key "
          f"{done.key_label!r}, valid until {until}; its keys seal with it from now on")


def cmd_status(args) -> None:
    from regca.status_report import build_report
    report = build_report(_ctx(args))
    print(report.as_json() if args.json else report.as_text())
    if not report.ok:
        raise UserError(f"{len(report.problems)} problem(s): {report.problems[0]}")


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


def cmd_report_usage(args) -> None:
    from ca.usage import Month, to_csv, usage_report
    report = usage_report(_ctx(args).db, Month.parse(args.month))
    if args.format == "json":
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
        return
    # UTF-8 with a BOM and CRLF lines, as Polish Excel opens it, whatever the locale says
    text, raw = to_csv(report), getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    if raw is None:  # a text-only stream (captured output)
        sys.stdout.write(text)
    else:
        raw.write(text.encode("utf-8"))
        raw.flush()


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

    sp = add("backup", cmd_backup, "an encrypted backup of this home (database snapshot, HSM "
             "token store, configuration); passphrase in $REGCA_BACKUP_PASSPHRASE")
    sp.add_argument("--out", required=True, metavar="FILE")

    sp = add("restore", cmd_restore, "build a home in the empty or absent --home DIR from a "
             "backup; passphrase in $REGCA_BACKUP_PASSPHRASE")
    sp.add_argument("--from", dest="source", required=True, metavar="FILE")

    sp = add("crl", cmd_crl, "generate and publish fresh CRLs now (complete, or --delta)")
    sp.add_argument("--delta", action="store_true", help="a delta CRL on the last complete one")
    sp.add_argument("--ca", help="only this CA: root, issuing, issuing-g<n> (default: all)")

    ceremony = sub.add_parser("ceremony", help="root ceremonies: the only commands that log "
                              "into the offline root token (PIN from $REGCA_ROOT_PIN or a "
                              "prompt)").add_subparsers(dest="ceremony_command", required=True,
                                                         metavar="ACTION")
    for name, help_ in (("root", "sign the root CRL and pre-sign the root's OCSP responses, "
                                 "both valid until past the next ceremony"),
                        ("root-crl", "sign the root CRL only"),
                        ("root-ocsp", "pre-sign the root's OCSP responses only (the status of "
                                      "the issuing CAs)"),
                        ("issuing-ca", "roll the issuing CA over: a new key in the HSM, its "
                                       "certificate signed by the root, issuing from now on; "
                                       "the old one keeps publishing CRLs and OCSP; then as "
                                       "'root'")):
        sp = ceremony.add_parser(name, help=help_, description=help_)
        sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.set_defaults(fn=cmd_ceremony)

    ocsp = sub.add_parser("ocsp", help="OCSP responses").add_subparsers(
        dest="ocsp_command", required=True, metavar="ACTION")
    sp = ocsp.add_parser("refresh", help="pre-sign missing responses and those past half "
                                         "their validity (the root's: regca ceremony)")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--ca", help="only this CA: root, issuing, issuing-g<n> (default: all)")
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
    sp.add_argument("--org", default=None, help="TERYT of the JST the key is bound to (it acts "
                    "for the JST's units too), or REGON of a unit")
    sp.set_defaults(fn=cmd_apikey_create)
    sp = apikey.add_parser("list", help="list the keys not revoked: id, name, scopes, JST, "
                                        "created, last used (never the secret)")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--json", action="store_true", help="a JSON list of objects")
    sp.set_defaults(fn=cmd_apikey_list)
    sp = apikey.add_parser("revoke", help="revoke a key; every worker refuses it from the next "
                                          "request")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("id", help="the key's id (first column of `regca apikey list`)")
    sp.set_defaults(fn=cmd_apikey_revoke)

    token = sub.add_parser("token", help="subscriber tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION")
    sp = token.add_parser("enroll", help="key pair on a token, certificate issued, written back")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--module", required=True, help="the token's PKCS#11 library")
    sp.add_argument("--token-label", required=True)
    pin = sp.add_mutually_exclusive_group()
    pin.add_argument("--pin-file", metavar="FILE", help="file whose first line is the token's "
                     "user PIN (else env REGCA_TOKEN_PIN, else a prompt on the terminal)")
    pin.add_argument("--pin", default=None, help="the PIN itself: visible to every local user "
                     "in `ps`, prefer --pin-file, REGCA_TOKEN_PIN or the prompt")
    sp.add_argument("--profile", required=True, action="append",
                    help="certificate profile; repeat for a signing and an authentication key")
    sp.add_argument("--subject", required=True, help="SUBJ.json")
    sp.add_argument("--ca-url", default=None, help="the CA's base URL (RA API); default: "
                    "this home's CA in-process")
    sp.add_argument("--api-key", default=os.environ.get("REGCA_API_KEY"),
                    help="API key of scope 'issue' for --ca-url (default: env REGCA_API_KEY)")
    sp.set_defaults(fn=cmd_token_enroll)

    sp = add("status", cmd_status, "CA and service certificates, CRLs, HSM, database, "
             "pending issuances and the jobs process; exit 1 on any problem")
    sp.add_argument("--json", action="store_true", help="the same as one JSON object")

    sp = add("rollover", cmd_rollover, "a new HSM key and certificate for a service; every "
             "worker signs with it within seconds, the old certificate stays published")
    sp.add_argument("service", choices=["ocsp", "tsa", "seal"])
    sp.add_argument("--org", default=None, metavar="TERYT", help="the seal of this JST")

    seal = sub.add_parser("seal", help="JST e-seals").add_subparsers(
        dest="seal_command", required=True, metavar="ACTION")
    sp = seal.add_parser("create", help="a seal key in the HSM and a certificate (seal "
                                        "profile) naming the JST; its API keys seal with it")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--org", required=True, metavar="TERYT", help="the JST (regca org list)")
    sp.set_defaults(fn=cmd_seal_create)

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

    report = sub.add_parser("report", help="reports").add_subparsers(
        dest="report_command", required=True, metavar="ACTION")
    sp = report.add_parser("usage", help="per JST, one month (Europe/Warsaw): certificates "
                                         "issued and revoked, seals, time-stamps, verifications")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--month", required=True, metavar="YYYY-MM")
    sp.add_argument("--format", choices=["csv", "json"], default="csv",
                    help="csv: semicolons, UTF-8 with BOM, for Excel (default); json")
    sp.set_defaults(fn=cmd_report_usage)

    audit = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    sp = audit.add_parser("verify", help="re-check the audit chain, the Merkle log and every "
                                         "signed tree head")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--sth", default=None, metavar="FILE",
                    help="a tree head saved from /transparency/v1/sth: prove the log still "
                         "holds, unchanged, what it covered")
    sp.set_defaults(fn=cmd_audit_verify)
    sp = audit.add_parser("init-log", help="add the transparency log's keys and certificate "
                                           "to a home made before it (needs the root's PIN)")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.set_defaults(fn=cmd_audit_init_log)
    sp = audit.add_parser("export", help="write entries, tree heads and certificates for the "
                                         "offline verifier")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.add_argument("--out", required=True, type=Path, metavar="DIR")
    sp.set_defaults(fn=cmd_audit_export)

    fields = sub.add_parser("fields", help="TOTP secrets and PESELs encrypted at rest"
                            ).add_subparsers(dest="fields_command", required=True,
                                             metavar="ACTION")
    sp = fields.add_parser("rotate", help="a new data key (wrapped by the HSM's key-encryption "
                                          "key) and every sealed value sealed again with it")
    sp.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sp.set_defaults(fn=cmd_fields_rotate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (None: the process's own arguments, as the ``regca`` script
    runs it) and return its exit status."""
    from regca.privacy import private_umask
    private_umask()  # before anything is written: the home is private (regca/privacy.py)
    args = build_parser().parse_args(argv)  # --help and usage errors exit here
    from ca.config import default_home
    args.home = (args.home or default_home()).resolve()
    args.opened = []  # the homes the command opens (_ctx); _run closes them
    as_program = argv is None
    if as_program and args.fn in _BRIEF:
        gc.disable()
    code = _run(args)
    if as_program:
        # The process ends with the command. Its exit would go through every object left in
        # the garbage collector's generations (SQLAlchemy's, the store's tables, the HSM's
        # enums): a sixth of a `regca issue`'s CPU time, 0.1 s (bench/cli.py). Frozen, they are
        # left to the process's end; the homes were closed by _run, not by that collection.
        gc.freeze()
    return code


# Commands that do one short thing, run as a process without the garbage collector: nearly all
# they allocate is the modules they load (SQLAlchemy, cryptography, the HSM's bindings: some
# 60,000 objects), kept to the end, and their garbage is one request's worth. Collected while
# they load, some 130 times, those objects cost a `regca issue` a tenth of its CPU time for
# nothing (bench/cli.py). Not the commands that serve, or walk the store or the audit log.
_BRIEF = (cmd_issue,)


def _run(args) -> int:
    try:
        try:
            args.fn(args)
        finally:
            for ctx in args.opened:
                ctx.close()
    except (RegCAError, UserError) as exc:
        print(f"regca: error: {_one_line(exc)}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except OSError as exc:  # a path the user gave that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"regca: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a fault of ours: still one line, the traceback on request
        if os.environ.get("REGCA_DEBUG"):
            raise
        print(f"regca: error: internal error ({type(exc).__name__}: {_one_line(exc)}); "
              "run with REGCA_DEBUG=1 for the traceback", file=sys.stderr)
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
