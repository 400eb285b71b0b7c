"""The transparency log (CONTRACT.md, "Issuance transparency log"): RFC 9162 hashing, proofs
judged by an implementation written from the RFC (tests/rfc9162.py), signed tree heads, and
`regca audit verify --sth` naming the first entry changed in a copy of a home whose every hash
was recomputed afterwards."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import rfc9162
from conftest import RESIDENT, ROOT_PIN, fresh_database, make_csr, make_home, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from werkzeug.test import Client

from ca import merkle
from ca.audit import GENESIS, Event, canonical, chain_hash
from ca.context import CaContext
from ca.issuance import IssuanceRequest, Issuer
from ca.store.models import AuditEvent
from regca.roles import head_signer, transparency_app

pytestmark = pytest.mark.hsm
REPO = Path(__file__).resolve().parents[1]


# -- the tree itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 70])
def test_incremental_tree_and_proofs_match_rfc_9162(size):
    entries = [f"entry {i}".encode() for i in range(size)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    stored = {(0, i): h for i, h in enumerate(leaves)}
    frontier: list[bytes] = []
    for n, leaf in enumerate(leaves):  # one append at a time, as the store does
        frontier, completed = merkle.append(frontier, n, [leaf])
        stored.update({(lv, ix): h for lv, ix, h in completed})
        assert merkle.root_of_frontier(frontier) == rfc9162.mth(entries[:n + 1])
        assert len(frontier) == bin(n + 1).count("1")  # O(log n) kept, not the tree

    def subtree(a, b):
        level = (b - a).bit_length() - 1
        return stored[(level, a >> level)]

    for m in range(size):
        assert merkle.inclusion_path(m, size, subtree) == rfc9162.path(m, entries)
    for m in range(1, size + 1):
        assert merkle.consistency_proof(m, size, subtree) == rfc9162.proof(m, entries)


# -- a home ----------------------------------------------------------------------------------

def _issue(ctx, pesel: str = RESIDENT["pesel"]):
    subject = dict(RESIDENT, pesel=pesel)
    return Issuer(ctx).issue(IssuanceRequest(profile="resident-signing", csr=make_csr(),
                                             subject=subject, actor="test"))


def _get(ctx, url: str):
    resp = Client(transparency_app(ctx)).get(url)
    return resp.status_code, resp.get_json()


def _check_sth_independently(ctx, sth: dict) -> bytes:
    """The tree head checked as README says, without the project's code: the 51 signed bytes,
    the signature, the certificate from the root, the time-stamp's imprint. Returns the root."""
    root_hash = base64.b64decode(sth["root_hash"])
    at = dt.datetime.fromisoformat(sth["timestamp"])
    ms = round(at.timestamp() * 1000)
    signed = struct.pack(">QQB", ms, sth["tree_size"], 32) + root_hash + b"\0\0"
    cert = x509.load_pem_x509_certificate(sth["signing_certificate"].encode())
    cert.verify_directly_issued_by(ctx.certificate_of("root-ca"))
    cert.public_key().verify(base64.b64decode(sth["signature"]), signed,
                             ec.ECDSA(hashes.SHA256()))
    token = base64.b64decode(sth["timestamp_token"])
    assert hashlib.sha256(signed).digest() in token  # the TSTInfo's messageImprint
    return root_hash


def test_inclusion_proof_of_a_new_certificate(ctx):
    issued = _issue(ctx)
    head_signer(ctx).sign()
    status, proof = _get(ctx, f"/transparency/v1/proof?serial={issued.serial}")
    assert status == 200, proof
    leaf = base64.b64decode(proof["leaf"])
    entry = json.loads(leaf)
    der = issued.certificate.public_bytes(Encoding.DER)
    assert entry["details"]["certificate_sha256"] == hashlib.sha256(der).hexdigest()
    assert entry["object"] == f"certificate:{issued.serial}"
    root = _check_sth_independently(ctx, proof["sth"])
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    assert rfc9162.root_from_inclusion(proof["leaf_index"], proof["tree_size"], leaf,
                                       path) == root
    # and only this leaf: another index, or another entry, leads elsewhere
    assert rfc9162.root_from_inclusion(proof["leaf_index"] - 1, proof["tree_size"], leaf,
                                       path) != root
    assert rfc9162.root_from_inclusion(proof["leaf_index"], proof["tree_size"], leaf + b" ",
                                       path) != root


