"""The public PKI repository: CA certificates at the AIA caIssuers URLs (``/ca/<ca>.crt``) and
the CP/CPS at ``/cps``, the URI certificates name in their policy qualifier unless regca.toml
names another (``cps_url``). HEAD, validators and conditional GET as for CRLs."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.serialization import Encoding

from ca.context import CA_PROFILES, CaContext
from ca.errors import RegCAError
from edge.representation import Representation, serve_representation
from edge.wsgi import respond

__all__ = ["RepositoryApp"]

_DAY = 86400


class RepositoryApp:
    def __init__(self, ctx: CaContext):
        self.ctx = ctx

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/cps":
            return serve_representation(environ, start_response, self._cps(), _DAY,
                                        self.ctx.now())
        name = path.removeprefix("/ca/").removesuffix(".crt")
        if not (path.startswith("/ca/") and path.endswith(".crt")) or name not in CA_PROFILES:
            return respond(start_response, 404, b"not found\n", "text/plain")
        try:
            cert = self.ctx.certificate_of(CA_PROFILES[name])
        except RegCAError:
            return respond(start_response, 503, b"CA not available\n", "text/plain")
        rep = Representation(cert.public_bytes(Encoding.DER), "application/pkix-cert",
                             cert.not_valid_before_utc, cert.not_valid_after_utc)
        return serve_representation(environ, start_response, rep, _DAY, self.ctx.now())

    def _cps(self) -> Representation:
        path = self.ctx.settings.policies_dir / "cps.md"
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
        return Representation(path.read_bytes(), "text/markdown; charset=utf-8", modified)
