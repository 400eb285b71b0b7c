"""Expiry notices against a real local SMTP server (aiosmtpd) with the pinned clock moved to each
threshold: the subscriber's e-mail and the officers' digest arrive once per threshold, in
Polish, with the certificate's dates; a renewed certificate is not announced; an SMTP server
away claims nothing; `[smtp]` is checked when the home is loaded; officers see the list."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
import socket
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from conftest import make_csr, new_key
from sqlalchemy import func, select
from webclient import Visitor, add_staff

from ca.config import load_settings
from ca.context import CaContext
from ca.errors import ConfigurationError, DependencyUnavailable
from ca.store.models import AuditEvent, ExpiryNotice
from ra import enrolment as enrol
from ra import renewal
from regca.roles import registration_authority
from regca.scheduler import run_once, send_expiry_notices
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST, JST_NAME = "0862011", "Gmina Miasto Zielona Góra"
WARSAW = ZoneInfo("Europe/Warsaw")
SENDER = "regca@zielona-gora.example"


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        message["X-Envelope-From"] = envelope.mail_from
        self.messages.append(message)
        return "250 OK"

    def take(self) -> list:
        taken, self.messages = self.messages, []
        return taken


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _configure(home, port: int) -> CaContext:
    config = home.settings.config_file
    text = re.sub(r"\n\[smtp\].*?(?=\n\[|\Z)", "", config.read_text(), flags=re.S)
    config.write_text(text + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nfrom = "{SENDER}"\n')
    return CaContext(load_settings(home.settings.home), home.clock)


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def office(home_ctx, smtp):
    """Officers of one JST (one with a notice address set through the page), and two staff
    certificates: one with the subscriber's e-mail, one renewed before any notice."""
    ctx = home_ctx
    inbox, port = smtp
    secret = add_staff(ctx, "kadrowa", "officer", [JST])
    add_staff(ctx, "bez_adresu", "officer", [JST])
    other = add_staff(ctx, "obca", "officer", ["0861011"])  # another JST's officer
    app = create_app(ctx.settings.home, ctx)
    officer = Visitor(app, ctx).login("kadrowa", secret)
    r = officer.post("/expiring/address", {"email": "kadry@zielona-gora.example"},
                     form_page="/expiring")
    assert r.status_code == 303, r.text
    r = Visitor(app, ctx).login("obca", other).post(
        "/expiring/address", {"email": "kadry@gorzow.example"}, form_page="/expiring")
    assert r.status_code == 303, r.text
    ra = registration_authority(ctx)
    staff = {}
    for given, surname, mail in (
            ("Ewa", "Wygasająca", "ewa.wygasajaca@zielona-gora.example"),
            ("Adam", "Odnowiony", "adam.odnowiony@zielona-gora.example")):
        e, _ = enrol.record(ra, enrol.Applicant("staff", JST, given, surname, email=mail,
                                                title="Referent"),
                            "officer:kadrowa", (JST,))
        staff[surname] = enrol.issue_from_csr(ra, e.id, "staff-signing", make_csr(new_key()),
                                              "officer:kadrowa", (JST,))
    ctx.clock.advance(days=100)  # renewed later: the new one ends after this test's window
    renewed = renewal.renew_from_csr(ra, staff["Odnowiony"].serial, make_csr(new_key()),
                                     "officer:kadrowa", (JST,))
    jobs = _configure(ctx, port)
    def login(who="kadrowa"):
        return Visitor(app, ctx).login(who, {"kadrowa": secret, "obca": other}[who])
    return ctx, jobs, login, staff, renewed, inbox


def _set_clock(ctx, at: dt.datetime) -> None:
    ctx.clock.advance(seconds=(at - ctx.now()).total_seconds())


def _warsaw(at: dt.datetime) -> str:
    return at.astimezone(WARSAW).strftime("%d.%m.%Y, godz. %H:%M")


def _days(not_after: dt.datetime, now: dt.datetime) -> int:
    return (not_after.astimezone(WARSAW).date() - now.astimezone(WARSAW).date()).days


def test_officers_see_the_expiring_list_and_their_address(office):
    ctx, _, login, staff, _, _ = office
    officer = login()
    page = officer.get("/expiring")
    assert page.status_code == 200
    assert 'value="kadry@zielona-gora.example"' in page.text
    assert staff["Wygasająca"].serial not in page.text  # 730 days away: not yet in the list
    bad = officer.post("/expiring/address", {"email": "to nie adres"}, form_page="/expiring")
    assert bad.status_code == 400 and "To nie jest poprawny adres e-mail." in bad.text


