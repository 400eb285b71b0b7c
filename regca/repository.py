"""The public PKI repository: CA certificates at the AIA caIssuers URLs (``/ca/<ca>.crt``), and
every generation of the service certificates (``/ca/ocsp-g1.crt``, ``/ca/tsa-g2.crt``...), so
that what an earlier generation signed can still be validated after a rollover."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding

from ca.context import CA_PROFILES, CaContext
from ca.errors import RegCAError
from ca.rollover import published
from edge.wsgi import respond

__all__ = ["RepositoryApp"]


class RepositoryApp:
    def __init__(self, ctx: CaContext):
        self.ctx = ctx

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        name = path.removeprefix("/ca/").removesuffix(".crt")
        if not (path.startswith("/ca/") and path.endswith(".crt")):
            return respond(start_response, 404, b"not found\n", "text/plain")
        try:
            if name in CA_PROFILES:
                der = self.ctx.certificate_of(CA_PROFILES[name]).public_bytes(Encoding.DER)
            else:
                der = published(self.ctx).get(name)
        except RegCAError:
            return respond(start_response, 503, b"CA not available\n", "text/plain")
        if der is None:
            return respond(start_response, 404, b"not found\n", "text/plain")
        return respond(start_response, 200, der, "application/pkix-cert",
                       [("Cache-Control", "public, max-age=86400")])