def test_consistency_between_two_tree_heads_and_the_entries(ctx):
    head_signer(ctx).sign()
    _, first = _get(ctx, "/transparency/v1/sth")
    for _ in range(3):
        _issue(ctx)
    assert head_signer(ctx).sign() is not None
    status, second = _get(ctx, "/transparency/v1/sth")
    assert status == 200 and second["tree_size"] == first["tree_size"] + 3
    first_root = _check_sth_independently(ctx, first)
    second_root = _check_sth_independently(ctx, second)
    status, body = _get(ctx, f"/transparency/v1/consistency?first={first['tree_size']}"
                             f"&second={second['tree_size']}")
    assert status == 200 and body["first"] == first["tree_size"]
    proof = [base64.b64decode(h) for h in body["proof"]]
    assert rfc9162.consistent(first["tree_size"], second["tree_size"], first_root,
                              second_root, proof)
    assert not rfc9162.consistent(first["tree_size"], second["tree_size"],
                                  hashlib.sha256(b"forged").digest(), second_root, proof)
    # the entries rebuild the signed tree
    status, body = _get(ctx, f"/transparency/v1/entries?start=0&end={second['tree_size'] - 1}")
    entries = [base64.b64decode(e["leaf"]) for e in body["entries"]]
    assert [e["index"] for e in body["entries"]] == list(range(second["tree_size"]))
    assert rfc9162.mth(entries) == second_root


def test_the_hmac_key_never_leaves_the_hsm(ctx):
    assert ctx.hsm.key_attributes("hmac") == {"sensitive": True, "extractable": False}
    mac = ctx.hsm.hmac_sha256("hmac", b"x")
    assert len(mac) == 32 and mac == ctx.hsm.hmac_sha256("hmac", b"x")
    assert mac != ctx.hsm.hmac_sha256("hmac", b"y")


def test_an_unchanged_log_signs_no_new_head(ctx):
    head_signer(ctx).sign()
    assert head_signer(ctx).sign() is None


@pytest.mark.parametrize("url, status", [
    ("/transparency/v1/proof?serial=zz", 400),
    ("/transparency/v1/proof", 400),
    ("/transparency/v1/proof?serial=7f00000000000000000000000000001", 404),
    ("/transparency/v1/consistency?first=0&second=1", 400),
    ("/transparency/v1/consistency?first=5&second=x", 400),
    ("/transparency/v1/consistency?first=3&second=99999999", 400),
    ("/transparency/v1/entries?start=2&end=1", 400),
    ("/transparency/v1/entries?start=-1&end=1", 400),
    ("/transparency/v1/nothing", 404),
])
def test_bad_queries_get_a_json_error_not_a_500(ctx, url, status):
    got, body = _get(ctx, url)
    assert got == status and body["error"]["code"] and body["error"]["message"]


def test_a_certificate_not_yet_under_a_tree_head_is_404_until_the_next(ctx):
    issued = _issue(ctx)
    status, body = _get(ctx, f"/transparency/v1/proof?serial={issued.serial}")
    assert status == 404 and "60 s" in body["error"]["message"]
    head_signer(ctx).sign()
    assert _get(ctx, f"/transparency/v1/proof?serial={issued.serial}")[0] == 200


def test_the_jobs_sign_within_the_maximum_merge_delay_or_every_n_entries(ctx):
    from ca.transparency import LogSchedule
    from regca.scheduler import TICK, sign_tree_head
    head_signer(ctx).sign()
    issued = _issue(ctx)
    signer = sign_tree_head(ctx, None, TICK)  # a round at once: the head is fresh, not due
    assert _get(ctx, f"/transparency/v1/proof?serial={issued.serial}")[0] == 404
    ctx.clock.advance(seconds=60 - TICK)  # the last round before 60 s have passed
    sign_tree_head(ctx, signer, TICK)
    status, proof = _get(ctx, f"/transparency/v1/proof?serial={issued.serial}")
    assert status == 200
    signer.schedule = LogSchedule(every_entries=2, every_seconds=60)
    _issue(ctx)
    sign_tree_head(ctx, signer, TICK)
    assert _get(ctx, "/transparency/v1/sth")[1]["tree_size"] == proof["tree_size"]
    _issue(ctx)  # the second new entry: due without waiting
    sign_tree_head(ctx, signer, TICK)
    assert _get(ctx, "/transparency/v1/sth")[1]["tree_size"] == proof["tree_size"] + 2


# -- tampering with a copy of a home, every hash recomputed -------------------------------------

