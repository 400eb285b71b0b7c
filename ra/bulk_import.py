"""Bulk enrolment of a JST's staff from a CSV file: a dry run that names each row's problems in
Polish, then the rows without problems recorded as enrolments in one transaction and one audit
event (row count and the file's SHA-256).

The file (README, "Bulk staff enrolment"): UTF-8 with or without a BOM, ``;`` or ``,`` between
fields, a header row naming the columns ``imię``, ``nazwisko``, ``PESEL``, ``e-mail``,
``stanowisko``, ``profile`` and ``JST`` (a TERYT code, or the REGON of a unit the home serves).
The officer's JST scope applies to every row, as it does at the desk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass

from ca.audit import Event
from ca.errors import Forbidden, InvalidSubject
from ca.field_crypto import pesel_of
from ca.identity import validate_email, validate_pesel, validate_text
from ca.store import bulk_enrolments as bulk_store
from ca.store import organizations as org_store
from ca.store.models import Enrolment
from ra.access import in_scope
from ra.authority import Reader, RegistrationAuthority

__all__ = ["COLUMNS", "MAX_ROWS", "ImportRow", "ImportPlan", "ImportResult", "dry_run",
           "import_staff"]

# field -> (the column's Polish name in messages, header spellings accepted, required)
COLUMNS = {
    "given_name": ("imię", ("imię", "imie", "given_name"), True),
    "surname": ("nazwisko", ("nazwisko", "surname"), True),
    "pesel": ("PESEL", ("pesel",), True),
    "email": ("e-mail", ("e-mail", "email", "adres e-mail"), False),
    "title": ("stanowisko", ("stanowisko", "title"), False),
    "profiles": ("profile", ("profile", "profil", "profiles"), True),
    "jst": ("JST", ("jst", "teryt", "regon", "jst teryt/regon", "teryt/regon",
                    "jst (teryt lub regon)"), True),
}
MAX_ROWS = 1000  # a JST has tens to hundreds of staff; the file travels twice (dry run, confirm)
_PROFILE_SPLIT = re.compile(r"[\s,+|]+")


@dataclass(frozen=True)
class ImportRow:
    line: int
    given_name: str
    surname: str
    pesel: str
    email: str
    title: str
    profiles: tuple[str, ...]
    teryt: str | None  # the JST resolved from the row's TERYT or REGON
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ImportPlan:
    """What an import of this file would do; ``problems`` are the file's own (no rows read)."""

    sha256: str
    rows: tuple[ImportRow, ...]
    problems: tuple[str, ...] = ()

    @property
    def good(self) -> list[ImportRow]:
        return [r for r in self.rows if r.ok]

    @property
    def bad(self) -> list[ImportRow]:
        return [r for r in self.rows if not r.ok]


@dataclass(frozen=True)
class ImportResult:
    plan: ImportPlan
    enrolment_ids: tuple[int, ...]


def _header_map(header: list[str]) -> tuple[dict[str, int], list[str]]:
    wanted = {spelling: field for field, (_, spellings, _) in COLUMNS.items()
              for spelling in spellings}
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        field = wanted.get(" ".join(name.strip().lower().split()))
        if field and field not in found:
            found[field] = index
    missing = [COLUMNS[f][0] for f, (_, _, required) in COLUMNS.items()
               if required and f not in found]
    return found, missing


