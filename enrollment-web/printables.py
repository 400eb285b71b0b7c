"""The office's printed documents as PDF (fpdf2): the application form (wniosek) for the
applicant's signature, the handover protocol (protokół wydania), the sealed PIN/PUK letter and
the pickup-code slip.

Each names the JST and the date (Europe/Warsaw). Only the application form carries the PESEL:
it is the document the applicant signs to confirm their data; the others identify the person
by name and go further (an envelope, a counter, a file). The text is embedded in DejaVu Sans
(Debian's fonts-dejavu-core), which has every Polish letter; pdftotext reads it back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from ca.errors import ConfigurationError

__all__ = ["Person", "CertificateLine", "application_form", "handover_protocol", "pin_letter",
           "pickup_slip", "local_date"]

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_WARSAW = ZoneInfo("Europe/Warsaw")
_KINDS = {"resident": "mieszkaniec", "staff": "pracownik JST"}
_DOCUMENTS = {"IDC": "dowód osobisty", "PAS": "paszport"}


@dataclass(frozen=True)
class Person:
    given_name: str
    surname: str
    kind: str
    pesel: str | None = None
    email: str | None = None
    title: str | None = None
    document_type: str | None = None
    document_number: str | None = None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.surname}"


@dataclass(frozen=True)
class CertificateLine:
    profile: str
    serial: str
    not_after: dt.datetime


def local_date(at: dt.datetime) -> str:
    return at.astimezone(_WARSAW).strftime("%d.%m.%Y")


class _Document(FPDF):
    def __init__(self, title: str, org_name: str, at: dt.datetime, operator: str):
        super().__init__(format="A4")
        for style, file in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf")):
            path = FONT_DIR / file
            if not path.exists():
                raise ConfigurationError(f"{path}: missing; install Debian's fonts-dejavu-core "
                                         "(make install does) for the printable PDFs")
            self.add_font("DejaVu", style, str(path))
        self.set_title(title)
        self.set_creator("RegCA")
        self.set_creation_date(at)
        self.set_margins(20, 20, 20)
        self.add_page()
        self.set_font("DejaVu", "B", 11)
        self.cell(0, 6, org_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", "", 9)
        self.cell(0, 5, f"Punkt rejestracji: {operator}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 5, f"Data: {local_date(at)}", align="R", new_x=XPos.LMARGIN,
                  new_y=YPos.NEXT)
        self.ln(6)
        self.set_font("DejaVu", "B", 14)
        self.multi_cell(0, 8, title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(4)

    def para(self, text: str, size: int = 10, bold: bool = False) -> None:
        self.set_font("DejaVu", "B" if bold else "", size)
        self.multi_cell(0, size * 0.55, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def row(self, label: str, value: str | None) -> None:
        self.set_font("DejaVu", "", 10)
        self.cell(60, 7, label, border="B")
        self.set_font("DejaVu", "B", 10)
        self.multi_cell(0, 7, value or "—", border="B", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def signatures(self, *labels: str) -> None:
        self.ln(18)
        width = (self.w - self.l_margin - self.r_margin) / len(labels)
        y = self.get_y()
        for n, label in enumerate(labels):
            x = self.l_margin + n * width
            self.line(x + 4, y, x + width - 4, y)
            self.set_xy(x, y + 1)
            self.set_font("DejaVu", "", 8)
            self.multi_cell(width, 4, label, align="C")
        self.set_y(y + 14)

    def bytes(self) -> bytes:
        return bytes(self.output())


def application_form(number: int, person: Person, org_name: str, profiles: list[str],
                     at: dt.datetime, operator: str) -> bytes:
    doc = _Document(f"Wniosek o wydanie certyfikatu nr {number}", org_name, at, operator)
    doc.para("Dane wnioskodawcy", 11, bold=True)
    doc.row("Imię", person.given_name)
    doc.row("Nazwisko", person.surname)
    doc.row("PESEL", person.pesel)
    if person.document_type or person.document_number:
        doc.row("Dokument tożsamości", f"{_DOCUMENTS.get(person.document_type or '', '')} "
                                       f"{person.document_number or ''}".strip())
    doc.row("Adres e-mail", person.email)
    doc.row("Rodzaj wnioskodawcy", _KINDS.get(person.kind, person.kind))
    if person.kind == "staff":
        doc.row("Stanowisko", person.title)
    doc.row("Jednostka (JST)", org_name)
    doc.row("Wnioskowane certyfikaty", ", ".join(profiles))
    doc.ln(6)
    doc.para("Oświadczenia wnioskodawcy", 11, bold=True)
    doc.para("1. Oświadczam, że dane podane we wniosku są zgodne z prawdą, a przedstawiony "
             "dokument tożsamości należy do mnie.")
    doc.para("2. Zapoznałem/zapoznałam się z Polityką certyfikacji i Kodeksem postępowania "
             "certyfikacyjnego (CP/CPS) oraz akceptuję ich postanowienia, w tym obowiązek "
             "ochrony klucza prywatnego i kodów PIN oraz niezwłocznego zgłoszenia ich utraty.")
    doc.para("3. Przyjmuję do wiadomości, że moje dane osobowe są przetwarzane w celu wydania "
             "i obsługi certyfikatu, zgodnie z klauzulą informacyjną RODO dostępną w punkcie "
             "rejestracji i na stronie usługi.")
    doc.signatures("Data i czytelny podpis wnioskodawcy",
                   "Podpis i pieczęć inspektora rejestracji")
    return doc.bytes()


def handover_protocol(number: int, person: Person, org_name: str, officer: str,
                      certificates: list[CertificateLine], tokens: list[tuple[str, str]],
                      at: dt.datetime, operator: str) -> bytes:
    """``tokens``: (label, serial number) of each token handed over."""
    doc = _Document(f"Protokół wydania nr {number}", org_name, at, operator)
    doc.para(f"W dniu {local_date(at)} w punkcie rejestracji {org_name} wydano:")
    doc.row("Odbierający", person.name)
    doc.row("Wydający (inspektor rejestracji)", officer)
    for label, serial in tokens:
        doc.row("Urządzenie (token)", f"{label}" + (f", nr seryjny {serial}" if serial else ""))
    doc.ln(4)
    doc.para("Certyfikaty", 11, bold=True)
    doc.set_font("DejaVu", "B", 9)
    for width, head in ((55, "Profil"), (80, "Numer seryjny"), (35, "Ważny do")):
        doc.cell(width, 7, head, border=1)
    doc.ln()
    doc.set_font("DejaVu", "", 8)
    for c in certificates:
        doc.cell(55, 7, c.profile, border=1)
        doc.cell(80, 7, c.serial, border=1)
        doc.cell(35, 7, local_date(c.not_after), border=1)
        doc.ln()
    doc.ln(4)
    doc.para("Odbierający potwierdza odbiór wymienionych certyfikatów"
             + (", urządzenia i zamkniętej koperty z kodami PIN i PUK" if tokens else "")
             + ", sprawdzenie zgodności danych w certyfikatach z danymi we wniosku oraz "
             "pouczenie o zasadach ochrony klucza prywatnego i zgłaszania jego utraty.")
    doc.signatures("Podpis wydającego", "Data i czytelny podpis odbierającego")
    return doc.bytes()


def pin_letter(person: Person, org_name: str, token_label: str, pin: str | None, puk: str,
               at: dt.datetime, operator: str) -> bytes:
    doc = _Document("Kody PIN i PUK — poufne", org_name, at, operator)
    doc.para("Przekazać w zamkniętej kopercie wyłącznie posiadaczowi urządzenia.", bold=True)
    doc.row("Posiadacz", person.name)
    doc.row("Urządzenie (token)", token_label)
    doc.ln(6)
    doc.set_font("DejaVu", "B", 16)
    if pin:
        doc.cell(0, 12, f"PIN: {pin}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.cell(0, 12, f"PUK (PIN administratora): {puk}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(4)
    doc.para("PIN chroni klucze na urządzeniu; po kilku błędnych próbach urządzenie blokuje się. "
             "PUK służy do odblokowania i nadania nowego kodu PIN w punkcie rejestracji. "
             "Nie przechowuj kodów razem z urządzeniem i nikomu ich nie ujawniaj. Utratę "
             "urządzenia lub kodów zgłoś niezwłocznie w punkcie rejestracji.")
    return doc.bytes()


def pickup_slip(person: Person, org_name: str, code: str, pickup_url: str, at: dt.datetime,
                operator: str) -> bytes:
    doc = _Document("Kod odbioru certyfikatu", org_name, at, operator)
    doc.row("Wnioskodawca", person.name)
    doc.ln(6)
    doc.set_font("DejaVu", "B", 20)
    doc.cell(0, 14, code, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(4)
    doc.para(f"Certyfikat pobierzesz na stronie {pickup_url}, wpisując powyższy kod. Kod jest "
             "jednorazowy; nikomu go nie przekazuj. Jeśli go zgubisz, punkt rejestracji wyda "
             "nowy, a ten przestanie działać.")
    return doc.bytes()