def _copy_database(ctx, backend: str, url: str, tmp) -> str:
    ctx.db.dispose()  # PostgreSQL copies a database nobody is connected to
    if backend == "sqlite":
        target = tmp / "copy.db"
        src = sqlite3.connect(make_url(url).database)
        dst = sqlite3.connect(target)
        src.backup(dst)
        src.close()
        dst.close()
        return f"sqlite:///{target}"
    name = f"{make_url(url).database}_copy"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # the engines ``regca init`` left open in this process still hold sessions
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :d AND pid <> pg_backend_pid()"),
                     {"d": make_url(url).database})
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _drop_copy(backend: str, url: str) -> None:
    if backend == "postgres":
        admin = create_engine(make_url(url).set(database="postgres"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" '
                              "WITH (FORCE)"))
        admin.dispose()


def _rewrite_with_every_hash(url: str, change) -> None:
    """What a database administrator can do: change the rows, then recompute the chain, the
    leaf hashes, the tree's nodes and its frontier (with the project's own functions). Only the
    HSM's signatures and HMACs are out of reach."""
    engine = create_engine(url)
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(AuditEvent.__table__).order_by(AuditEvent.seq))]
        rows = change(rows)
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(text("DELETE FROM log_nodes"))
        prev, frontier, nodes = GENESIS, [], []
        for i, row in enumerate(rows):
            row["seq"] = i + 1
            event = Event(row["actor"], row["action"], row["object"], row["outcome"],
                          json.loads(row["details"]), row["organization_teryt"])
            body = canonical(row["seq"], row["at"], event)
            row["prev_hash"], row["hash"] = prev, chain_hash(prev, body)
            leaf = merkle.leaf_hash(body.encode())
            row["leaf_hash"] = leaf.hex()
            frontier, completed = merkle.append(frontier, i, [leaf])
            nodes += [{"level": lv, "idx": ix, "hash": h.hex()} for lv, ix, h in completed]
            prev = row["hash"]
        conn.execute(AuditEvent.__table__.insert(), rows)
        if nodes:
            conn.execute(text("INSERT INTO log_nodes (level, idx, hash) "
                              "VALUES (:level, :idx, :hash)"), nodes)
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h, frontier = :f"),
                     {"s": len(rows), "h": prev, "f": "".join(h.hex() for h in frontier)})
    engine.dispose()


def _delete(k):
    return lambda rows: rows[:k] + rows[k + 1:]


def _edit(k):
    def change(rows):
        details = json.loads(rows[k]["details"])
        details["profile"] = "staff-signing"
        rows[k]["details"] = json.dumps(details, sort_keys=True)
        return rows
    return change


def _reorder(k):
    def change(rows):
        rows[k], rows[k + 1] = rows[k + 1], rows[k]
        return rows
    return change


@pytest.fixture(scope="module")
def signed_home(backend, tmp_path_factory):
    """A home with certificates issued after init and a tree head saved outside it."""
    tmp = tmp_path_factory.mktemp(f"tamper-{backend}")
    with fresh_database(backend, tmp) as url:
        ctx = make_home(tmp / "home", url)
        serials = [_issue(ctx).serial for _ in range(4)]
        head_signer(ctx).sign()
        _, sth = _get(ctx, "/transparency/v1/sth")
        saved = tmp / "saved.json"
        saved.write_text(json.dumps(sth))
        _issue(ctx)  # an entry after the saved head
        head_signer(ctx).sign()
        ctx.db.dispose()
        yield ctx, backend, url, saved, serials
        ctx.db.dispose()


def _index_of(ctx, serial: str) -> int:
    with ctx.db.reading() as s:
        return s.scalar(select(AuditEvent.seq).where(
            AuditEvent.object == f"certificate:{serial}",
            AuditEvent.action == "certificate.issue")) - 1


def test_the_intact_copy_verifies_against_the_saved_tree_head(signed_home, tmp_path):
    ctx, backend, url, saved, _ = signed_home
    copy = _copy_database(ctx, backend, url, tmp_path)
    try:
        r = run_cli(ctx.settings.home, "audit", "verify", "--sth", str(saved),
                    env={"REGCA_DATABASE_URL": copy})
        assert r.code == 0, r.err
        assert "still covers the same entries" in r.out
    finally:
        _drop_copy(backend, copy)


