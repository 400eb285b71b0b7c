"""One way into the store, one way to write a certificate row, and never without its audit event.

The static half reads the source (AST): outside ``ca/store`` no module writes SQL, touches an
engine or a connection, or reaches the direct write path; inside, only ``ca/store/db.py``
touches the engines, and only ``ca/store/certificates.py`` writes the ``certificates`` table,
each writer appending its audit event. The behavioural half checks the outcome on SQLite and
PostgreSQL: every certificate the store holds has its events, and a revocation or an issuance
whose audit event cannot be written leaves the certificate as it was.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import threading
from pathlib import Path

import pytest
from conftest import RESIDENT, make_csr
from sqlalchemy import select

from ca.issuance import IssuanceRequest, Issuer
from ca.revocation import RevocationRequest, Revoker
from ca.store import certificates as cert_store
from ca.store.audit import verify_chain
from ca.store.models import AuditEvent, AuditHead, Certificate

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / "ca" / "store"
# Product code: every package of the house and the benchmarks (they measure the product).
FOLDERS = ("ca", "ra", "keys", "ocsp", "tsa", "signing", "enrollment-web", "edge", "regca",
           "bench")


def _modules(inside_store: bool) -> list[Path]:
    out = []
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "migrations" in path.parts:  # Alembic's own DDL
                continue
            if path.is_relative_to(STORE) == inside_store:
                out.append(path)
    return out


OUTSIDE, INSIDE = _modules(False), _modules(True)
TREES = {path: ast.parse(path.read_text()) for path in OUTSIDE + INSIDE}


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}"


def _attributes(paths, names) -> list[str]:
    return [f"{_where(p, n)} .{n.attr}" for p in paths for n in ast.walk(TREES[p])
            if isinstance(n, ast.Attribute) and n.attr in names]


# -- one way in ------------------------------------------------------------------------------

def test_outside_the_store_sqlalchemy_gives_only_its_errors_and_the_session_type():
    """No select/insert/text/engine outside ``ca/store``: a caller names a store function."""
    found = []
    for path in OUTSIDE:
        for node in ast.walk(TREES[path]):
            if isinstance(node, ast.Import):
                found += [f"{_where(path, node)} import {a.name}" for a in node.names
                          if a.name.split(".")[0] == "sqlalchemy"
                          and a.name != "sqlalchemy.exc"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                allowed = ({"*"} if node.module == "sqlalchemy.exc" else
                           {"Session"} if node.module == "sqlalchemy.orm" else set())
                found += [f"{_where(path, node)} from {node.module} import {a.name}"
                          for a in node.names if a.name not in allowed and "*" not in allowed]
    assert found == []


def test_outside_the_store_nothing_reaches_its_write_path_or_engines():
    """The direct DB-API path and group commit are the store's own (behind
    ``certificates.IssuanceWriter`` and ``timestamps.TokenWriter``)."""
    internal = {"ca.store.direct", "ca.store.groupcommit"}
    found = []
    for path in OUTSIDE:
        for node in ast.walk(TREES[path]):
            if isinstance(node, ast.ImportFrom) and node.module in internal:
                found.append(f"{_where(path, node)} from {node.module}")
            elif isinstance(node, ast.ImportFrom) and node.module == "ca.store":
                found += [f"{_where(path, node)} ca.store.{a.name}" for a in node.names
                          if f"ca.store.{a.name}" in internal]
            elif isinstance(node, ast.Import):
                found += [f"{_where(path, node)} {a.name}" for a in node.names
                          if a.name in internal]
    found += _attributes(OUTSIDE, {
        "engine", "_engine", "_read_engine", "_direct_engine", "raw_connection",
        "driver_connection", "connection", "direct_transaction", "direct_reader",
        "reading_connection",
        "execute", "executemany", "exec_driver_sql", "scalar", "scalars", "scalar_one"})
    assert found == []


# Statements as SQL text: a keyword followed by what makes it a statement, not a word.
_SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                  r"CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+TABLE|PRAGMA\s|BEGIN\s+IMMEDIATE)",
                  re.DOTALL)


def _docstrings(tree: ast.Module) -> set[int]:
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}


def _sql_strings(paths) -> list[str]:
    """String constants holding SQL statements (prose in docstrings may name them)."""
    found = []
    for path in paths:
        prose = _docstrings(TREES[path])
        found += [f"{_where(path, n)} {n.value[:40]!r}" for n in ast.walk(TREES[path])
                  if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and id(n) not in prose and _SQL.search(n.value)]
    return found


def test_no_sql_text_outside_the_store():
    assert _sql_strings(OUTSIDE) == []


def test_the_sql_pattern_finds_sql():
    """The pattern above is the judge of the test before: it must know SQL when it sees it."""
    assert _SQL.search("SELECT der FROM ocsp_responses WHERE serial = ?")
    assert _SQL.search("UPDATE certificates SET status = 'issued'")
    assert not _SQL.search("Update the row, then select the next one from the queue.")


def test_outside_the_store_no_session_is_handed_a_model():
    """``session.get(Enrolment, id)``, ``session.add(Certificate(...))``: ORM reads and writes
    a caller would make without the store. Callers pass models to store functions instead."""
    found = []
    for path in OUTSIDE:
        tree = TREES[path]
        models = {a.asname or a.name for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module == "ca.store.models"
                  for a in n.names}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"get", "add", "add_all", "delete", "merge",
                                           "refresh"} and node.args):
                continue
            first = node.args[0]
            named = first.func if isinstance(first, ast.Call) else first
            if isinstance(named, ast.Name) and named.id in models:
                found.append(f"{_where(path, node)} .{node.func.attr}({named.id}")
    assert found == []


def test_inside_the_store_only_db_py_touches_the_engines_and_writes_sql_text():
    """``Database`` owns its engines; the other store modules take a session or one of its
    public methods (``direct_reader``, ``direct_transaction``), never a private engine."""
    others = [p for p in INSIDE if p.name != "db.py"]
    assert _attributes(others, {"engine", "_engine", "_read_engine", "_direct_engine",
                                "raw_connection"}) == []
    assert _sql_strings(others) == []


# -- one way to write a certificate row -------------------------------------------------------

CERTIFICATES = STORE / "certificates.py"
# The columns that say what a certificate row is: status and what comes with it.
STATE_COLUMNS = {"status", "der", "issued_at", "revoked_at", "revocation_reason",
                 "invalidity_date"}


def test_only_the_certificates_module_writes_the_certificates_table():
    """No other module builds a statement on the table, makes a ``Certificate`` or sets a
    row's state (the model module only defines it)."""
    found = []
    for path, tree in TREES.items():
        if path in (CERTIFICATES, STORE / "models.py", STORE / "tables.py"):
            continue
        aliases = _aliases_of_core_certificates(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "__table__"
                    and isinstance(node.value, ast.Name) and node.value.id == "Certificate"):
                found.append(f"{_where(path, node)} Certificate.__table__")
            elif (isinstance(node, ast.Attribute) and node.attr in {"insert", "update", "delete"}
                  and _is_core_certificates(node.value, aliases)):
                found.append(f"{_where(path, node)} certificates.{node.attr}()")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in {"insert", "update", "delete"}
                  and any(_is_core_certificates(a, aliases) for a in node.args)):
                found.append(f"{_where(path, node)} {node.func.id}(certificates)")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in {"Certificate", "insert", "update", "delete"}
                  and (node.func.id == "Certificate" or any(
                      isinstance(a, ast.Name) and a.id == "Certificate" for a in node.args))):
                found.append(f"{_where(path, node)} {node.func.id}(...)")
            elif isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                        if (isinstance(el, ast.Attribute) and el.attr in STATE_COLUMNS
                                and not _is_self(el.value)):  # an object's own, not a row's
                            found.append(f"{_where(path, node)} .{el.attr} =")
    assert found == []


