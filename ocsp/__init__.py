"""RFC 6960 / RFC 5019 OCSP responder: a bare WSGI app answering from pre-signed responses."""

from ocsp.app import OcspApp

__all__ = ["OcspApp"]