@pytest.mark.parametrize("how", [_delete, _edit, _reorder], ids=["delete", "edit", "reorder"])
@pytest.mark.parametrize("which", ["first", "first-issue", "last-covered"])
def test_a_rewritten_log_fails_naming_the_first_bad_entry(signed_home, tmp_path, how, which):
    ctx, backend, url, saved, serials = signed_home
    size = json.loads(saved.read_text())["tree_size"]
    k = {"first": 0, "first-issue": _index_of(ctx, serials[0]),
         "last-covered": size - 2}[which]
    copy = _copy_database(ctx, backend, url, tmp_path)
    try:
        _rewrite_with_every_hash(copy, how(k))
        # the chain alone is fooled: every hash was recomputed
        plain_chain = create_engine(copy)
        with plain_chain.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM audit_events")) > size - 2
        plain_chain.dispose()
        r = run_cli(ctx.settings.home, "audit", "verify", "--sth", str(saved),
                    env={"REGCA_DATABASE_URL": copy})
        assert r.code == 1
        assert f"entry {k}:" in r.err, r.err
        assert "saved tree head" in r.err and r.err.count("\n") == 1
    finally:
        _drop_copy(backend, copy)


def test_a_truncated_log_fails_naming_where_it_ends(signed_home, tmp_path):
    ctx, backend, url, saved, _ = signed_home
    size = json.loads(saved.read_text())["tree_size"]
    copy = _copy_database(ctx, backend, url, tmp_path)
    try:
        _rewrite_with_every_hash(copy, lambda rows: rows[:size - 3])
        with create_engine(copy).begin() as conn:  # the HMACs of the lost tail go too
            conn.execute(text("DELETE FROM log_macs WHERE idx >= :n"), {"n": size - 3})
            conn.execute(text("DELETE FROM tree_heads WHERE tree_size > :n"), {"n": size - 3})
        r = run_cli(ctx.settings.home, "audit", "verify", "--sth", str(saved),
                    env={"REGCA_DATABASE_URL": copy})
        assert r.code == 1 and f"entry {size - 3}:" in r.err, r.err
    finally:
        _drop_copy(backend, copy)


def test_a_forged_saved_tree_head_is_refused(signed_home, tmp_path):
    ctx, _backend, _url, saved, _ = signed_home
    sth = json.loads(saved.read_text())
    sth["root_hash"] = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(sth))
    r = run_cli(ctx.settings.home, "audit", "verify", "--sth", str(forged))
    assert r.code == 1 and "signature does not verify" in r.err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{\"tree_size\": 3}")
    r = run_cli(ctx.settings.home, "audit", "verify", "--sth", str(garbage))
    assert r.code == 1 and "not a saved tree head" in r.err and "Traceback" not in r.err


# -- the export and the stand-alone verifier ----------------------------------------------------

VERIFIER = REPO / "regca" / "offline_verify.py"


def _offline(folder, root_pem, tmp_path):
    """The verifier copied alone and run isolated (-I: no PYTHONPATH, no project on the
    path): Python's standard library and cryptography only."""
    script = tmp_path / "offline_verify.py"
    script.write_bytes(VERIFIER.read_bytes())
    return subprocess.run([sys.executable, "-I", str(script), str(folder), "--root",
                           str(root_pem)], capture_output=True, text=True, cwd=tmp_path)


def test_the_offline_verifier_imports_nothing_of_regca():
    import ast
    tree = ast.parse(VERIFIER.read_text())
    found = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    found |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
              for a in n.names}
    assert found - set(sys.stdlib_module_names) == {"cryptography"}


@pytest.fixture
def exported(ctx, tmp_path):
    _issue(ctx)
    head_signer(ctx).sign()
    out = tmp_path / "export"
    r = run_cli(ctx.settings.home, "audit", "export", "--out", str(out))
    assert r.code == 0, r.err
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(ctx.certificate_of("root-ca").public_bytes(Encoding.PEM))
    return out, root_pem


