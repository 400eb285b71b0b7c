"""Identity checks for subscribers and JST organisations; errors name the field.

Check digits come from python-stdnum (PESEL, NIP, REGON). TERYT (TERC) structure and the
ETSI EN 319 412-1 §5.1.3 semantics identifiers (``PNOPL-``, ``IDCPL-``, ``PASPL-``,
``VATPL-``) are ours.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stdnum.exceptions import ValidationError
from stdnum.pl import nip as _nip
from stdnum.pl import pesel as _pesel
from stdnum.pl import regon as _regon

from ca.errors import InvalidSubject

__all__ = [
    "Subscriber", "IdentityDocument", "validate_pesel", "validate_nip", "validate_regon",
    "validate_teryt", "validate_organization_key", "validate_email", "validate_text",
    "parse_subscriber", "mask_pesel",
]

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
                    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
# Polish identity card (3 letters, 6 digits) and passport (2 letters, 7 digits) numbers.
_DOCUMENTS = {"IDC": re.compile(r"^[A-Z]{3}[0-9]{6}$"), "PAS": re.compile(r"^[A-Z]{2}[0-9]{7}$")}
# TERC voivodeship codes are the even numbers 02..32.
_VOIVODESHIPS = {f"{n:02d}" for n in range(2, 33, 2)}
# TERC gmina type digit: 1 urban, 2 rural, 3 urban-rural, 4 town and 5 rural area of an
# urban-rural gmina, 8 Warsaw district, 9 delegation; 0 with gmina 00 for powiat/voivodeship.
_GMINA_TYPES = set("1234589")
_NAME_MAX = 64  # ub-common-name, RFC 5280 Appendix A


def _checked(field: str, fn, value: str) -> str:
    try:
        return fn(value)
    except ValidationError as exc:
        raise InvalidSubject(field, f"{value!r} is not valid ({exc})") from None


def validate_pesel(value: str, field: str = "pesel") -> str:
    """PESEL: 11 digits, check digit and a real birth date (stdnum checks both)."""
    return _checked(field, _pesel.validate, str(value))


def validate_nip(value: str, field: str = "nip") -> str:
    return _checked(field, _nip.validate, str(value))


def validate_regon(value: str, field: str = "regon") -> str:
    return _checked(field, _regon.validate, str(value))


def validate_organization_key(value: str, field: str = "organization_teryt") -> str:
    """An organisation as the home keys it: a JST's 7-digit TERYT code, or the 9- or 14-digit
    REGON of a subordinate unit that has no TERYT code of its own (a school, a social-care
    centre)."""
    value = str(value).strip()
    if re.fullmatch(r"[0-9]{9}|[0-9]{14}", value):
        return validate_regon(value, field)
    return validate_teryt(value, field)


def validate_teryt(value: str, field: str = "teryt") -> str:
    """A 7-digit TERC code: WW PP GG R (voivodeship, powiat, gmina, gmina type)."""
    value = str(value).strip()
    if not re.fullmatch(r"[0-9]{7}", value):
        raise InvalidSubject(field, f"{value!r} is not a 7-digit TERYT code")
    ww, pp, gg, r = value[:2], value[2:4], value[4:6], value[6]
    if ww not in _VOIVODESHIPS:
        raise InvalidSubject(field, f"{value!r}: voivodeship code {ww} does not exist")
    if gg == "00":
        if r != "0" or (pp == "00" and value != ww + "00000"):
            raise InvalidSubject(field, f"{value!r}: a powiat or voivodeship code ends in 000")
    elif pp == "00" or r not in _GMINA_TYPES:
        raise InvalidSubject(field, f"{value!r}: gmina type digit {r} is not a TERC type")
    return value


def validate_email(value: str, field: str = "email") -> str:
    value = str(value).strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidSubject(field, f"{value!r} is not an e-mail address")
    return value


# Unicode general categories a subject name never needs: control (Cc, e.g. U+007F, U+0085),
# format (Cf: bidi overrides and isolates, zero-width space/joiners, BOM), surrogates,
# private use, unassigned, and line/paragraph separators. They let a name display as
# something other than what is certified (Unicode TR #36 §2, TR #39 §3).
_REFUSED_CATEGORIES = {"Cc": "control", "Cf": "invisible formatting (bidi or zero-width)",
                       "Cs": "surrogate", "Co": "private-use", "Cn": "unassigned",
                       "Zl": "line separator", "Zp": "paragraph separator"}
# Letters of one field must come from one script: "Jаn" with a Cyrillic "а" is a confusable
# of "Jan" (Unicode TR #39 §5.1, single-script restriction); COMMON marks, digits and
# punctuation fit any script.
_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


@lru_cache(maxsize=4096)  # a few dozen letters recur in every name; looking a name up is slow
def _script(ch: str) -> str | None:
    if not unicodedata.category(ch).startswith("L"):
        return None
    word = unicodedata.name(ch, "").split(" ", 1)[0]
    return word if word in _SCRIPTS else "OTHER"


def validate_text(value: Any, field: str, max_length: int = _NAME_MAX) -> str:
    """A name that goes into a certificate or a record of one: NFC, runs of spaces made one,
    and refused (naming the field) when it holds a character that would hide what it says."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidSubject(field, "must be a non-empty string")
    value = unicodedata.normalize("NFC", value)
    for ch in value:
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if kind:
            label = unicodedata.name(ch, "") or kind
            raise InvalidSubject(field, f"{kind} character U+{ord(ch):04X} ({label}) "
                                 "is not allowed in a name")
    value = " ".join(value.split())
    scripts = {s for s in map(_script, value) if s}
    if len(scripts) > 1:
        raise InvalidSubject(field, "mixes letters of " + " and ".join(sorted(scripts))
                             + " scripts (look-alike characters)")
    if len(value) > max_length:
        raise InvalidSubject(field, f"must be at most {max_length} characters")
    return value


