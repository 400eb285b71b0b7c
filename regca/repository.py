"""The public PKI repository: CA certificates at the AIA caIssuers URLs (``/ca/<ca>.crt``: the
root, ``issuing`` and each later issuing-CA generation ``issuing-g<n>``),
every generation of the service certificates (``/ca/ocsp-g1.crt``, ``/ca/tsa-g2.crt``...), so
that what an earlier generation signed can still be validated after a rollover, and the CP/CPS at
``/cps``, the URI certificates name in their policy qualifier unless regca.toml names another
(``cps_url``). HEAD, validators and conditional GET as for CRLs."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.context import CaContext
from ca.errors import RegCAError
from ca.rollover import published
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
        if not (path.startswith("/ca/") and path.endswith(".crt")):
            return respond(start_response, 404, b"not found\n", "text/plain")
        try:
            if name in self.ctx.ca_names():  # the root and each issuing-CA generation
                cert = self.ctx.ca_certificate(name)
            else:
                der = published(self.ctx).get(name)
                cert = None if der is None else x509.load_der_x509_certificate(der)
        except RegCAError:
            return respond(start_response, 503, b"CA not available\n", "text/plain")
        if cert is None:
            return respond(start_response, 404, b"not found\n", "text/plain")
        rep = Representation(cert.public_bytes(Encoding.DER), "application/pkix-cert",
                             cert.not_valid_before_utc, cert.not_valid_after_utc)
        return serve_representation(environ, start_response, rep, _DAY, self.ctx.now())

    def _cps(self) -> Representation:
        path = self.ctx.settings.policies_dir / "cps.md"
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
        return Representation(path.read_bytes(), "text/markdown; charset=utf-8", modified)
