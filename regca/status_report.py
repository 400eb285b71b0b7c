"""``regca status``: one look at what an operator must keep alive, and what expires when.

Each CA certificate and the active generation of each service certificate with its notAfter,
the published CRLs' next updates, the HSM keys, the database, pending issuances and the jobs
process of ``regca serve``. A check that failed, or a certificate within its warning window
(``[status]`` in regca.toml: ``service_warning_days`` default 30, ``ca_warning_days`` default
90), is a *problem*; the command exits 1 when there is any. What is simply not there yet on a
fresh home (CRLs before the first ``regca serve``, a jobs process not running) is reported, not
counted as a problem. ``/metrics`` (regca/metrics.py) exposes the same facts as numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from ca.ceremony import next_root_ceremony
from ca.context import CA_PROFILES, CaContext
from ca.crl import crl_path
from ca.errors import ConfigurationError, RegCAError
from ca.issuing_cas import PROFILE, ca_name
from ca.lease import lease_holder
from ca.rolekeys import SERVICE_PROFILES
from ca.status import certificate_status
from ca.store import certificates as cert_store
from ca.store import service_certificates as generations_store

__all__ = ["StatusReport", "CertificateLine", "CrlLine", "build_report", "warning_windows",
           "write_heartbeat", "clear_heartbeat", "heartbeat_path"]

DEFAULT_WINDOWS = {"service_warning_days": 30, "ca_warning_days": 90}


def _date(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d")


def _ends(line: CertificateLine) -> dt.datetime:
    return dt.datetime.strptime(line.not_after_at, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc)


def _moment(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def warning_windows(ctx: CaContext) -> dict[str, int]:
    """``[status]`` of regca.toml, checked: whole days, not negative."""
    try:
        table = tomllib.loads(ctx.settings.config_file.read_text()).get("status", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{ctx.settings.config_file}: {exc}") from None
    windows = dict(DEFAULT_WINDOWS)
    for key, value in table.items():
        if key not in windows:
            raise ConfigurationError(f"status.{key}: unknown (one of {', '.join(windows)})")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigurationError(f"status.{key}: expected a whole number of days, "
                                     f"got {value!r}")
        windows[key] = value
    return windows


@dataclass(frozen=True)
class CertificateLine:
    name: str  # root, issuing, issuing-g<n>, ocsp, tsa, seal, seal-<teryt>
    kind: str  # ca | service
    profile: str
    serial: str
    generation: int | None
    not_after: str  # YYYY-MM-DD (UTC)
    not_after_at: str  # the same to the second
    days_left: int
    warning_days: int
    state: str  # ok | expiring | expired (ca/status.py's word) | retired (an issuing CA)


@dataclass(frozen=True)
class CrlLine:
    ca: str
    delta: bool
    number: int | None
    this_update: str | None
    next_update: str | None  # YYYY-MM-DD (UTC)
    next_update_at: str | None  # the same to the second: delta CRLs live hours
    state: str  # ok | stale | not published | unreadable


@dataclass
class StatusReport:
    at: str
    certificates: list[CertificateLine] = field(default_factory=list)
    crls: list[CrlLine] = field(default_factory=list)
    hsm: dict[str, str] = field(default_factory=dict)  # role -> ok | offline | failed: why
    database: str = "ok"
    pending_issuances: dict[str, int] = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)
    root_ceremony_due: str | None = None  # YYYY-MM-DD: before the root's CRL/OCSP answers run out
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> str:
        return json.dumps({"ok": self.ok, **asdict(self)}, indent=2, ensure_ascii=False)

    def as_text(self) -> str:
        lines = [f"RegCA status at {self.at.replace('T', ' ').replace('Z', ' UTC')}"]
        lines.append("certificates (not after, UTC):")
        for c in self.certificates:
            gen = f" g{c.generation}" if c.generation else ""
            note = ("(issues no more; publishes)" if c.state == "retired" else
                    f"(warn {c.warning_days} days before)")
            lines.append(f"  {c.name + gen:18} {c.not_after}  {c.days_left:>5} days  "
                         f"{c.state:8} {note}  serial {c.serial}")
        lines.append("CRLs (next update, UTC):")
        for r in self.crls:
            kind = "delta" if r.delta else "full"
            when = (r.next_update_at or "-").replace("T", " ").replace("Z", "")
            number = f"#{r.number}" if r.number is not None else ""
            lines.append(f"  {r.ca:10} {kind:5} {number:6} {when:19}  {r.state}")
        lines.append("HSM keys: " + ", ".join(f"{k} {v}" for k, v in self.hsm.items()))
        lines.append(f"database: {self.database}")
        p = self.pending_issuances
        lines.append(f"pending issuances: {p.get('pending', 0)} "
                     f"({p.get('stale', 0)} older than the grace period)")
        last = self.jobs.get("last_round")
        lease = self.jobs.get("lease")
        lines.append(f"jobs process: {self.jobs.get('state')}"
                     + (f", last round {last.replace('T', ' ').replace('Z', '')} UTC"
                        if last else "")
                     + (f"; jobs lease {'lapsed, last ' if lease['lapsed'] else ''}held by "
                        f"{lease['holder']}" if lease else ""))
        if self.root_ceremony_due:
            lines.append(f"next root ceremony due: {self.root_ceremony_due}")
        if self.problems:
            lines.append(f"PROBLEMS ({len(self.problems)}):")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("no problems")
        return "\n".join(lines)


# -- certificates ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Issued:
    """A CA or service certificate as ``certificate_status`` reads a row: issued, and never
    revoked while it is the one in use."""

    not_after: dt.datetime
    status: str = "issued"
    revocation_reason: str | None = None


def _certificate_line(name: str, kind: str, profile: str, cert: x509.Certificate,
                      generation: int | None, window: int, now: dt.datetime) -> CertificateLine:
    not_after = cert.not_valid_after_utc
    days_left = (not_after - now).days  # whole days left, rounded down
    decided = certificate_status(_Issued(not_after), now)  # expiry is ca/status.py's to say
    state = (decided.state if decided.expired else
             "expiring" if not_after - now <= dt.timedelta(days=window) else "ok")
    return CertificateLine(name, kind, profile, format(cert.serial_number, "x"), generation,
                           _date(not_after), _moment(not_after), days_left, window, state)


def certificate_lines(ctx: CaContext, windows: dict[str, int] | None = None
                      ) -> list[CertificateLine]:
    """The CA certificates and every service's active generation (the centre's and each
    JST's), with the state their warning window gives them now."""
    windows = windows or warning_windows(ctx)
    now = ctx.now()
    lines = [_certificate_line("root", "ca", CA_PROFILES["root"],
                               ctx.certificate_of(CA_PROFILES["root"]), None,
                               windows["ca_warning_days"], now)]
    lines += issuing_ca_lines(ctx, windows, now)
    with ctx.db.reading() as s:
        active = [g for g in generations_store.generations(s)
                  if g.active and g.role in SERVICE_PROFILES]
    for g in active:
        name = f"{g.role}-{g.scope}" if g.scope else g.role
        lines.append(_certificate_line(name, "service", SERVICE_PROFILES[g.role],
                                       x509.load_der_x509_certificate(g.der), g.generation,
                                       windows["service_warning_days"], now))
    return lines


