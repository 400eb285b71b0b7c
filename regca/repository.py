"""The public PKI repository: CA certificates at the AIA caIssuers URLs (``/ca/<ca>.crt``) and
the CP/CPS at ``/cps``, the URI certificates name in their policy qualifier unless regca.toml
names another (``cps_url``)."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding

from ca.context import CA_PROFILES, CaContext
from ca.errors import RegCAError
from edge.wsgi import respond

__all__ = ["RepositoryApp"]


class RepositoryApp:
    def __init__(self, ctx: CaContext):
        self.ctx = ctx

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/cps":
            return self._cps(start_response)
        name = path.removeprefix("/ca/").removesuffix(".crt")
        if not (path.startswith("/ca/") and path.endswith(".crt")) or name not in CA_PROFILES:
            return respond(start_response, 404, b"not found\n", "text/plain")
        try:
            der = self.ctx.certificate_of(CA_PROFILES[name]).public_bytes(Encoding.DER)
        except RegCAError:
            return respond(start_response, 503, b"CA not available\n", "text/plain")
        return respond(start_response, 200, der, "application/pkix-cert",
                       [("Cache-Control", "public, max-age=86400")])

    def _cps(self, start_response):
        text = (self.ctx.settings.policies_dir / "cps.md").read_bytes()
        return respond(start_response, 200, text, "text/markdown; charset=utf-8",
                       [("Cache-Control", "public, max-age=86400")])