def _is_core_certificates(node: ast.AST, aliases: set[str]) -> bool:
    """``tables.certificates`` (the Core table) or a name bound to it."""
    return ((isinstance(node, ast.Attribute) and node.attr == "certificates"
             and isinstance(node.value, ast.Name) and node.value.id == "tables")
            or (isinstance(node, ast.Name) and node.id in aliases))


def _aliases_of_core_certificates(tree: ast.Module) -> set[str]:
    """Names a module binds to ``tables.certificates`` (``_CERTS = tables.certificates``,
    also inside a tuple assignment)."""
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = (zip(target.elts, node.value.elts, strict=False)
                     if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                     else [(target, node.value)])
            names |= {t.id for t, v in pairs
                      if isinstance(t, ast.Name) and _is_core_certificates(v, set())}
    return names


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def _uses(fn: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(fn))


def _sets_state(fn: ast.AST) -> bool:
    return _assigns(fn, STATE_COLUMNS)


def _assigns(fn: ast.AST, columns: set[str]) -> bool:
    return any(isinstance(n, ast.Assign) and any(
        isinstance(el, ast.Attribute) and el.attr in columns
        for t in n.targets for el in (t.elts if isinstance(t, ast.Tuple) else [t]))
        for n in ast.walk(fn))


def _appends_audit(fn: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in {"append", "append_many"}
               and isinstance(n.value, ast.Name) and n.value.id == "audit_store"
               for n in ast.walk(fn))


