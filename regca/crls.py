"""``GET /crl/<ca>.crl`` and ``/crl/<ca>-delta.crl``: the published DER CRLs (RFC 5280
§4.2.1.13, served as ``application/pkix-crl``, RFC 2585 §4.2), with HEAD, validators and
conditional GET (edge/representation.py)."""

from __future__ import annotations

import os
import threading

from cryptography import x509

from ca.context import CaContext
from ca.crl import crl_path
from ca.issuing_cas import generation_of
from edge.representation import Representation, serve_representation
from edge.wsgi import respond

__all__ = ["CrlApp", "CRL_MAX_AGE"]

# A revocation republishes the complete CRL within seconds (ca/prompt_crl.py); a cache that
# kept it for longer than a minute would undo that. Conditional GET keeps re-checks cheap.
CRL_MAX_AGE = 60


class CrlApp:
    """Serves this node's files of the published CRLs: written by whichever process of the
    node published, and copied from the database by its jobs process when another node did
    (ca/crl.py ``PublishedCopy``), so every node serves the same bytes, and still serves them
    while the database is away. A file is re-read only when it changes, so a large complete
    CRL is not read from disk per request."""

    def __init__(self, ctx: CaContext):
        self.ctx = ctx
        self._cache: dict[str, tuple[tuple, Representation]] = {}
        self._lock = threading.Lock()

    def _load(self, path) -> Representation | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1]
        data = path.read_bytes()
        crl = x509.load_der_x509_crl(data)
        # Last-Modified is the CRL's thisUpdate: the same in every worker and on every host.
        rep = Representation(data, "application/pkix-crl", crl.last_update_utc,
                             crl.next_update_utc)
        with self._lock:
            self._cache[str(path)] = (stamp, rep)
        return rep

    def _target(self, path: str) -> tuple[str, bool] | None:
        """``(CA name, delta)`` of ``/crl/<ca>.crl`` or ``/crl/<ca>-delta.crl`` for a CA name
        (``root``, ``issuing``, ``issuing-g<n>``: every issuing-CA generation has its own CRL),
        else None. Names only: the files answer without the database."""
        if not (path.startswith("/crl/") and path.endswith(".crl")):
            return None
        name = path[len("/crl/"):-len(".crl")]
        delta = name.endswith("-delta")
        name = name.removesuffix("-delta")
        return (name, delta) if name == "root" or generation_of(name) else None

    def __call__(self, environ, start_response):
        target = self._target(environ.get("PATH_INFO", ""))
        if target is None:
            return respond(start_response, 404, b"not found\n", "text/plain")
        rep = self._load(crl_path(self.ctx.settings.crl_dir, *target))
        if rep is None:
            return respond(start_response, 404, b"CRL not published yet\n", "text/plain")
        return serve_representation(environ, start_response, rep, CRL_MAX_AGE, self.ctx.now())
