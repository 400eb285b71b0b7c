"""All services on one base URL. Each service is its own WSGI app and can run alone too.

The context stays here: OCSP, the TSA and the signing API get only what they use
(regca/roles.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ca.context import CaContext
from edge.problems import api_fallback
from edge.wsgi import json_response
from enrollment_web.ra_api import create_ra_api
from enrollment_web.web import create_enrollment_app
from regca.crls import CrlApp
from regca.health import HealthApp
from regca.metrics import Instrumented, MetricsApp
from regca.repository import RepositoryApp
from regca.roles import ocsp_app, signing_app, tsa_app

__all__ = ["Dispatcher", "create_app"]


class Dispatcher:
    """Routes by path prefix; the longest matching prefix wins."""

    def __init__(self, routes: dict[str, Callable], fallback: Callable | None = None):
        self.routes = sorted(routes.items(), key=lambda kv: -len(kv[0]))
        self.fallback = fallback

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        for prefix, app in self.routes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return app(environ, start_response)
        if self.fallback is not None:
            return self.fallback(environ, start_response)
        return json_response(start_response, 404,
                             {"error": {"code": "not_found", "message": f"no route for {path}"}})


def create_app(home: Path | str, ctx: CaContext | None = None) -> Dispatcher:
    ctx = ctx or CaContext.open(Path(home))
    ctx.check_keys()
    signing = signing_app(ctx)
    repository = RepositoryApp(ctx)
    routes: dict[str, Callable] = {
        "/api/v1/sign": signing,
        "/api/v1/verify": signing,
        "/api/v1/openapi.json": signing,
        "/api/v1": api_fallback(),
        "/healthz": HealthApp(ctx),
        "/ca": repository,
        "/cps": repository,
        "/api/v1/certificates": create_ra_api(ctx),
        "/tsa": Instrumented("tsa", tsa_app(ctx)),
        "/ocsp": Instrumented("ocsp", ocsp_app(ctx)),
        "/metrics": MetricsApp(ctx),
        "/crl": CrlApp(ctx),
    }
    return Dispatcher(routes, fallback=create_enrollment_app(ctx))