def longest_issued(ctx: CaContext) -> int:
    """The longest validity, in days, of a profile the issuing CA issues: how much of its own
    life an issuing CA must have left to give a certificate its full term."""
    return max((p.validity_days for p in ctx.profiles if p.issuer == "issuing"),
               default=0)


def issuing_ca_lines(ctx: CaContext, windows: dict[str, int], now: dt.datetime
                     ) -> list[CertificateLine]:
    """Each issuing-CA generation. The active one is warned about ``ca_warning_days`` before
    it can no longer cover the longest subscriber lifetime (``longest_issued``): from then on
    its certificates would be cut short (ca/issuance.py), so the next issuing-CA ceremony is
    due. A retired one is only ``retired`` (or ``expired``): it is expected to run out."""
    lines = []
    active = ctx.issuing_cas.active().generation
    for g in ctx.issuing_cas.generations():
        cert = x509.load_der_x509_certificate(g.der)
        name = ca_name(g.generation)
        if g.generation == active:
            window = windows["ca_warning_days"] + longest_issued(ctx)
            lines.append(_certificate_line(name, "ca", PROFILE, cert, g.generation, window,
                                           now))
            continue
        line = _certificate_line(name, "ca", PROFILE, cert, g.generation, 0, now)
        if not certificate_status(_Issued(cert.not_valid_after_utc), now).expired:
            line = dataclasses.replace(line, state="retired")
        lines.append(line)
    return lines