def test_the_address_form_sent_twice_is_saved_and_audited_once(office):
    """A double click on "Zapisz adres" (issue 18): one change, one result page."""
    ctx, _, login, _, _, _ = office
    officer = login()

    def changes() -> int:
        with ctx.db.reading() as s:
            return s.execute(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "user.notice_address",
                AuditEvent.object == "user:kadrowa")).scalar_one()
    before = changes()
    tokens = officer.form_tokens("/expiring")
    data = {**tokens, "email": "kadry@zielona-gora.example"}
    first = officer.client.post("/expiring/address", data=data)
    second = officer.client.post("/expiring/address", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    for _ in range(2):  # the result page, and its reload
        page = officer.get(first.headers["Location"]).text
        assert 'id="success"' in page and "Zapisano adres powiadomień." in page
    assert changes() == before + 1


def test_each_threshold_mails_once_in_polish_with_the_dates(office):
    ctx, jobs, login, staff, renewed, inbox = office
    cert = staff["Wygasająca"].certificate
    not_after = cert.not_valid_after_utc
    serial = staff["Wygasająca"].serial
    _set_clock(ctx, not_after - dt.timedelta(days=31))
    assert send_expiry_notices(jobs).sent == 0 and inbox.take() == []

    # the officer's list now shows it, and the renewed one marked as such
    _set_clock(ctx, not_after - dt.timedelta(days=30, minutes=-1))
    page = login().get("/expiring").text
    listed = re.search(r'<table id="expiring">.*?</table>', page, re.S)[0]
    assert serial in listed and staff["Odnowiony"].serial in listed
    assert "(odnowiony)" in listed and renewed.new_serial not in listed
    assert serial not in login("obca").get("/expiring").text  # another JST's officer

    for days in (30, 14, 3):
        _set_clock(ctx, not_after - dt.timedelta(days=days, minutes=-1))
        now = ctx.now()
        report = send_expiry_notices(jobs)
        assert (report.sent, report.failed) == (2, 0)
        got = {m["X-Envelope-To"]: m for m in inbox.take()}
        assert set(got) == {"ewa.wygasajaca@zielona-gora.example", "kadry@zielona-gora.example"}
        mine = got["ewa.wygasajaca@zielona-gora.example"]
        assert mine["From"] == SENDER and mine["X-Envelope-From"] == SENDER
        assert mine["Subject"] == f"Twój certyfikat wygasa {not_after.astimezone(WARSAW):%d.%m.%Y}"
        body = mine.get_content()
        left = _days(not_after, now)
        assert f"jest ważny do {_warsaw(not_after)} (pozostało {left} dni)" in body
        assert "Dzień dobry, Ewa Wygasająca" in body and serial in body and JST_NAME in body
        digest = got["kadry@zielona-gora.example"]
        assert digest["Subject"] == f"Wygasające certyfikaty w jednostce {JST_NAME}: 1"
        assert f"Ewa Wygasająca, Podpis pracownika JST, nr {serial}: ważny do " \
               f"{_warsaw(not_after)}" in digest.get_content()
        assert staff["Odnowiony"].serial not in digest.get_content()  # renewed already
        # the same round again, and one a minute later: nothing is sent twice
        assert send_expiry_notices(jobs).sent == 0
        ctx.clock.advance(minutes=1)
        assert send_expiry_notices(jobs).sent == 0 and inbox.take() == []

    with ctx.db.reading() as s:
        events = s.execute(select(AuditEvent).where(
            AuditEvent.action == "notice.expiry",
            AuditEvent.object == f"certificate:{serial}")).scalars().all()
        states = s.execute(select(ExpiryNotice.days_before, ExpiryNotice.state).where(
            ExpiryNotice.serial == serial)).all()
    audiences = sorted((json.loads(e.details) if isinstance(e.details, str) else e.details)
                       ["to"] for e in events)
    assert audiences == ["officer:kadrowa"] * 3 + ["subscriber"] * 3
    assert sorted(states) == sorted([(d, "sent") for d in (30, 14, 3)] * 2)
    assert "ewa.wygasajaca" not in "".join(str(e.details) for e in events)


def test_an_smtp_server_away_claims_nothing(office):
    ctx, _, _, _, renewed, _ = office
    away = _configure(ctx, free_port())
    _set_clock(ctx, renewed.certificate.not_valid_after_utc - dt.timedelta(days=2))
    with ctx.db.reading() as s:
        before = s.execute(select(func.count()).select_from(ExpiryNotice)).scalar_one()
    with pytest.raises(DependencyUnavailable, match="SMTP server"):
        send_expiry_notices(away)
    assert "expiry notices" in run_once(away)  # the jobs round: logged, tried again next round
    with ctx.db.reading() as s:
        assert s.execute(select(func.count()).select_from(ExpiryNotice)).scalar_one() == before


@pytest.mark.parametrize("table, message", [
    ('[smtp]\nhost = "x"\nport = 70000\nfrom = "a@b.pl"\n', "smtp.port"),
    ('[smtp]\nhost = "x"\nfrom = "nobody"\n', "smtp.from"),
    ('[smtp]\nhost = "x"\nfrom = "a@b.pl"\nuser = "u"\npassword_file = "nie-ma"\n',
     "smtp.password_file"),
    ('[expiry_notices]\ndays = [30, 30]\n', "expiry_notices.days"),
])
def test_a_bad_smtp_table_fails_loudly_at_load(office, table, message):
    ctx = office[0]
    config = ctx.settings.config_file
    saved = config.read_text()
    try:
        config.write_text(re.sub(r"\n\[smtp\].*?(?=\n\[|\Z)", "", saved, flags=re.S)
                          + "\n" + table)
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            load_settings(ctx.settings.home)
    finally:
        config.write_text(saved)
