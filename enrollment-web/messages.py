"""The core's refusals said in Polish (or English) and put next to the field they are about.

The core's messages are English and technical ("pesel: '02270803625' is not valid (The
number's checksum…)"): right for the API and the logs, not for an officer at a desk (issue 18).
Each known refusal gets a plain sentence here; a form shows it next to its field, the error
page (``errorpages``) shows it alone. Every kind of ``ca.errors`` (and the RA's own) has one
that says what happened and what to do; a refusal whose specifics help the visitor (which
enrolment, which JST, which limit) has them said again in the visitor's language.
"""

from __future__ import annotations

import re

from ca.errors import (
    AlreadyInitialised,
    AlreadyRevoked,
    BackedOff,
    BadCSR,
    BlockedKey,
    ConfigurationError,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    HsmUnavailable,
    InvalidSubject,
    KeyInUse,
    KeyMismatch,
    Malformed,
    NotFound,
    PayloadTooLarge,
    RegCAError,
    TokenOffline,
    TooManyRequests,
    Unauthorized,
    UnknownProfile,
    Unprocessable,
    WeakKey,
)
from ca.field_crypto import BrokenSeal
from enrollment_web.i18n import t
from ra.enrolment import PickupExpired
from ra.organizations import OrganizationInactive
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


# Refusals whose specifics the visitor can use, by the core's words: (kind, pattern, Polish,
# English), the templates filled with the pattern's groups; the first that matches decides.
_SPECIFIC: tuple[tuple[type[RegCAError], re.Pattern[str], str, str], ...] = tuple(
    (kind, re.compile(pattern), pl, en) for kind, pattern, pl, en in (
        (NotFound, r"no such certificate among yours",
         "Nie masz takiego certyfikatu. Wróć do listy swoich certyfikatów.",
         "You have no such certificate. Go back to the list of your certificates."),
        (NotFound, r"^no enrolment (\d+)",
         "Nie ma wniosku nr {0}. Sprawdź numer albo wyszukaj wniosek na liście.",
         "There is no enrolment number {0}. Check the number or search the list."),
        (NotFound, r"^no (?:enrolled )?certificate with serial ([0-9A-Fa-f]+)",
         "Nie ma certyfikatu o numerze seryjnym {0}. Sprawdź numer albo wyszukaj go na liście.",
         "There is no certificate with serial number {0}. Check the number or search the "
         "list."),
        (NotFound, r"^no organisation (\S+)",
         "Nie ma JST {0}. Wybierz JST z listy.", "There is no JST {0}. Pick a JST from the list."),
        (NotFound, r"^no token (\d+) in the registry",
         "W rejestrze nie ma tokenu nr {0}. Wróć do listy tokenów.",
         "The registry holds no token number {0}. Go back to the list of tokens."),
        (NotFound, r"is the home initialised",
         "Urząd nie jest jeszcze gotowy do wydawania certyfikatów. Zgłoś to operatorowi.",
         "The authority is not ready to issue certificates yet. Tell the operator."),
        (Forbidden, r"^JST (\d{7}) is outside your registration area",
         "JST {0} jest poza Twoim obszarem rejestracji. Wybierz jedną ze swoich JST.",
         "JST {0} is outside your registration area. Pick one of your own JSTs."),
        (OrganizationInactive, r"^(?:\w+: )?(\S.*) \((\d{7})\) is deactivated",
         "JST {0} ({1}) została wyłączona i nie przyjmuje nowych wniosków. Wybierz inną JST "
         "albo poproś administratora o jej włączenie.",
         "JST {0} ({1}) was deactivated and takes no new enrolments. Pick another JST or ask "
         "an administrator to reactivate it."),
        (TooManyRequests, r"JST (\d{7}) has used (\d+) of its (\d+) .* for (\d{4}-\d{2})",
         "JST {0} wykorzystała już {1} z {2} dostępnych w miesiącu {3}. Limit odnowi się w "
         "przyszłym miesiącu; wcześniej może go podnieść operator.",
         "JST {0} has used {1} of its {2} for {3}. The limit starts again next month; the "
         "operator can raise it sooner."),
        (Conflict, r"submitted by someone else",
         "Ten formularz wysłał już ktoś inny. Otwórz stronę od nowa.",
         "Someone else already sent this form. Open the page again."),
        (Conflict, r"^certificate ([0-9a-f]+) is not on hold",
         "Certyfikat {0} nie jest zawieszony, więc nie można go odwiesić.",
         "Certificate {0} is not on hold, so it cannot be released."),
        (Conflict, r"^certificate ([0-9a-f]+) is \w+; only a valid",
         "Odnowić można tylko ważny certyfikat, a certyfikat {0} nie jest ważny; wydaj nowy.",
         "Only a valid certificate is renewed and certificate {0} is not valid; issue a new "
         "one."),
        (Conflict, r"^token (\d+) is \w+",
         "Token nr {0} jest w stanie, który nie pozwala na tę operację. Odśwież stronę tokenu "
         "i sprawdź jego stan.",
         "Token number {0} is in a state that does not allow this. Reload the token's page and "
         "check its state."),
        (Unauthorized, r"session has ended",
         "Sesja wygasła. Zaloguj się ponownie.", "Your session has ended. Log in again."),
        (Unauthorized, r"pickup code is not valid",
         "Kod odbioru jest nieprawidłowy albo został już użyty. Nowy kod wyda urzędnik.",
         "The pickup code is wrong or has already been used. An officer can give a new one."),
        (Unauthorized, r"one-time code",
         "Kod jednorazowy się nie zgadza. Wpisz aktualny kod z aplikacji.",
         "The one-time code does not match. Type the current code from the app."),
        (Unauthorized, r"wrong user name or password",
         "Nieprawidłowa nazwa użytkownika lub hasło.", "Wrong user name or password."),
        (Unauthorized, r"revocation password do not match",
         "Kod lub numer seryjny nie pasuje do hasła do unieważnienia. Sprawdź oba i spróbuj "
         "ponownie.", "The code or serial number and the revocation password do not match. "
         "Check both and try again."),
        (Malformed, r"^password: at least (\d+) characters",
         "Hasło musi mieć co najmniej {0} znaków.", "The password needs at least {0} "
         "characters."),
        (Malformed, r"^month: ",
         "Podaj miesiąc w postaci RRRR-MM, np. 2026-03.",
         "Give the month as YYYY-MM, e.g. 2026-03."),
    ))

