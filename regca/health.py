"""``/healthz``: 200 when the database and the HSM answer and every HSM key is the one its
certificate certifies, 503 otherwise."""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from ca.context import CaContext
from ca.errors import KeyMismatch, RegCAError
from edge.wsgi import json_response

__all__ = ["HealthApp"]

log = logging.getLogger(__name__)


class HealthApp:
    """Checks are cached for a second so a busy probe cannot load the HSM or the database."""

    def __init__(self, ctx: CaContext, ttl: float = 1.0):
        self.ctx, self.ttl = ctx, ttl
        self._last: tuple[float, dict] | None = None

    def status(self) -> dict:
        now = time.monotonic()
        if self._last and now - self._last[0] < self.ttl:
            return self._last[1]
        checks = {"database": self.ctx.db.ping(), "hsm": self.ctx.hsm.ping()}
        checks["keys"] = checks["hsm"] and self._keys_match()
        self._last = (now, checks)
        return checks

    def _keys_match(self) -> bool:
        try:
            self.ctx.check_keys()
        except KeyMismatch as exc:
            log.error("%s", exc.message)
            return False
        except (RegCAError, SQLAlchemyError):
            return False  # no certificate to compare with: the home is not serviceable
        return True

    def __call__(self, environ, start_response):
        checks = self.status()
        ok = all(checks.values())
        body = {"status": "ok" if ok else "unavailable",
                **{k: "up" if v else "down" for k, v in checks.items()}}
        return json_response(start_response, 200 if ok else 503, body)
