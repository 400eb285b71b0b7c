"""Typed, self-checking signing options parsed from query parameters (CONTRACT.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ca.errors import Malformed

__all__ = [
    "CMS_LEVELS",
    "DETACHED_URI",
    "PDF_LEVELS",
    "XML_LEVELS",
    "CmsOptions",
    "PdfOptions",
    "VisibleBox",
    "XmlOptions",
]

# ETSI EN 319 142-1 (PAdES), 319 132-1 (XAdES), 319 122-1 (CAdES) baseline levels.
PDF_LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
XML_LEVELS = ("B-B", "B-T")
CMS_LEVELS = ("B-B", "B-T")
_PACKAGINGS = ("enveloped", "detached")
_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_MAX_TEXT = 200
# A detached XAdES reference's default URI, and what a given one may hold: RFC 3986's
# unreserved, reserved and percent characters (no space, quote or angle bracket).
DETACHED_URI = "document.xml"
_URI = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]{1,200}$")


def _level(query: Mapping[str, str], allowed: tuple[str, ...], default: str) -> str:
    level = query.get("level") or default
    if level not in allowed:
        raise Malformed(f"level: {level!r} is not one of {', '.join(allowed)}")
    return level


def _text(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is not None and (len(value) > _MAX_TEXT or any(ord(c) < 32 for c in value)):
        raise Malformed(f"{name}: at most {_MAX_TEXT} printable characters")
    return value or None


@dataclass(frozen=True)
class VisibleBox:
    """A 1-based page number and a box in PDF user-space points (x1, y1) - (x2, y2)."""

    page: int
    box: tuple[int, int, int, int]

    def __post_init__(self):
        x1, y1, x2, y2 = self.box
        if self.page < 1:
            raise Malformed("visible: the page number starts at 1")
        if not (0 <= x1 < x2 <= 14400 and 0 <= y1 < y2 <= 14400):
            raise Malformed("visible: need 0 <= x1 < x2 and 0 <= y1 < y2 (points, ISO 32000 "
                            "limits pages to 14400)")

    @classmethod
    def parse(cls, value: str) -> VisibleBox:
        try:
            page, x1, y1, x2, y2 = (int(v) for v in value.split(","))
        except ValueError:
            raise Malformed("visible: expected page,x1,y1,x2,y2 as integers") from None
        return cls(page, (x1, y1, x2, y2))


@dataclass(frozen=True)
class PdfOptions:
    level: str = "B-T"
    reason: str | None = None
    location: str | None = None
    contact: str | None = None
    visible: VisibleBox | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], default_level: str) -> PdfOptions:
        visible = query.get("visible")
        return cls(level=_level(query, PDF_LEVELS, default_level),
                   reason=_text(query, "reason"), location=_text(query, "location"),
                   contact=_text(query, "contact"),
                   visible=VisibleBox.parse(visible) if visible else None)


@dataclass(frozen=True)
class XmlOptions:
    """``reference_uri``: what a detached signature's reference names (the document's name
    where the relying party keeps it); ``description``: the xades:DataObjectFormat's
    Description (EN 319 132-1 §5.2.4); ``mime_type``: its MimeType, the body's media type."""

    level: str = "B-T"
    packaging: str = "enveloped"
    reference_uri: str = DETACHED_URI
    description: str | None = None
    mime_type: str = "application/xml"

    def __post_init__(self):
        if not _URI.match(self.reference_uri) or self.reference_uri.startswith("#"):
            raise Malformed("reference_uri: a relative or absolute URI of at most "
                            f"{_MAX_TEXT} characters (RFC 3986), not a same-document '#' one")

    @classmethod
    def from_query(cls, query: Mapping[str, str], default_level: str,
                   mime_type: str = "application/xml") -> XmlOptions:
        packaging = query.get("packaging") or "enveloped"
        if packaging not in _PACKAGINGS:
            raise Malformed(f"packaging: {packaging!r} is not one of {', '.join(_PACKAGINGS)}")
        uri = query.get("reference_uri")
        if uri is not None and packaging != "detached":
            raise Malformed("reference_uri: only with packaging=detached (an enveloped "
                            "signature references its own document)")
        return cls(level=_level(query, XML_LEVELS, default_level), packaging=packaging,
                   reference_uri=uri if uri is not None else DETACHED_URI,
                   description=_text(query, "description"), mime_type=mime_type)


@dataclass(frozen=True)
class CmsOptions:
    level: str = "B-T"
    digest: bytes | None = None  # a SHA-256 the caller computed, signed instead of the body

    @classmethod
    def from_query(cls, query: Mapping[str, str], default_level: str) -> CmsOptions:
        digest = query.get("digest")
        if digest is not None:
            match = _DIGEST.match(digest)
            if not match:
                raise Malformed("digest: expected sha256:<64 hex digits>")
            digest = bytes.fromhex(match.group(1))
        return cls(level=_level(query, CMS_LEVELS, default_level), digest=digest)
