"""The core's refusals said in Polish (or English) and put next to the field they are about.

The core's messages are English and technical ("pesel: '02270803625' is not valid (The
number's checksum…)"): right for the API and the logs, not for an officer at a desk (issue 18).
Each known refusal gets a plain sentence here; a form shows it next to its field.
"""

from __future__ import annotations

import re

from ca.errors import (
    AlreadyRevoked,
    BadCSR,
    BlockedKey,
    InvalidSubject,
    KeyInUse,
    RegCAError,
    Unauthorized,
    UnknownProfile,
    WeakKey,
)
from enrollment_web.i18n import t
from ra.token import TokenError

__all__ = ["explain"]

# An InvalidSubject's field (the core's name) -> the form field and what to say.
_FIELDS = {
    "given_name": ("given_name", ("Podaj imię (litery, do 64 znaków).",
                                  "Give the given name (letters, up to 64 characters).")),
    "surname": ("surname", ("Podaj nazwisko (litery, do 64 znaków).",
                            "Give the surname (letters, up to 64 characters).")),
    "pesel": ("pesel", ("Numer PESEL jest nieprawidłowy: sprawdź, czy ma 11 cyfr i poprawną "
                        "cyfrę kontrolną.", "This PESEL is not valid: check that it has 11 "
                        "digits and the right check digit.")),
    "email": ("email", ("Podaj poprawny adres e-mail, np. jan.kowalski@example.pl.",
                        "Give a valid e-mail address, e.g. jan.kowalski@example.pl.")),
    "title": ("title", ("Stanowisko może zawierać tylko litery, cyfry i znaki interpunkcyjne.",
                        "The job title may hold letters, digits and punctuation only.")),
    "identity_document": ("document_number", ("Podaj rodzaj i numer dokumentu tożsamości.",
                                              "Give the identity document's type and number.")),
    "identity_document.type": ("document_type", ("Wybierz dowód osobisty albo paszport.",
                                                 "Pick an identity card or a passport.")),
    "identity_document.number": ("document_number", (
        "Numer dokumentu jest nieprawidłowy dla wybranego rodzaju dokumentu.",
        "The document number is not valid for the chosen document type.")),
    "organization_teryt": ("organization_teryt", ("Wybierz JST z listy.",
                                                  "Pick a JST from the list.")),
    "kind": ("kind", ("Wybierz rodzaj wnioskodawcy.", "Pick the applicant kind.")),
    "revocation_password": ("revocation_password", (
        "Hasło do unieważnienia musi mieć co najmniej 8 znaków.",
        "The revocation password needs at least 8 characters.")),
    "profile": ("profile", ("Ten profil nie pasuje do rodzaju wnioskodawcy.",
                            "This profile does not fit the applicant kind.")),
}
_NEEDS_ID = ("Mieszkaniec musi mieć numer PESEL albo dokument tożsamości.",
             "A resident needs a PESEL or an identity document.")
# A token's refusals, by what the core's message says; the field they concern.
_TOKEN = (
    ("wrong SO PIN", "so_pin", ("Nieprawidłowy PIN SO (PUK).", "Wrong SO PIN (PUK).")),
    ("SO PIN of token", "so_pin", ("PIN SO (PUK) tokenu też jest zablokowany; tokenu nie da się "
                                   "odblokować, trzeba go wymienić.",
                                   "The token's SO PIN is locked too; replace the token.")),
    ("wrong PIN", "pin", ("Nieprawidłowy PIN tokenu.", "Wrong token PIN.")),
    ("is locked", "pin", ("PIN tokenu jest zablokowany; odblokuj go PIN-em SO.",
                          "The token PIN is locked; unblock it with the SO PIN.")),
    ("PIN must be", "pin", ("PIN musi mieć od 4 do 16 cyfr.", "The PIN must be 4 to 16 digits.")),
    ("new PIN", "new_pin", ("Token nie przyjmuje PIN-u tej długości.",
                            "The token does not accept a PIN of this length.")),
    ("no user PIN", "pin", ("Token nie ma jeszcze PIN-u użytkownika: zaznacz inicjowanie "
                            "czystego tokenu.", "The token has no user PIN yet: tick "
                            "initialising a blank token.")),
    ("no token labelled", "token_label", ("W czytniku nie ma tokenu o tej etykiecie.",
                                          "No token with this label is in the reader.")),
    ("more than one token", "token_label", ("Kilka tokenów ma tę etykietę; zostaw w czytniku "
                                            "tylko jeden.", "Several tokens have this label; "
                                            "leave only one in the reader.")),
    ("already initialised", "token_label", ("Token o tej etykiecie jest już zainicjowany.",
                                            "A token with this label is already initialised.")),
    ("already holds a key", "token_label", ("Token ma już klucz dla tego profilu.",
                                            "The token already holds a key for this profile.")),
    ("is full", "token_label", ("Na tokenie nie ma miejsca na nowy klucz.",
                                "The token has no room for a new key.")),
)


