"""Expiry notices: an e-mail to the subscriber, and a digest to their JST's officers, when a
certificate comes within 30, 14 and 3 days of its notAfter (``[expiry_notices] days``), in
Polish, sent by the jobs process (regca/scheduler.py) through ``[smtp]``.

Never twice: each (certificate, threshold, recipient) is claimed in ``expiry_notices`` before
the message goes to the server, so a crash after sending leaves it claimed (at most once); a
message the server refuses is released and tried again next round. A certificate that was
renewed already (a later one of the same enrolment and profile) is not announced, and a notice
whose threshold was skipped (the jobs were down) is not sent late: only the nearest threshold
reached counts. Each message sent is an audit event.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from ca.audit import Event
from ca.config import SmtpConfig
from ca.errors import UnknownProfile
from ca.identity import validate_email
from ca.profiles import ProfileSet
from ca.status import time_left
from ca.store import expiry as store
from ca.store import organizations as org_store
from ra.authority import Reader, Recorder
from ra.mail import connect

__all__ = ["Expiring", "Message", "NoticeReport", "expiring_soon", "due_messages", "send_due",
           "local", "days_word", "notice_address", "set_notice_address"]

log = logging.getLogger(__name__)
_WARSAW = ZoneInfo("Europe/Warsaw")
ACTOR = "jobs:expiry-notices"


@dataclass(frozen=True)
class Expiring:
    serial: str
    profile: str
    not_after: dt.datetime
    enrolment_id: int
    teryt: str
    org_name: str
    given_name: str
    surname: str
    email: str | None
    renewed: bool

    def days_left(self, now: dt.datetime) -> int:
        """Calendar days in Warsaw from ``now`` to the notAfter (0: it ends today)."""
        return (self.not_after.astimezone(_WARSAW).date() - now.astimezone(_WARSAW).date()).days


@dataclass(frozen=True)
class Message:
    keys: tuple[tuple[str, int, str], ...]  # (serial, days_before, recipient) it covers
    to: str
    audience: str  # "subscriber" | "officer:<username>"
    teryt: str
    email: EmailMessage


@dataclass(frozen=True)
class NoticeReport:
    sent: int = 0
    failed: int = 0


def local(at: dt.datetime) -> str:
    return at.astimezone(_WARSAW).strftime("%d.%m.%Y, godz. %H:%M")


def days_word(n: int) -> str:
    """Polish: 1 dzień, every other number of days "dni"."""
    return "1 dzień" if n == 1 else f"{n} dni"


def _rows(ra: Reader, now: dt.datetime, until: dt.datetime, teryts: list[str] | None
          ) -> list[Expiring]:
    with ra.reading() as s:
        pairs = store.expiring(s, now, until, teryts)
        latest = store.latest_issued(s, sorted({e.id for _, e in pairs}))
        names = {o.teryt: o.name for o in org_store.all_(s)}
    return [Expiring(c.serial, c.profile, c.not_after, e.id, e.organization_teryt,
                     names.get(e.organization_teryt, e.organization_teryt), e.given_name,
                     e.surname, e.email,
                     latest.get((e.id, c.profile), c.issued_at) > c.issued_at)
            for c, e in pairs]


def expiring_soon(ra: Reader, orgs: tuple[str, ...] | None, within_days: int
                  ) -> list[Expiring]:
    """The officer's list: certificates of their JST ending within ``within_days``."""
    now = ra.now()
    return _rows(ra, now, now + dt.timedelta(days=within_days),
                 list(orgs) if orgs is not None else None)


def _title(profiles: ProfileSet, name: str) -> str:
    try:
        return profiles.get(name).title.split(" / ")[0]
    except UnknownProfile:  # a profile since removed: its name will do
        return name


def _subscriber_mail(x: Expiring, now: dt.datetime, title: str, sender: str) -> EmailMessage:
    left = x.days_left(now)
    m = EmailMessage()
    m["Subject"] = f"Twój certyfikat wygasa {x.not_after.astimezone(_WARSAW):%d.%m.%Y}"
    m["To"] = x.email
    m.set_content(
        f"Dzień dobry, {x.given_name} {x.surname},\n\n"
        f"certyfikat „{title}” (numer seryjny {x.serial}) wydany w jednostce {x.org_name} "
        f"jest ważny do {local(x.not_after)} (pozostało {days_word(left)}).\n\n"
        f"Aby nadal z niego korzystać, odnów certyfikat przed tą datą w punkcie rejestracji "
        f"({x.org_name}). Odnowienie nie unieważnia obecnego certyfikatu: dokumenty już nim "
        f"podpisane pozostają ważne.\n\n"
        f"Wiadomość wysłana automatycznie przez system RegCA; prosimy na nią nie odpowiadać.\n")
    return m


