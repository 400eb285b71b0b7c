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
