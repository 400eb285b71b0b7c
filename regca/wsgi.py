"""All services on one base URL. Each service is its own WSGI app and can run alone too.

The context stays here: OCSP, the TSA, the signing API, the web and the RA API get only what
they use (regca/roles.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ca.context import CaContext
from edge.problems import api_fallback
from edge.wsgi import json_response
from regca.crls import CrlApp
from regca.health import HealthApp
from regca.metrics import Instrumented, MetricsApp
from regca.repository import RepositoryApp
from regca.roles import (
    enrollment_app,
    ocsp_app,
    ra_api,
    registration_authority,
    signing_app,
    transparency_app,
    tsa_app,
)

__all__ = ["Dispatcher", "create_app"]


class Dispatcher:
    """Routes by path prefix; the longest matching prefix wins.

    The prefixes are grouped by their first path segment, so a request looks at the few that
    can match (``/ocsp``, ``/tsa``: one) instead of trying every prefix in turn."""

    def __init__(self, routes: dict[str, Callable], fallback: Callable | None = None):
        self.routes: dict[str, list[tuple[str, Callable]]] = {}
        for prefix, app in sorted(routes.items(), key=lambda kv: -len(kv[0])):
            self.routes.setdefault(_first_segment(prefix), []).append(
                (prefix.rstrip("/"), app))
        self.fallback = fallback

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        for prefix, app in self.routes.get(_first_segment(path), ()):
            if path.startswith(prefix) and (len(path) == len(prefix)
                                            or path[len(prefix)] == "/"):
                return app(environ, start_response)
        if self.fallback is not None:
            return self.fallback(environ, start_response)
        return json_response(start_response, 404,
                             {"error": {"code": "not_found", "message": f"no route for {path}"}})


def _first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:end] if end > 0 else path[1:]


def create_app(home: Path | str, ctx: CaContext | None = None) -> Dispatcher:
    ctx = ctx or CaContext.open(Path(home))
    ctx.check_keys()
    signing = signing_app(ctx)
    repository = RepositoryApp(ctx)
    ra = registration_authority(ctx)  # one for the RA API and the pages
    routes: dict[str, Callable] = {
        "/api/v1/sign": signing,
        "/api/v1/verify": signing,
        "/api/v1/openapi.json": signing,
        "/api/v1": api_fallback(),
        "/healthz": HealthApp(ctx),
        "/ca": repository,
        "/cps": repository,
        "/api/v1/certificates": ra_api(ctx, ra),
        "/tsa": Instrumented("tsa", tsa_app(ctx)),
        "/ocsp": Instrumented("ocsp", ocsp_app(ctx)),
        "/metrics": MetricsApp(ctx),
        "/crl": CrlApp(ctx),
        "/transparency": transparency_app(ctx),
    }
    return Dispatcher(routes, fallback=enrollment_app(ctx, ra))
