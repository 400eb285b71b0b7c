"""Bulk staff enrolment through the composed WSGI app: the dry run names each bad row's problems
in Polish and writes nothing; confirming records the good rows in one transaction and one
audit event; confirming again adds nothing; 500 rows go through (the time is printed)."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import time

import pytest
from sqlalchemy import func, select
from webclient import Visitor, add_staff

from ca.store.models import AuditEvent, Enrolment
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST_A, JST_SWIDNICA, JST_OTHER = "0862011", "0809052", "0861011"
SWIDNICA_REGON = "080000041"
HEADER = "imię;nazwisko;PESEL;e-mail;stanowisko;profile;JST"


def pesel(n: int) -> str:
    """A valid PESEL (born 1 March 1980, serial ``n``) with its check digit."""
    body = f"800301{n:04d}"
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return body + str((10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 10) % 10)


def bad_checksum(p: str) -> str:
    return p[:-1] + str((int(p[-1]) + 1) % 10)


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secret = add_staff(ctx, "kadry", "officer", [JST_A, JST_SWIDNICA])
    app = create_app(ctx.settings.home, ctx)
    return ctx, app, secret


@pytest.fixture
def officer(web):
    ctx, app, secret = web
    return Visitor(app, ctx).login("kadry", secret)


def _count(ctx) -> int:
    with ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(Enrolment)).scalar_one()


def _upload(v: Visitor, text: str | bytes, name="pracownicy.csv"):
    data = text.encode() if isinstance(text, str) else text
    return v.post("/enrolments/import", {"file": (io.BytesIO(data), name)})


def _confirm(v: Visitor, page: str):
    data = re.search(r'id="content" name="content" type="hidden" value="([^"]+)"', page)[1]
    sha = re.search(r'id="sha256" name="sha256" type="hidden" value="([0-9a-f]{64})"', page)[1]
    return v.post("/enrolments/import/confirm", {"content": data, "sha256": sha},
                  form_page="/enrolments/import")


def _problems(page: str) -> dict[int, str]:
    table = re.search(r'<table id="import-problems">(.*?)</table>', page, re.S)
    rows = re.findall(r"<tr><td>(\d+)</td>(.*?)</tr>", table[1], re.S) if table else []
    return {int(line): html.unescape(rest) for line, rest in rows}


MIXED = "\n".join([
    HEADER,
    f"Anna;Kowalska;{pesel(1)};anna.kowalska@zielona-gora.pl;inspektor;staff-signing;{JST_A}",
    f"Jan;Nowak;{bad_checksum(pesel(2))};;referent;staff-signing;{JST_A}",
    f"Ewa;Zając;{pesel(1)};;;staff-signing;{JST_A}",
    f"Piotr;Wójcik;{pesel(4)};;;staff-signing;1234567",
    f"Maria;;{pesel(5)};;;staff-signing;{JST_A}",
    f"Józef;Łęcki;{pesel(6)};;;staff-magic;{JST_A}",
    f"Zofia;Kamińska;{pesel(7)};zofia@gorzow.pl;;staff-signing;{JST_OTHER}",
    f"Łucja;Źrebiec;{pesel(8)};lucja@swidnica.pl;sekretarz;staff-signing staff-authentication;"
    f"{SWIDNICA_REGON}",
    f"Adam;Gąska;{pesel(9)};to-nie-adres;;staff-signing;{JST_A}",
]) + "\n"


def test_dry_run_lists_each_bad_rows_problems_in_polish_and_writes_nothing(web, officer):
    ctx = web[0]
    before = _count(ctx)
    r = _upload(officer, MIXED)
    assert r.status_code == 200, r.text
    assert "Wierszy: 9; poprawnych: 2; z błędami: 7." in r.text
    problems = _problems(r.text)
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 10]
    assert "nieprawidłowy PESEL (cyfra kontrolna lub data urodzenia)" in problems[3]
    assert "ten sam PESEL już w wierszu 2 pliku" in problems[4]
    assert "nieznana JST „1234567”" in problems[5]
    assert "brak wartości w kolumnie „nazwisko”" in problems[6]
    assert "nieznany profil „staff-magic”" in problems[7]
    assert f"JST {JST_OTHER} (Gmina Miasto Gorzów Wielkopolski) nie należy do Twojego zakresu" \
        in problems[8]
    assert "nieprawidłowy adres e-mail" in problems[10]
    assert pesel(2)[:-1] not in r.text  # PESELs are masked in the report
    assert _count(ctx) == before


def test_confirmed_rows_become_enrolments_in_one_audited_operation(web, officer):
    ctx = web[0]
    before = _count(ctx)
    data = ("\ufeff" + MIXED.replace(";", ",")).encode()  # Excel's "CSV UTF-8": BOM, commas
    r = _upload(officer, data)
    assert "Wierszy: 9; poprawnych: 2; z błędami: 7." in r.text
    r = _confirm(officer, r.text)
    assert r.status_code == 200, r.text
    assert "Zaimportowano 2 z 9 wierszy (pominięto 7)" in r.text
    assert _count(ctx) == before + 2
    with ctx.db.reading() as s:
        rows = s.execute(select(Enrolment).order_by(Enrolment.id.desc()).limit(2)).scalars()
        got = {(e.surname, e.organization_teryt, e.kind, e.requested_profiles) for e in rows}
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "enrolment.bulk_import")
                          .order_by(AuditEvent.seq.desc())).scalars().first()
    assert got == {("Kowalska", JST_A, "staff", "staff-signing"),
                   ("Źrebiec", JST_SWIDNICA, "staff", "staff-signing staff-authentication")}
    details = json.loads(event.details) if isinstance(event.details, str) else event.details
    assert details["sha256"] == hashlib.sha256(data).hexdigest()
    assert (details["rows"], details["imported"], details["skipped"]) == (9, 2, 7)
    assert pesel(1) not in json.dumps(details)

    # the same confirmation again (a reload, a double click): nothing more is recorded
    again = _upload(officer, data)
    assert "Wierszy: 9; poprawnych: 0; z błędami: 9." in again.text
    assert "już zarejestrowana jako pracownik tej JST" in _problems(again.text)[2]
    r = officer.post("/enrolments/import/confirm",
                     {"content": base64.b64encode(data).decode(),
                      "sha256": hashlib.sha256(data).hexdigest()},
                     form_page="/enrolments/import")
    assert r.status_code == 400 and "Nie zaimportowano niczego" in r.text
    assert _count(ctx) == before + 2


def test_confirmation_of_another_file_than_the_dry_run_is_refused(web, officer):
    ctx = web[0]
    before = _count(ctx)
    shown = f"{HEADER}\nOla;Lis;{pesel(30)};;;staff-signing;{JST_A}\n".encode()
    sent = f"{HEADER}\nOla;Lis;{pesel(31)};;;staff-signing;{JST_A}\n".encode()
    r = officer.post("/enrolments/import/confirm",
                     {"content": base64.b64encode(sent).decode(),
                      "sha256": hashlib.sha256(shown).hexdigest()},
                     form_page="/enrolments/import")
    assert r.status_code == 400 and "plik różni się" in r.text
    assert _count(ctx) == before


@pytest.mark.parametrize("body, message", [
    (b"\xff\xfeimi\x00", "kodowaniu UTF-8"),
    (b"", "Plik jest pusty"),
    ("imię;nazwisko;PESEL\nA;B;1\n".encode(), "Brak kolumn: profile, JST"),
    (f"{HEADER}\n".encode(), "nie zawiera żadnego wiersza"),
])
def test_a_file_that_is_not_a_staff_list_is_explained(web, officer, body, message):
    r = _upload(officer, body)
    assert r.status_code == 400 and message in r.text


def test_an_auditor_cannot_import(web):
    ctx, app, _ = web
    secret = add_staff(ctx, "rewident", "auditor")
    v = Visitor(app, ctx).login("rewident", secret)
    assert v.get("/enrolments/import").status_code == 403


def test_five_hundred_staff_import_and_the_time_is_shown(web, officer, capsys):
    ctx = web[0]
    before = _count(ctx)
    lines = [HEADER] + [
        f"Pracownik{n};Testowy;{pesel(1000 + n)};p{n}@zielona-gora.pl;referent;"
        f"staff-signing staff-authentication;{JST_A}" for n in range(500)]
    lines[100] = lines[100].replace(pesel(1099), bad_checksum(pesel(1099)))  # line 101
    started = time.perf_counter()
    r = _upload(officer, "\n".join(lines) + "\n")
    dry = time.perf_counter() - started
    assert "Wierszy: 500; poprawnych: 499; z błędami: 1." in r.text
    assert list(_problems(r.text)) == [101]
    started = time.perf_counter()
    r = _confirm(officer, r.text)
    confirmed = time.perf_counter() - started
    assert "Zaimportowano 499 z 500 wierszy" in r.text
    assert _count(ctx) == before + 499
    database = ctx.settings.database_url.split(":")[0]
    with capsys.disabled():
        print(f"\n[bulk import, {database}] 500 rows: dry run {dry:.2f} s, "
              f"confirmed import {confirmed:.2f} s (issue 18 asks for under 30 s)")