def _officer_mail(items: list[Expiring], now: dt.datetime, profiles: ProfileSet,
                  org_name: str, to: str, url: str) -> EmailMessage:
    m = EmailMessage()
    m["Subject"] = f"Wygasające certyfikaty w jednostce {org_name}: {len(items)}"
    m["To"] = to
    lines = [f"- {x.given_name} {x.surname}, {_title(profiles, x.profile)}, nr {x.serial}: "
             f"ważny do {local(x.not_after)} (pozostało {days_word(x.days_left(now))})"
             for x in items]
    m.set_content(
        f"Dzień dobry,\n\nw jednostce {org_name} zbliża się koniec ważności certyfikatów:\n\n"
        + "\n".join(lines)
        + f"\n\nPełna lista: {url}/expiring\n\n"
          "Wiadomość wysłana automatycznie przez system RegCA.\n")
    return m


def _threshold(x: Expiring, now: dt.datetime, days: tuple[int, ...]) -> int | None:
    left = time_left(x, now)
    reached = [d for d in days if left <= dt.timedelta(days=d)]
    return min(reached) if reached else None


def due_messages(ra: Reader, days: tuple[int, ...], sender: str, public_url: str
                 ) -> list[Message]:
    """What this round would send: nothing already claimed, nothing for a renewed one."""
    now = ra.now()
    rows = [x for x in _rows(ra, now, now + dt.timedelta(days=max(days)), None)
            if not x.renewed]
    with ra.reading() as s:
        done = store.notified(s, [x.serial for x in rows])
        officers = store.officer_contacts(s, sorted({x.teryt for x in rows}))
    messages: list[Message] = []
    digests: dict[tuple[str, str, str], list[tuple[Expiring, int]]] = {}
    for x in rows:
        d = _threshold(x, now, days)
        if d is None:
            continue
        if x.email and (x.serial, d, x.email) not in done:
            messages.append(Message(((x.serial, d, x.email),), x.email, "subscriber", x.teryt,
                                    _subscriber_mail(x, now, _title(ra.profiles, x.profile),
                                                     sender)))
        for username, email in officers.get(x.teryt, []):
            if (x.serial, d, email) not in done:
                digests.setdefault((x.teryt, username, email), []).append((x, d))
    for (teryt, username, email), items in digests.items():
        messages.append(Message(
            tuple((x.serial, d, email) for x, d in items), email, f"officer:{username}", teryt,
            _officer_mail([x for x, _ in items], now, ra.profiles, items[0][0].org_name, email,
                          public_url)))
    for message in messages:
        message.email["Date"] = format_datetime(now)
        message.email["Message-ID"] = make_msgid(domain="regca")
    return messages


def _claim(ra: Recorder, message: Message) -> bool:
    try:
        with ra.db.transaction() as s:
            for serial, d, recipient in message.keys:
                store.claim(s, serial, d, recipient, ra.now())
    except IntegrityError:  # claimed meanwhile (another round, another node)
        return False
    return True


def send_due(reader: Reader, ra: Recorder, config: SmtpConfig, days: tuple[int, ...],
             public_url: str) -> NoticeReport:
    """One round: every due message claimed, handed to the server, marked and audited.
    ``reader`` reads the store, ``ra`` records (the jobs process: a ``ReadOnlyStore`` and its
    ``CaContext``)."""
    messages = due_messages(reader, days, config.sender, public_url)
    if not messages:
        return NoticeReport()
    sent = failed = 0
    with connect(config) as mailer:
        for message in messages:
            if not _claim(ra, message):
                continue
            try:
                mailer.send(message.email)
            except (smtplib.SMTPException, OSError) as exc:
                log.warning("expiry notice not accepted by the SMTP server: %s",
                            type(exc).__name__)
                with ra.db.transaction() as s:
                    store.release(s, list(message.keys))
                failed += 1
                continue
            with ra.db.transaction() as s:
                store.mark(s, list(message.keys), "sent")
                for serial, d, _ in message.keys:
                    ra.audit(s, Event(actor=ACTOR, action="notice.expiry",
                                       object=f"certificate:{serial}",
                                       organization_teryt=message.teryt,
                                       details={"days_before": d, "to": message.audience}))
            sent += 1
    return NoticeReport(sent, failed)


def notice_address(ra: Reader, username: str) -> str | None:
    with ra.reading() as s:
        return store.contact_of(s, username)


def set_notice_address(ra: Recorder, username: str, email: str | None, actor: str) -> None:
    """Where an officer receives the digests of their JST (None: none any more); audited."""
    email = validate_email(email, "email") if email else None
    with ra.db.transaction() as s:
        store.set_contact(s, username, email, ra.now())
        ra.audit(s, Event(actor=actor, action="user.notice_address", object=f"user:{username}",
                           details={"set": email is not None}))
