"""With the database gone (the SQLite file lost, PostgreSQL stopped), OCSP keeps answering
``good``/``revoked`` with the very responses it gave before, from this node's mirror of the
pre-signed responses (ca/store/ocsp_mirror.py), and the CRLs keep being served; what only the
database could answer is tryLater, never internalError."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from conftest import make_home
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import http, issue, openssl, post_ocsp, serve_home, stop
from scratch_postgres import available, scratch_cluster
from sqlalchemy.engine import make_url
from tsa_support import wsgi_thread

from ca.crl import CrlPublisher
from ca.ocsp_cache import ResponseCache, node_mirror, sync_mirror
from ca.revocation import RevocationRequest, Revoker
from ca.store import ocsp as ocsp_store
from regca.wsgi import create_app

pytestmark = [pytest.mark.hsm, pytest.mark.slow]


def _request(cert, issuer, algorithm=None) -> bytes:
    return (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
            .build().public_bytes(Encoding.DER))


class _Drill:
    """Two certificates, one revoked, and what the services answer for them before the
    database goes away."""

    def __init__(self, ctx, base: str, certs: Path, tmp: Path):
        self.ctx, self.base, self.certs = ctx, base, certs
        self.issuer = ctx.certificate_of("issuing-ca")
        _, self.good, self.good_pem = issue(ctx, tmp, "good")
        bad_serial, self.bad, self.bad_pem = issue(ctx, tmp, "bad")
        Revoker(ctx).revoke(RevocationRequest(bad_serial, "keyCompromise", "test"))
        self.before = {}
        for cert in (self.good, self.bad):
            status, _, body = post_ocsp(base, _request(cert, self.issuer))
            assert status == 200
            self.before[cert.serial_number] = body
        self.crl = http(base + "/crl/issuing.crl")[2]
        assert self.crl
        assert self._statuses() == ("good", "revoked")

    def prompt_crl_served(self) -> bool:
        """Whether the complete CRL served lists the revoked certificate (the jobs process
        publishes one within seconds of a revocation); the CRL to compare with is then that one.
        """
        body = http(self.base + "/crl/issuing.crl")[2]
        if x509.load_der_x509_crl(body).get_revoked_certificate_by_serial_number(
                self.bad.serial_number) is None:
            return False
        self.crl = body
        return True

    def mirrored(self) -> bool:
        mirror = node_mirror(self.ctx)
        return all((mirror.get(f"{s:x}", "sha1") or (None,))[0] == der
                   for s, der in self.before.items())

    def _statuses(self) -> tuple[str, str]:
        found = []
        for pem in (self.good_pem, self.bad_pem):  # openssl sends a nonce: none comes back
            done = openssl("ocsp", "-issuer", str(self.certs / "issuing.pem"), "-cert", str(pem),
                           "-url", self.base + "/ocsp", "-CAfile", str(self.certs / "chain.pem"))
            out = done.stdout + done.stderr
            assert "Response verify OK" in out, out
            found.append("revoked" if f"{pem}: revoked" in out else
                         "good" if f"{pem}: good" in out else out)
        return tuple(found)

    def check_unchanged(self) -> None:
        for cert in (self.good, self.bad):
            status, headers, body = post_ocsp(self.base, _request(cert, self.issuer))
            assert status == 200 and body == self.before[cert.serial_number]
        assert self._statuses() == ("good", "revoked")
        assert http(self.base + "/crl/issuing.crl")[:3:2] == (200, self.crl)

    def check_miss_is_try_later(self) -> None:
        _, _, body = post_ocsp(self.base, _request(self.good, self.issuer, hashes.SHA256()))
        assert ocsp.load_der_ocsp_response(body).response_status == \
            ocsp.OCSPResponseStatus.TRY_LATER

    def hold(self, seconds: float) -> int:
        """Keep checking for ``seconds``; returns how many rounds were checked."""
        deadline, rounds = time.monotonic() + seconds, 0
        while True:
            self.check_unchanged()
            rounds += 1
            if time.monotonic() > deadline:
                return rounds
            time.sleep(2)


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


@contextlib.contextmanager
def _database_file_lost(ctx, tmp_path: Path):
    """The SQLite database and its -wal/-shm files moved away for the block, then put back."""
    database = Path(make_url(ctx.db.url).database)
    away = tmp_path / "moved-away"
    away.mkdir()
    moved = [p for p in database.parent.glob(database.name + "*")]
    for path in moved:
        path.rename(away / path.name)
    ctx.db.dispose()  # every connection now opens the path, which is gone
    try:
        yield
    finally:
        ctx.db.dispose()
        for path in database.parent.glob(database.name + "*"):
            path.unlink()  # the empty file a connection made meanwhile
        for path in moved:
            (away / path.name).rename(path)
    assert ctx.db.ping()


def test_sqlite_file_lost_ocsp_answers_from_the_mirror_and_crls_are_served(tmp_path):
    """In-process, so the file's loss reaches every connection (a served worker would keep
    the moved file open and never notice)."""
    ctx = make_home(tmp_path / "home")
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "issuing.pem").write_bytes(ctx.certificate_of("issuing-ca").public_bytes(Encoding.PEM))
    (certs / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in ctx.chain()))
    CrlPublisher(ctx).publish_due()
    with wsgi_thread(create_app(ctx.settings.home, ctx)) as base:
        drill = _Drill(ctx, base, certs, tmp_path)
        sync_mirror(ctx.db, node_mirror(ctx), ctx.now())  # what the jobs process does
        assert drill.mirrored()
        with _database_file_lost(ctx, tmp_path):
            assert drill.hold(5) >= 2
            drill.check_miss_is_try_later()
    assert ctx.db.ping()
    ctx.db.dispose()


def test_a_worker_that_answered_nothing_before_the_outage_answers_from_the_mirror(tmp_path):
    """Under ``regca serve`` the requests before an outage may all have gone to one worker;
    every other worker must know the CAs too (it reads them when it is built)."""
    ctx = make_home(tmp_path / "home")
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "issuing.pem").write_bytes(ctx.certificate_of("issuing-ca").public_bytes(Encoding.PEM))
    (certs / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in ctx.chain()))
    with wsgi_thread(create_app(ctx.settings.home, ctx)) as base:
        drill = _Drill(ctx, base, certs, tmp_path)
    sync_mirror(ctx.db, node_mirror(ctx), ctx.now())
    idle_worker = create_app(ctx.settings.home, ctx)  # has answered nothing yet
    with _database_file_lost(ctx, tmp_path), wsgi_thread(idle_worker) as base:
        for cert in (drill.good, drill.bad):
            status, _, body = post_ocsp(base, _request(cert, drill.issuer))
            assert status == 200 and body == drill.before[cert.serial_number]
    ctx.db.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not available(), reason="Debian's PostgreSQL server binaries not installed")
def test_postgresql_stopped_for_a_minute_ocsp_and_crls_keep_answering(tmp_path):
    with scratch_cluster() as pg:  # its own database, dropped with the cluster
        served = serve_home(tmp_path, pg.url)  # regca serve: granian workers and the jobs process
        try:
            drill = _Drill(served.ctx, served.base, served.certs, tmp_path)
            _wait(drill.mirrored, "the jobs process did not copy the responses to the mirror")
            _wait(drill.prompt_crl_served, "no complete CRL listing the revocation was served")
            served.ctx.db.dispose()
            pg.stop()
            try:
                assert http(served.base + "/healthz")[0] == 503
                assert drill.hold(60) >= 10
                drill.check_miss_is_try_later()
            finally:
                pg.start()
            _wait(lambda: http(served.base + "/healthz")[0] == 200, "not healthy again")
            drill.check_unchanged()
        finally:
            stop(served.process)
            served.ctx.db.dispose()


def test_the_mirror_never_keeps_a_good_response_of_a_revoked_certificate(tmp_path):
    ctx = make_home(tmp_path / "home")
    serial, _, _ = issue(ctx, tmp_path)
    mirror = node_mirror(ctx)
    sync_mirror(ctx.db, mirror, ctx.now())
    good = mirror.get(serial, "sha1")
    assert good is not None
    Revoker(ctx).revoke(RevocationRequest(serial, "keyCompromise", "test"))
    with ctx.db.transaction() as s:  # as when the HSM could not re-sign at revocation
        ocsp_store.invalidate(s, serial)
    sync_mirror(ctx.db, mirror, ctx.now())
    assert mirror.get(serial, "sha1") is None
    ResponseCache(ctx).refresh()  # the revoked response, signed once the HSM is back
    sync_mirror(ctx.db, mirror, ctx.now())
    der = mirror.get(serial, "sha1")[0]
    assert ocsp.load_der_ocsp_response(der).certificate_status == ocsp.OCSPCertStatus.REVOKED
    ctx.db.dispose()