def test_three_functions_write_certificate_rows_and_the_settling_ones_audit():
    """``insert_pending_many`` records the intent (status pending, no certificate yet; its
    end is audited as issued or abandoned); ``store_issued`` is the one writer of the issued
    state; ``set_revocation`` of every later state. Both of these append the audit event."""
    tree = TREES[CERTIFICATES]
    statements = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                  if isinstance(t, ast.Name) and t.id.isupper()}
    assert {"_INSERT", "_MARK_ISSUED"} <= statements
    writers = {name for name, fn in _functions(tree).items()
               if _uses(fn, {"_INSERT", "_MARK_ISSUED", "_TABLE"}) or _sets_state(fn)}
    # and the two that seal a row with a PESEL (their contents, never their state; the
    # caller, regca/sealed_fields.py, audits them as fields.seal or fields.rotate)
    assert writers == {"insert_pending_many", "store_issued", "set_revocation", "seal_row",
                       "reseal_row"}
    functions = _functions(tree)
    for name in ("seal_row", "reseal_row"):
        assert not _assigns(functions[name], STATE_COLUMNS - {"der"}), name
    issuing = {name for name, fn in _functions(tree).items() if _uses(fn, {"_MARK_ISSUED"})}
    assert issuing == {"store_issued"}
    assert _appends_audit(functions["store_issued"])
    assert _appends_audit(functions["set_revocation"])
    assert not _appends_audit(functions["insert_pending_many"])
    pending_insert = ast.unparse(functions["insert_pending_many"])
    assert "'status': 'pending'" in pending_insert  # whatever the row object said


# -- behaviour, on every backend --------------------------------------------------------------

def _issue(issuer: Issuer) -> str:
    return issuer.issue(IssuanceRequest("resident-signing", make_csr(), dict(RESIDENT),
                                        "test")).serial


def _events(ctx, serial: str) -> list[str]:
    with ctx.db.reading() as s:
        return list(s.execute(select(AuditEvent.action)
                              .where(AuditEvent.object == f"certificate:{serial}")
                              .order_by(AuditEvent.seq)).scalars())


