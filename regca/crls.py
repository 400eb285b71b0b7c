"""``GET /crl/<ca>.crl`` and ``/crl/<ca>-delta.crl``: the published DER CRLs (RFC 5280
§4.2.1.13, served as ``application/pkix-crl``, RFC 2585 §4.2)."""

from __future__ import annotations

import email.utils
import hashlib
import os
import threading

from ca.context import CaContext
from ca.crl import crl_path
from ca.urls import CA_NAMES
from edge.wsgi import respond

__all__ = ["CrlApp"]

_FILES = {f"/crl/{ca}{suffix}.crl": (ca, suffix == "-delta")
          for ca in CA_NAMES for suffix in ("", "-delta")}


class CrlApp:
    """Serves the files ``regca crl`` and the scheduler publish; a file is re-read only when
    it changes, so a large complete CRL is not read from disk per request."""

    def __init__(self, ctx: CaContext):
        self.ctx = ctx
        self._cache: dict[str, tuple[tuple, bytes, str, str]] = {}
        self._lock = threading.Lock()

    def _load(self, path) -> tuple[bytes, str, str] | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1:]
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        with self._lock:
            self._cache[str(path)] = (stamp, data, etag, modified)
        return data, etag, modified

    def __call__(self, environ, start_response):
        target = _FILES.get(environ.get("PATH_INFO", ""))
        if target is None or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return respond(start_response, 404, b"not found\n", "text/plain")
        loaded = self._load(crl_path(self.ctx.settings.crl_dir, *target))
        if loaded is None:
            return respond(start_response, 404, b"CRL not published yet\n", "text/plain")
        data, etag, modified = loaded
        headers = [("ETag", etag), ("Last-Modified", modified),
                   ("Cache-Control", "public, max-age=300")]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return [b""]
        body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else data
        return respond(start_response, 200, body, "application/pkix-crl", headers)