# -- CRLs --------------------------------------------------------------------------------------

def crl_lines(ctx: CaContext) -> list[CrlLine]:
    """The CRLs as published under the home's crl/ (what /crl/ serves)."""
    now, out = ctx.now(), []
    # The root (offline, but its CRL is published) and every issuing CA that still publishes.
    for ca in ["root", *ctx.issuing_cas.publishing(now)]:
        for delta in (False, True):
            path = crl_path(ctx.settings.crl_dir, ca, delta)
            if not path.exists():
                out.append(CrlLine(ca, delta, None, None, None, None, "not published"))
                continue
            try:
                crl = x509.load_der_x509_crl(path.read_bytes())
            except (OSError, ValueError):
                out.append(CrlLine(ca, delta, None, None, None, None, "unreadable"))
                continue
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            next_update = crl.next_update_utc
            state = "stale" if next_update is None or next_update < now else "ok"
            out.append(CrlLine(ca, delta, number, _moment(crl.last_update_utc),
                               _date(next_update), _moment(next_update), state))
    return out


# -- HSM, database, pending issuances ---------------------------------------------------------

def hsm_states(ctx: CaContext) -> dict[str, str]:
    """Per key role: ``ok`` (found and, for a service, certified by its active certificate),
    ``offline`` (its token's PIN is not in this home: an offline root), or ``failed: why``."""
    states = {}
    for role, key in ctx.settings.hsm.keys.items():
        if ctx.settings.hsm.offline(role):
            states[role] = "offline"  # used only at root ceremonies: not a fault
            continue
        try:
            if role in SERVICE_PROFILES:
                ctx.role_key(role).pair()  # the active generation's key, paired
            elif role == "issuing":
                ctx.issuing_keys.active()  # the issuing CA that issues now, paired
            elif not ctx.hsm.only(role).ping():
                raise RegCAError(f"key {key.label!r} not found")
            states[role] = "ok"
        except RegCAError as exc:
            states[role] = f"failed: {exc}"
    return states


def pending_counts(ctx: CaContext) -> dict[str, int]:
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.settings.pending_grace_seconds)
    with ctx.db.reading() as s:
        return {"pending": cert_store.count_pending(s),
                "stale": cert_store.count_pending(s, cutoff)}


# -- the jobs process ---------------------------------------------------------------------------

def heartbeat_path(ctx_or_home) -> Path:
    home = ctx_or_home.settings.home if isinstance(ctx_or_home, CaContext) else ctx_or_home
    return Path(home) / "logs" / "jobs.json"


def write_heartbeat(ctx: CaContext, interval: float, failed: list[str]) -> None:
    """The jobs process after each round: when, how often, and which jobs failed."""
    path = heartbeat_path(ctx)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"last_round": _moment(ctx.now()), "interval": interval,
                               "pid": os.getpid(), "failed": failed}))
    os.replace(tmp, path)


def clear_heartbeat(home: Path) -> None:
    """``regca serve`` stopping its jobs process: none runs now, and that is no failure."""
    heartbeat_path(home).unlink(missing_ok=True)