_CHARACTER = re.compile(r"character (U\+[0-9A-F]{4,6})")


def _text_problem(exc: InvalidSubject) -> str | None:
    """What is wrong with a name-like field (ca.identity.validate_text), said plainly."""
    found = _CHARACTER.search(exc.message)
    if found:
        return t(f"Zawiera niedozwolony znak {found[1]} (znak sterujący lub niewidoczny).",
                 f"Holds a character that is not allowed: {found[1]} (a control or invisible "
                 "character).")
    if "mixes letters" in exc.message:
        return t("Miesza litery różnych alfabetów (np. łacińskie i cyrylicę), które wyglądają "
                 "tak samo.", "Mixes letters of different scripts (e.g. Latin and Cyrillic) "
                 "that look alike.")
    if "at most" in exc.message:
        return t("Za długie.", "Too long.")
    return None


def explain(exc: RegCAError) -> tuple[str | None, str]:
    """(the form field the refusal is about or None, the sentence to show)."""
    if isinstance(exc, InvalidSubject):
        if exc.field == "pesel" and "needs a PESEL" in exc.message:
            return "pesel", t(*_NEEDS_ID)
        problem = _text_problem(exc)
        if problem and exc.field in _FIELDS:
            return _FIELDS[exc.field][0], problem
        field, words = _FIELDS.get(exc.field, (None, ("Jedna z wartości jest nieprawidłowa.",
                                                      "One of the values is not valid.")))
        return field, t(*words)
    if isinstance(exc, TokenError):
        for needle, field, words in _TOKEN:
            if needle in exc.message:
                return field, t(*words)
        return None, t("Token nie odpowiada albo odmówił operacji; sprawdź czytnik i spróbuj "
                       "ponownie.", "The token does not answer or refused; check the reader "
                       "and try again.")
    if isinstance(exc, WeakKey):
        return "csr", t("Klucz w żądaniu CSR jest za słaby dla tego profilu.",
                        "The CSR's key is too weak for this profile.")
    if isinstance(exc, KeyInUse):
        return "csr", t("Klucz z tego żądania CSR jest już w certyfikacie innej osoby; "
                        "wygeneruj nowy klucz.", "The CSR's key is already in another "
                        "person's certificate; generate a new key.")
    if isinstance(exc, BlockedKey):
        return "csr", t("Klucz z tego żądania CSR jest zablokowany: jego certyfikat "
                        "unieważniono z powodu utraty lub kompromitacji klucza. Wygeneruj nowy "
                        "klucz.", "The CSR's key is blocked: its certificate was revoked as "
                        "lost or compromised. Generate a new key.")
    if isinstance(exc, BadCSR):
        return "csr", t("Plik nie jest poprawnym żądaniem CSR (PKCS#10) albo jego podpis się "
                        "nie zgadza.", "The file is not a valid CSR (PKCS#10) or its signature "
                        "does not match.")
    if isinstance(exc, UnknownProfile):
        return "profile", t("Nie ma takiego profilu.", "No such profile.")
    if isinstance(exc, AlreadyRevoked):
        return None, t("Ten certyfikat jest już unieważniony.",
                       "This certificate is already revoked.")
    if isinstance(exc, Unauthorized):
        return "password", t("Nieprawidłowe hasło do unieważnienia.",
                             "Wrong revocation password.")
    return None, t("Operacja nie powiodła się. Spróbuj ponownie; jeśli błąd się powtórzy, "
                   "zgłoś go operatorowi.", "The operation failed. Try again; if it happens "
                   "again, tell the operator.")