def test_every_certificate_the_store_holds_has_its_audit_events(ctx):
    """Certificates issued alone and by concurrent threads (shared commits), revoked, held and
    released, abandoned: each row's history is in the audit log, and the chain holds."""
    issuer = Issuer(ctx)
    serials = [_issue(issuer) for _ in range(2)]
    threads = [threading.Thread(target=lambda: serials.append(_issue(issuer)))
               for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(serials) == 8
    revoker = Revoker(ctx)
    revoker.revoke(RevocationRequest(serials[0], "keyCompromise", "test"))
    revoker.revoke(RevocationRequest(serials[1], "certificateHold", "test"))
    revoker.revoke(RevocationRequest(serials[1], "removeFromCRL", "test"))
    assert _events(ctx, serials[0]) == ["certificate.issue", "certificate.revoke"]
    assert _events(ctx, serials[1]) == ["certificate.issue", "certificate.hold",
                                        "certificate.release"]

    with ctx.db.reading() as s:
        rows = s.execute(select(Certificate.serial, Certificate.status)).all()
        actions: dict[str, list[str]] = {}
        for obj, action in s.execute(select(AuditEvent.object, AuditEvent.action)):
            actions.setdefault(obj, []).append(action)
        assert verify_chain(s)[1] == []
    assert len(rows) > 8  # with the CA and service certificates `regca init` issued
    for serial, status in rows:
        history = actions.get(f"certificate:{serial}", [])
        if status in ("issued", "revoked"):
            assert history.count("certificate.issue") == 1, serial
        if status == "revoked":
            assert {"certificate.revoke", "certificate.hold"} & set(history), serial
        if status == "abandoned":
            assert history == ["certificate.abandon"], serial


def test_an_abandoned_issuance_is_audited(ctx):
    then = ctx.now() - dt.timedelta(seconds=ctx.settings.pending_grace_seconds + 60)
    row = cert_store.PendingCertificate("5" + "0" * 30 + "7", "issuing", "resident-signing",
                                        "CN=x", None, "test", then, ctx.now(), b"tbs", then)
    with ctx.db.transaction() as s:
        cert_store.insert_pending(s, row)
    assert row.serial in Issuer(ctx).reconcile()
    assert _events(ctx, row.serial) == ["certificate.abandon"]


class _HeadAway:
    """The audit head's row deleted for a while: no event can be appended (a broken audit
    log), and everything else works."""

    def __init__(self, ctx):
        self.ctx = ctx

    def __enter__(self):
        with self.ctx.db.transaction() as s:
            head = s.get(AuditHead, 1)
            self.seq, self.hash, self.frontier = head.seq, head.hash, head.frontier
            s.delete(head)

    def __exit__(self, *exc):
        with self.ctx.db.transaction() as s:
            s.add(AuditHead(id=1, seq=self.seq, hash=self.hash, frontier=self.frontier))


def _status(ctx, serial: str) -> str:
    with ctx.db.reading() as s:
        return cert_store.get(s, serial).status


def test_a_revocation_whose_event_cannot_be_written_does_not_happen(ctx):
    serial = _issue(Issuer(ctx))
    with _HeadAway(ctx), pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        Revoker(ctx).revoke(RevocationRequest(serial, "keyCompromise", "test"))
    assert _status(ctx, serial) == "issued"
    assert _events(ctx, serial) == ["certificate.issue"]
    Revoker(ctx).revoke(RevocationRequest(serial, "keyCompromise", "test"))  # head back: fine
    assert _status(ctx, serial) == "revoked"


def test_an_issuance_whose_event_cannot_be_written_stores_no_certificate(ctx):
    """The signed certificate is not stored as issued; its row stays pending, for
    ``reconcile`` to settle as abandoned, and no relying party is told it is good."""
    issuer = Issuer(ctx)
    _issue(issuer)  # the writers exist before the head goes
    with ctx.db.reading() as s:
        before = set(s.execute(select(Certificate.serial)).scalars())
    with _HeadAway(ctx), pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        _issue(issuer)
    with ctx.db.reading() as s:
        new = s.execute(select(Certificate.serial, Certificate.status, Certificate.der)
                        .where(Certificate.serial.not_in(before))).all()
    assert [(status, der) for _serial, status, der in new] == [("pending", None)]
    assert _events(ctx, new[0][0]) == []


def test_store_issued_writes_the_event_in_the_callers_transaction(ctx):
    """Called in a transaction that then fails: neither the issued state nor the event stays."""
    now = ctx.now()
    row = cert_store.PendingCertificate("6" + "0" * 30 + "9", "issuing", "resident-signing",
                                        "CN=y", None, "test", now, now + dt.timedelta(days=1),
                                        b"tbs", now)
    with ctx.db.transaction() as s:
        cert_store.insert_pending(s, row)
    with pytest.raises(RuntimeError, match="stop"), ctx.db.transaction() as s:
        cert_store.store_issued(s, [cert_store.SignedCertificate(row, b"der")], now)
        assert _count_events_in(s, row.serial) == 1  # written, not yet committed
        raise RuntimeError("stop")
    assert _status(ctx, row.serial) == "pending"
    assert _events(ctx, row.serial) == []
    with ctx.db.transaction() as s:
        cert_store.store_issued(s, [cert_store.SignedCertificate(row, b"der")], now)
    assert _status(ctx, row.serial) == "issued"
    assert _events(ctx, row.serial) == ["certificate.issue"]


def _count_events_in(session, serial: str) -> int:
    return len(session.execute(select(AuditEvent.seq).where(
        AuditEvent.object == f"certificate:{serial}")).all())



def test_a_revocation_event_must_name_its_certificate(ctx):
    """The event is the row's own: one naming another certificate is refused, nothing
    changes."""
    from ca.audit import Event

    serial, other = _issue(Issuer(ctx)), _issue(Issuer(ctx))
    with pytest.raises(ValueError, match="names"), ctx.db.transaction() as s:
        row = cert_store.get(s, serial, for_update=True)
        cert_store.set_revocation(s, [cert_store.Revocation(
            row, "revoked", ctx.now(), "keyCompromise", None,
            Event(actor="test", action="certificate.revoke", object=f"certificate:{other}"))],
            ctx.now())
    assert _status(ctx, serial) == "issued"
    assert _events(ctx, serial) == _events(ctx, other) == ["certificate.issue"]