def _name(data: dict, field: str) -> str | None:
    value = data.get(field)
    return None if value is None else validate_text(value, field)


def mask_pesel(pesel: str | None) -> str:
    """PESEL for lists and logs: never shown in full (issue 6, privacy)."""
    return f"{pesel[:2]}*******{pesel[-2:]}" if pesel else ""


@dataclass(frozen=True)
class IdentityDocument:
    type: str
    number: str

    def semantics_identifier(self) -> str:
        return f"{self.type}PL-{self.number}"


@dataclass(frozen=True)
class Subscriber:
    given_name: str | None = None
    surname: str | None = None
    pesel: str | None = None
    email: str | None = None
    organization_teryt: str | None = None
    title: str | None = None
    identity_document: IdentityDocument | None = None

    @property
    def common_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.surname) if p)

    def semantics_identifier(self) -> str | None:
        """ETSI EN 319 412-1 §5.1.3: the identity document when given (so a published
        signature need not reveal the PESEL), else ``PNOPL-<PESEL>``."""
        if self.identity_document:
            return self.identity_document.semantics_identifier()
        if self.pesel:
            return f"PNOPL-{self.pesel}"
        return None

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("given_name", "surname", "pesel", "email",
                                            "organization_teryt", "title")}
        if self.identity_document:
            d["identity_document"] = {"type": self.identity_document.type,
                                      "number": self.identity_document.number}
        return {k: v for k, v in d.items() if v is not None}


_KNOWN = {"given_name", "surname", "pesel", "email", "organization_teryt", "title",
          "identity_document"}


def _identity_document(raw: Any) -> IdentityDocument | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidSubject("identity_document", 'expected {"type": "IDC"|"PAS", "number": ...}')
    kind = str(raw.get("type", "")).upper()
    number = str(raw.get("number", "")).upper().replace(" ", "")
    if kind not in _DOCUMENTS:
        raise InvalidSubject("identity_document.type", "must be IDC (ID card) or PAS (passport)")
    if not _DOCUMENTS[kind].match(number):
        raise InvalidSubject("identity_document.number", f"{number!r} is not a {kind} number")
    return IdentityDocument(kind, number)


def parse_subscriber(data: Any) -> Subscriber:
    """Validate SUBJ.json fields; unknown fields are refused rather than ignored."""
    if not isinstance(data, dict):
        raise InvalidSubject("subject", "must be a JSON object")
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise InvalidSubject(unknown[0], "unknown subject field")
    pesel = data.get("pesel")
    email = data.get("email")
    teryt = data.get("organization_teryt")
    return Subscriber(
        given_name=_name(data, "given_name"),
        surname=_name(data, "surname"),
        pesel=validate_pesel(pesel) if pesel not in (None, "") else None,
        email=validate_email(email) if email not in (None, "") else None,
        organization_teryt=validate_organization_key(teryt) if teryt else None,
        title=_name(data, "title"),
        identity_document=_identity_document(data.get("identity_document")),
    )