def jobs_state(ctx: CaContext) -> dict:
    path = heartbeat_path(ctx)
    if not path.exists():
        return {"state": "not running", "last_round": None, "failed": []}
    try:
        beat = json.loads(path.read_text())
        last = dt.datetime.strptime(beat["last_round"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.timezone.utc)
        interval = float(beat["interval"])
    except (OSError, ValueError, KeyError, TypeError):
        return {"state": "failed: unreadable heartbeat", "last_round": None, "failed": []}
    late = ctx.now() - last > dt.timedelta(seconds=max(3 * interval, 120))
    failed = list(beat.get("failed") or [])
    state = ("failed: no round since " + beat["last_round"] if late else
             "failed: " + ", ".join(failed) if failed else "running")
    return {"state": state, "last_round": beat["last_round"], "failed": failed}


def jobs_lease(ctx: CaContext) -> dict | None:
    """Which node's jobs process runs the jobs (ca/lease.py): several nodes may have one
    running, one holds the lease."""
    try:
        held = lease_holder(ctx)
    except SQLAlchemyError:
        return None
    if held is None:
        return None
    return {"holder": held["holder"], "expires_at": _moment(held["expires_at"]),
            "lapsed": held["lapsed"]}


# -- all of it -----------------------------------------------------------------------------------

def build_report(ctx: CaContext) -> StatusReport:
    """Every check; a check that cannot run is a problem of its own, never a traceback."""
    report = StatusReport(_moment(ctx.now()))
    windows = warning_windows(ctx)  # a bad [status] table is the operator's to fix: raised
    if not ctx.db.ping():
        report.database = f"failed: {ctx.db.safe_url} not answering"
        report.problems.append(f"database: {ctx.db.safe_url} not answering")
        return report
    try:
        report.certificates = certificate_lines(ctx, windows)
        report.pending_issuances = pending_counts(ctx)
    except (RegCAError, SQLAlchemyError) as exc:
        report.problems.append(f"database: {exc}")
    report.crls = crl_lines(ctx)
    report.hsm = hsm_states(ctx)
    report.jobs = jobs_state(ctx)
    report.jobs["lease"] = jobs_lease(ctx)
    try:
        ceremony = next_root_ceremony(ctx)
        report.root_ceremony_due = _date(ceremony.due)
        if ceremony.overdue(ctx.now()):
            report.problems.append(
                f"root ceremony due {report.root_ceremony_due}: sign the root CRL and OCSP "
                "answers (regca ceremony root-crl, regca ceremony root-ocsp)")
    except (RegCAError, SQLAlchemyError) as exc:
        report.problems.append(f"root ceremony: {exc}")

    for c in report.certificates:
        if c.kind == "ca" and c.profile == PROFILE and c.state == "expiring":
            report.problems.append(
                f"{c.name} CA certificate {c.serial}: not after {c.not_after}; it cannot give "
                f"a full {longest_issued(ctx)}-day certificate from "
                f"{_date(_ends(c) - dt.timedelta(days=longest_issued(ctx)))}: hold an "
                "issuing-CA ceremony (regca ceremony issuing-ca)")
        elif c.state not in ("ok", "retired"):
            report.problems.append(
                f"{c.name} certificate {c.serial} {c.state}: not after {c.not_after} "
                f"({c.days_left} days; warning window {c.warning_days} days)")
    for r in report.crls:
        if r.state in ("stale", "unreadable"):
            kind = "delta CRL" if r.delta else "CRL"
            report.problems.append(f"{r.ca} {kind} {r.state}"
                                   + (f": next update was {r.next_update_at}"
                                      if r.state == "stale" else ""))
    report.problems += [f"HSM key {role}: {state.removeprefix('failed: ')}"
                        for role, state in report.hsm.items() if state.startswith("failed")]
    if report.pending_issuances.get("stale"):
        report.problems.append(f"{report.pending_issuances['stale']} issuance(s) pending past "
                               "the grace period (`regca serve` settles them at start)")
    if report.jobs["state"].startswith("failed"):
        report.problems.append(f"jobs process {report.jobs['state']}")
    return report
