"""``POST /tsa``: the RFC 3161 §3.4 HTTP transport, a bare WSGI app (no framework: speed).

Every answer is a TimeStampResp (``application/timestamp-reply``); refusals are PKIStatus
rejection with a failInfo, never an HTML page. The HTTP status says who is at fault: 200 for a
protocol-level refusal, 4xx for transport mistakes, 503 when the HSM or database is down.
"""

from __future__ import annotations

import hashlib
import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from ca.errors import Unauthorized
from edge.wsgi import API_KEY_ENVIRON, BodyTooLarge, read_body, respond
from ra.apikeys import ApiKeys
from tsa.authority import TimeStampAuthority
from tsa.errors import Rejected
from tsa.reply import granted, rejection
from tsa.request import parse_request

__all__ = ["QUERY_TYPE", "REPLY_TYPE", "TsaApp"]

log = logging.getLogger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_KEY_CACHE_SECONDS = 60.0


class TsaApp:
    """The HTTP front of the home's ``TimeStampAuthority``: a reply leaves only with a token
    already on record. Given the authority (the TSA key only) and the API-key check that names
    requesters, nothing else (regca/roles.py builds both)."""

    def __init__(self, authority: TimeStampAuthority, api_keys: ApiKeys):
        self.authority = authority
        self.api_keys = api_keys
        self.policy = self.authority.policy
        self._keys: dict[str, tuple[str, float]] = {}

    # -- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        try:
            der, requester = self._accept(environ)
            token = self.authority.issue(parse_request(der, self.policy), requester)
            return respond(start_response, 200, granted(token), REPLY_TYPE)
        except Rejected as exc:
            return respond(start_response, exc.http_status, rejection(exc), REPLY_TYPE)
        except Exception:  # the edge: a bug must still answer inside the protocol
            log.exception("time-stamp request failed")
            failure = Rejected("system_failure", "internal error", 503)
            return respond(start_response, 503, rejection(failure), REPLY_TYPE)

    def _accept(self, environ) -> tuple[bytes, str]:
        """The request body and who asked, or a Rejected naming the transport mistake."""
        if environ.get("REQUEST_METHOD") != "POST":
            raise Rejected("bad_request", "use POST with application/timestamp-query", 405)
        media_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if media_type != QUERY_TYPE:
            raise Rejected("bad_request", f"Content-Type must be {QUERY_TYPE}", 415)
        try:
            der = read_body(environ, self.policy.max_request_bytes)
        except BodyTooLarge:
            raise Rejected("bad_request", f"a time-stamp query is at most "
                                          f"{self.policy.max_request_bytes} bytes", 413) from None
        requester = self._requester(environ)
        if requester.startswith("apikey:"):
            environ[API_KEY_ENVIRON] = requester.removeprefix("apikey:")  # for the access log
        return der, requester

    def _requester(self, environ) -> str:
        """``apikey:<id>`` when a valid Bearer key is presented, else the remote address.

        The TSA is public, so a key only names the requester in the record; a checked key is
        remembered for a minute so that a busy client does not cost a database read per token.
        """
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not auth.lower().startswith("bearer "):
            return f"ip:{environ.get('REMOTE_ADDR', 'unknown')}"
        bearer = auth[7:].strip()
        cache_key = hashlib.sha256(bearer.encode()).hexdigest()
        cached = self._keys.get(cache_key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            principal = self.api_keys.authenticate(bearer)
        except Unauthorized as exc:
            raise Rejected("bad_request", exc.message, 401) from None
        except SQLAlchemyError:
            raise Rejected("system_failure", "database unavailable", 503) from None
        if len(self._keys) > 1000:
            self._keys.clear()
        self._keys[cache_key] = (principal.actor, time.monotonic() + _KEY_CACHE_SECONDS)
        return principal.actor