# What every kind means for the visitor, the most specific kind first: what happened, what to
# do. A kind without a sentence of its own says its parent's.
_KINDS: tuple[tuple[type[RegCAError], str, str], ...] = (
    (PickupExpired, "Ten kod odbioru wygasł. Nowy kod wyda urzędnik.",
     "This pickup code has expired. An officer can give a new one."),
    (Unauthorized, "Nie udało się potwierdzić, kim jesteś: hasło, kod albo sesja się nie zgadza "
     "lub wygasła. Zaloguj się ponownie albo sprawdź wpisane dane.",
     "We could not confirm who you are: a password, code or session does not match or has "
     "ended. Log in again or check what you typed."),
    (Forbidden, "Nie masz uprawnień do tej operacji albo ta sprawa należy do innej JST.",
     "You are not allowed to do this, or the matter belongs to another JST."),
    (NotFound, "Nie znaleziono tego, czego szukasz. Sprawdź adres albo wróć do listy.",
     "What you are looking for was not found. Check the address or go back to the list."),
    (OrganizationInactive, "Ta JST została wyłączona i nie przyjmuje nowych wniosków.",
     "This JST was deactivated and takes no new enrolments."),
    (AlreadyInitialised, "To zostało już przygotowane wcześniej; nie trzeba robić tego ponownie.",
     "This was already set up before; there is no need to do it again."),
    (Conflict, "Obecny stan tej sprawy nie pozwala na tę operację. Odśwież stronę i sprawdź "
     "jej stan.", "The matter's current state does not allow this. Reload the page and check "
     "its state."),
    (PayloadTooLarge, "Przesłany plik lub formularz jest za duży. Wyślij mniejszy.",
     "The file or form you sent is too large. Send a smaller one."),
    (Unprocessable, "Przesłanych danych nie można przyjąć: ich treść nie przeszła sprawdzenia. "
     "Sprawdź plik i spróbuj ponownie.", "What you sent cannot be accepted: its content did "
     "not pass the checks. Check the file and try again."),
    (TooManyRequests, "Limit tej JST na ten miesiąc został wyczerpany. Odnowi się w przyszłym "
     "miesiącu; wcześniej może go podnieść operator.", "This JST's limit for this month is "
     "used up. It starts again next month; the operator can raise it sooner."),
    (Malformed, "Dane są niekompletne albo mają zły format. Sprawdź wpisane dane i spróbuj "
     "ponownie.", "Something you sent is incomplete or has the wrong format. Check what you "
     "typed and try again."),
    (TokenOffline, "Klucz główny jest wyłączony i używa się go tylko podczas ceremonii. Zgłoś "
     "to operatorowi.", "The root key is offline and used only in a ceremony. Tell the "
     "operator."),
    (KeyMismatch, "Klucz w module kryptograficznym (HSM) nie pasuje do swojego certyfikatu, "
     "więc nic nie zostało podpisane. Zgłoś to operatorowi.", "A key in the hardware security "
     "module (HSM) does not match its certificate, so nothing was signed. Tell the operator."),
    (HsmUnavailable, "Moduł kryptograficzny (HSM) jest chwilowo niedostępny. Spróbuj za "
     "chwilę; jeśli to się powtórzy, zgłoś to operatorowi.", "The hardware security module "
     "(HSM) is unavailable just now. Try again shortly; if it happens again, tell the "
     "operator."),
    (DependencyUnavailable, "Usługa, od której to zależy (znacznik czasu, OCSP lub lista CRL), "
     "chwilowo nie odpowiada. Spróbuj za chwilę.", "A service this depends on (time-stamping, "
     "OCSP or a CRL) does not answer just now. Try again shortly."),
    (ConfigurationError, "Usługa jest źle skonfigurowana. Zgłoś to operatorowi.",
     "The service is misconfigured. Tell the operator."),
    (BrokenSeal, "Zapisanych danych nie da się odczytać: ich zabezpieczenie zostało naruszone. "
     "Zgłoś to operatorowi.", "Stored data cannot be read: its protection was broken. Tell "
     "the operator."),
)
_FAILED = ("Operacja nie powiodła się. Spróbuj ponownie; jeśli błąd się powtórzy, zgłoś go "
           "operatorowi.", "The operation failed. Try again; if it happens again, tell the "
           "operator.")


def _specific(exc: RegCAError) -> str | None:
    for kind, pattern, pl, en in _SPECIFIC:
        found = isinstance(exc, kind) and pattern.search(exc.message)
        if found:
            return t(pl.format(*found.groups()), en.format(*found.groups()))
    return None


def _kind(exc: RegCAError) -> str:
    for kind, pl, en in _KINDS:
        if isinstance(exc, kind):
            return t(pl, en)
    return t(*_FAILED)


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
    if isinstance(exc, BackedOff):
        return None, t(f"Zbyt wiele nieudanych prób. Spróbuj ponownie za {exc.retry_after} s.",
                       f"Too many failed attempts. Try again in {exc.retry_after} s.")
    if isinstance(exc, Unauthorized) and "wrong revocation password" in exc.message:
        return "password", t("Nieprawidłowe hasło do unieważnienia.",
                             "Wrong revocation password.")
    if isinstance(exc, OrganizationInactive):
        return "organization_teryt", _specific(exc) or _kind(exc)
    return None, _specific(exc) or _kind(exc)
