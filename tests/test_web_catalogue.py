"""The enrollment web's catalogue (enrollment-web/translations): the compiled .mo is the .po
as committed, every code the pages name has Polish words, and every plural the pages ask for
has Polish's three forms."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from enrollment_web import names
from enrollment_web.i18n import TRANSLATIONS

WEB = Path(names.__file__).parent
PO = TRANSLATIONS / "pl" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "pl" / "LC_MESSAGES" / "messages.mo"
_NGETTEXT = re.compile(r'ngettext\(\s*"([^"]+)",\s*"([^"]+)"')


def _po():
    with PO.open("rb") as f:
        return read_po(f)


def _pairs(catalog) -> dict:
    def plain(x):
        return tuple(x) if isinstance(x, (list, tuple)) else x
    return {plain(m.id): plain(m.string) for m in catalog if m.id}


def test_compiled_catalogue_is_the_committed_source():
    with MO.open("rb") as f:
        mo = read_mo(f)
    assert _pairs(_po()) == _pairs(mo), "run `make translations` after editing messages.po"


def test_every_code_the_pages_name_has_polish_words():
    po = _po()
    for table in (names.ROLES, names.TOKEN_STATES, names.REASONS, names.EVENTS,
                  names.OUTCOMES):
        for code, msgid in table.items():
            message = po.get(msgid)
            assert message is not None and message.string, (code, msgid)


def test_every_plural_the_pages_ask_for_has_three_polish_forms():
    po = _po()
    asked = set()
    for path in [*WEB.glob("*.py"), *(WEB / "templates").glob("*.html")]:
        asked |= set(_NGETTEXT.findall(path.read_text()))
    assert asked
    for singular, plural in asked:
        message = po.get(singular)
        assert message is not None, singular
        assert message.id == (singular, plural) and len(message.string) == 3
        assert all(message.string), singular
    assert po.plural_forms.startswith("nplurals=3;")


def _extracted() -> set:
    """Every message the web's Python and templates hand to the catalogue, found by Babel's
    own extractors (``gettext``, ``ngettext``, ``N_``), as ``pybabel extract`` would."""
    from babel.messages.extract import extract_from_file
    found = set()
    for path in WEB.glob("*.py"):
        found |= {m[1] for m in extract_from_file(
            "python", path, keywords={"gettext": None, "ngettext": (1, 2), "N_": None})}
    for path in (WEB / "templates").glob("*.html"):
        found |= {m[1] for m in extract_from_file(
            "jinja2.ext:babel_extract", path, options={"extensions": "jinja2.ext.i18n"})}
    return {m if isinstance(m, str) else tuple(m) for m in found}


def test_every_message_the_web_asks_for_is_in_the_catalogue_and_translated():
    po = _po()
    extracted = _extracted()
    assert ("%(num)d day", "%(num)d days") in extracted  # the extractors do see the pages
    for message in extracted:
        entry = po.get(message if isinstance(message, str) else message[0])
        assert entry is not None, message
        strings = entry.string if isinstance(entry.string, (list, tuple)) else [entry.string]
        assert all(strings), message
        if not isinstance(message, str):
            assert entry.id == message and len(strings) == 3, message


_AUDITED = re.compile(r'(?:action=|\belse)\s*"([a-z_]+\.[a-z_]+)"')
_WRITERS = ("ca", "ra", "regca", "signing", "tsa", "ocsp", "transparency", "enrollment-web")


def test_every_event_the_code_records_has_a_name_for_the_auditor():
    """An event the auditor's page would show by its code (``resident.return``) instead of
    words: every dotted action written as a literal has an entry in names.EVENTS."""
    root = WEB.resolve().parent  # enrollment_web may be a link to enrollment-web
    recorded = {m for d in _WRITERS for path in (root / d).rglob("*.py")
                for m in _AUDITED.findall(path.read_text())}
    assert "certificate.revoke" in recorded and "resident.return" in recorded
    assert recorded <= set(names.EVENTS), sorted(recorded - set(names.EVENTS))