def _read(data: bytes) -> tuple[list[tuple[int, dict[str, str], bool]], list[str]]:
    """Rows as ``(line, {field: text}, too_many_cells)``, or the file's problems."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["Plik nie jest zapisany w kodowaniu UTF-8 (w Excelu: „CSV UTF-8”)."]
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        return [], ["Plik jest pusty albo nie ma wiersza nagłówka."]
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        columns, missing = _header_map(header)
        if missing:
            return [], ["Brak kolumn: " + ", ".join(missing) + ". Nagłówek pliku musi je "
                        "nazywać (opis kolumn: README, „Import pracowników z pliku CSV”)."]
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                return [], [f"Plik ma więcej niż {MAX_ROWS} wierszy; podziel go na części."]
            row = {f: (cells[i].strip() if i < len(cells) else "") for f, i in columns.items()}
            rows.append((reader.line_num, row, len(cells) > len(header)))
    except csv.Error as exc:
        return [], [f"Plik nie jest poprawnym plikiem CSV (wiersz {reader.line_num}): {exc}."]
    if not rows:
        return [], ["Plik nie zawiera żadnego wiersza z danymi."]
    return rows, []


def _text(value: str, field: str, problems: list[str]) -> str:
    try:
        return validate_text(value, field, max_length=64)
    except InvalidSubject:
        problems.append(f"niedozwolone znaki lub zbyt długa wartość w kolumnie "
                        f"„{COLUMNS[field][0]}”")
        return value


class _Context:
    """What every row is checked against, read once per file."""

    def __init__(self, ra: Reader, session, orgs: tuple[str, ...] | None):
        self.orgs = orgs
        self.by_teryt = {o.teryt: o for o in org_store.all_(session)}
        self.by_regon = {o.regon: o for o in self.by_teryt.values() if o.regon}
        self.profiles = {p.name for p in ra.profiles if p.subject == "staff"}
        scope = list(orgs) if orgs is not None else list(self.by_teryt)
        self.enrolled = {(teryt, ra.fields.open(sealed, pesel_of(enrolment_id)))
                         for enrolment_id, teryt, sealed in bulk_store.enrolled_staff(session,
                                                                                      scope)}


def _check(line: int, raw: dict[str, str], extra_cells: bool, ctx: _Context,
           seen: dict[str, int]) -> ImportRow:
    problems: list[str] = []
    if extra_cells:
        problems.append("więcej pól niż kolumn w nagłówku (sprawdź separator i cudzysłowy)")
    for field, (name, _, required) in COLUMNS.items():
        if required and not raw.get(field):
            problems.append(f"brak wartości w kolumnie „{name}”")
    given = _text(raw["given_name"], "given_name", problems) if raw["given_name"] else ""
    surname = _text(raw["surname"], "surname", problems) if raw["surname"] else ""
    title = _text(raw["title"], "title", problems) if raw.get("title") else ""
    pesel = "".join(raw["pesel"].split())
    if pesel:
        if not re.fullmatch(r"[0-9]{11}", pesel):
            problems.append("PESEL musi mieć 11 cyfr")
        else:
            try:
                validate_pesel(pesel)
            except InvalidSubject:
                problems.append("nieprawidłowy PESEL (cyfra kontrolna lub data urodzenia)")
        if pesel in seen:
            problems.append(f"ten sam PESEL już w wierszu {seen[pesel]} pliku")
        else:
            seen[pesel] = line
    email = raw.get("email", "")
    if email:
        try:
            email = validate_email(email)
        except InvalidSubject:
            problems.append("nieprawidłowy adres e-mail")
    profiles = tuple(p for p in _PROFILE_SPLIT.split(raw["profiles"]) if p)
    for p in profiles:
        if p not in ctx.profiles:
            problems.append(f"nieznany profil „{p}” (dozwolone: "
                            + ", ".join(sorted(ctx.profiles)) + ")")
    if len(set(profiles)) != len(profiles):
        problems.append("profil podany dwa razy")
    teryt = None
    jst = raw["jst"].replace(" ", "")
    if jst:
        org = ctx.by_teryt.get(jst) or ctx.by_regon.get(jst)
        if org is None:
            problems.append(f"nieznana JST „{jst}” (ani TERYT, ani REGON jednostki z rejestru)")
        elif not _in_scope(ctx.orgs, org.teryt):
            problems.append(f"JST {org.teryt} ({org.name}) nie należy do Twojego zakresu")
        elif not org.active:
            problems.append(f"{org.name} ({org.teryt}) jest nieaktywna i nie przyjmuje "
                            "nowych wniosków")
        else:
            teryt = org.teryt
            if (teryt, pesel) in ctx.enrolled:
                problems.append("ta osoba jest już zarejestrowana jako pracownik tej JST")
    return ImportRow(line, given, surname, pesel, email, title, profiles, teryt,
                     tuple(problems))


def _in_scope(orgs: tuple[str, ...] | None, teryt: str) -> bool:
    try:
        in_scope(orgs, teryt)
    except Forbidden:
        return False
    return True


def _plan(ra: Reader, session, data: bytes, orgs: tuple[str, ...] | None) -> ImportPlan:
    digest = hashlib.sha256(data).hexdigest()
    raw_rows, problems = _read(data)
    if problems:
        return ImportPlan(digest, (), tuple(problems))
    ctx, seen = _Context(ra, session, orgs), {}
    return ImportPlan(digest, tuple(_check(line, raw, extra, ctx, seen)
                                    for line, raw, extra in raw_rows))


def dry_run(ra: Reader, data: bytes, orgs: tuple[str, ...] | None) -> ImportPlan:
    """Every row checked; nothing written."""
    with ra.reading() as s:
        return _plan(ra, s, data, orgs)


def import_staff(ra: RegistrationAuthority, data: bytes, actor: str,
                 orgs: tuple[str, ...] | None, expected_sha256: str | None = None
                 ) -> ImportResult:
    """The rows without problems become staff enrolments, in one transaction with one audit
    event; checked again here, so a file changed (or a person enrolled) since the dry run is
    judged as it is now. ``expected_sha256``: the file the officer saw the dry run of."""
    now = ra.now()
    with ra.db.transaction() as s:
        plan = _plan(ra, s, data, orgs)
        if expected_sha256 is not None and plan.sha256 != expected_sha256:
            raise InvalidSubject("file", "not the file whose dry run was shown")
        if plan.problems or not plan.good:
            raise InvalidSubject("file", "no row of this file can be imported")
        rows = plan.good
        people = [ra.people.ref(r.pesel) if r.pesel else None for r in rows] \
            if ra.people.keyed else [None] * len(rows)
        added = bulk_store.add_all(s, [Enrolment(
            organization_teryt=r.teryt, officer=actor, kind="staff", given_name=r.given_name,
            surname=r.surname, person_ref=person, email=r.email or None,
            title=r.title or None, created_at=now, requested_profiles=" ".join(r.profiles))
            for r, person in zip(rows, people, strict=True)])
        for e, r in zip(added, rows, strict=True):  # sealed to their rows, whose ids are known now
            if r.pesel:
                e.pesel_sealed = ra.fields.seal(r.pesel, pesel_of(e.id))
            e.pesel = r.pesel or None
        people = [p for p in people if p]
        teryts = sorted({r.teryt for r in rows})
        ra.audit(s, Event(actor=actor, action="enrolment.bulk_import",
                           object=f"enrolments:{added[0].id}-{added[-1].id}",
                           organization_teryt=teryts[0] if len(teryts) == 1 else None,
                           details={"sha256": plan.sha256, "rows": len(plan.rows),
                                    "imported": len(added), "skipped": len(plan.bad),
                                    "organizations": teryts,
                                    **({"people": people} if people else {})}))
    return ImportResult(plan, tuple(e.id for e in added))