def test_the_offline_verifier_checks_an_export(exported, tmp_path):
    out, root_pem = exported
    r = _offline(out, root_pem, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK: ") and "certificates in the log" in r.stdout


def _rewrite_entry(out, index, change):
    doc = json.loads((out / "entries.json").read_text())
    doc["entries"] = change(doc["entries"], index)
    (out / "entries.json").write_text(json.dumps(doc))


def _edited(entries, i):
    event = json.loads(base64.b64decode(entries[i]["leaf"]))
    event["actor"] = "mallory"
    entries[i]["leaf"] = base64.b64encode(json.dumps(event).encode()).decode()
    return entries


def _dropped(entries, i):
    """Entry i gone, the rest renumbered, and as many entries as before (the last twice)."""
    kept = entries[:i] + entries[i + 1:] + entries[-1:]
    return [dict(e, index=n) for n, e in enumerate(kept)]


@pytest.mark.parametrize("tamper, message", [
    (lambda out: _rewrite_entry(out, 3, _edited), "the entries do not make its root hash"),
    (lambda out: _rewrite_entry(out, 3, _dropped), "the entries do not make its root hash"),
    (lambda out: _rewrite_entry(out, 3, lambda e, i: e[:i] + e[i + 1:]), "entry 3: missing"),
    (lambda out: _tamper_head(out, "root_hash"), "signature does not verify"),
    (lambda out: _tamper_head(out, "timestamp"), "signature does not verify"),
    (lambda out: _tamper_head(out, "timestamp_token"), "time-stamp token"),
    (lambda out: (out / "certificates" / "ff.der").write_bytes(
        base64.b64decode(_ANOTHER_CERT)), "no issuance entry names it"),
])
def test_the_offline_verifier_fails_on_a_tampered_export(exported, tmp_path, tamper, message):
    out, root_pem = exported
    tamper(out)
    r = _offline(out, root_pem, tmp_path)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_the_offline_verifier_trusts_only_the_given_root(exported, tmp_path):
    out, _ = exported
    other = tmp_path / "other-root.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Mallory Root")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    other.write_bytes(cert.public_bytes(Encoding.PEM))
    r = _offline(out, other, tmp_path)
    assert r.returncode == 1 and "not issued by the root" in r.stderr


def _tamper_head(out, field):
    heads = json.loads((out / "tree-heads.json").read_text())
    head = heads[-1]
    if field == "root_hash":
        head[field] = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    elif field == "timestamp":
        head[field] = head[field].replace("Z", "-00:01")  # a minute later
    else:
        token = bytearray(base64.b64decode(head[field]))
        token[-10] ^= 0x01  # inside the SignerInfo's signature
        head[field] = base64.b64encode(bytes(token)).decode()
    (out / "tree-heads.json").write_text(json.dumps(heads))


_ANOTHER_CERT = base64.b64encode(b"not even a certificate, but bytes no entry names").decode()


# -- a home made before the log ---------------------------------------------------------------

def test_a_home_made_before_the_log_gets_it_with_audit_init_log(tmp_path):
    import tomllib

    from ca.config import HSM_CONFIG_DIR, write_settings
    home = tmp_path / "home"
    home.mkdir()
    hsm = tomllib.loads((HSM_CONFIG_DIR / "pkcs11.toml").read_text())
    for role in ("audit", "hmac"):  # the layout of the releases before the log
        del hsm["keys"][role]
    hsm["softhsm_conf"] = "hsm/softhsm2.conf"
    for name, token in hsm["tokens"].items():
        if not token.get("offline"):  # the root's PIN is the operator's, kept nowhere
            token["pin_file"] = f"hsm/{name}.pin"
    write_settings(home / "regca.toml", {"public_url": "http://127.0.0.1:8080"},
                   {"name": "RegCA"}, hsm)
    old = make_home(home)
    issued = _issue(old)
    with old.db.reading() as s:  # without the HMAC key the PESEL is masked, never in clear
        details = s.scalar(select(AuditEvent.details).where(
            AuditEvent.object == f"certificate:{issued.serial}"))
    assert "PNOPL-02*******24" in details and RESIDENT["pesel"] not in details
    assert _get(old, "/transparency/v1/sth")[0] == 404
    r = run_cli(home, "audit", "init-log", env={"REGCA_ROOT_PIN": ROOT_PIN})  # a root ceremony
    assert r.code == 0, r.err
    ctx = CaContext.open(home, old.clock)
    status, proof = _get(ctx, f"/transparency/v1/proof?serial={issued.serial}")
    assert status == 200
    root = _check_sth_independently(ctx, proof["sth"])
    leaf = base64.b64decode(proof["leaf"])
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    assert rfc9162.root_from_inclusion(proof["leaf_index"], proof["tree_size"], leaf,
                                       path) == root
    assert run_cli(home, "audit", "verify").code == 0
    again = run_cli(home, "audit", "init-log", env={"REGCA_ROOT_PIN": ROOT_PIN})
    assert again.code == 1 and "already" in again.err
