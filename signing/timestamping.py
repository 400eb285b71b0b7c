"""Where signature and document time-stamps come from: RegCA's one TSA (tsa/authority.py).

``[signing] timestamper`` chooses the way there. ``"http"`` (the default) is pyHanko's RFC 3161
HTTP client pointed at the configured TSA URL (the home's own ``/tsa`` unless ``[signing]
tsa_url`` says otherwise). ``"in-process"`` hands pyHanko's request to the same
``TimeStampAuthority`` in this process, for a home that runs the signing API without the TSA
service: the tokens are the same (policy, serial counter, key) and are on record before pyHanko
sees them. The composition (regca/roles.py) chooses and builds the time-stamper.
"""

from __future__ import annotations

from asn1crypto import tsp
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

from tsa.authority import TimeStampAuthority
from tsa.errors import Rejected
from tsa.reply import TimeStampResp, granted, rejection
from tsa.request import parse_request

__all__ = ["AuthorityTimeStamper", "IN_PROCESS_REQUESTER", "http_timestamper"]

IN_PROCESS_REQUESTER = "in-process:signing"


class AuthorityTimeStamper(TimeStamper):
    """pyHanko's ``TimeStamper`` answered by the TSA core instead of over HTTP.

    The request goes through the checks ``POST /tsa`` applies and a refusal comes back as a
    rejection TimeStampResp, which pyHanko turns into ``TimestampRequestError`` as it would for
    an HTTP TSA.
    """

    def __init__(self, authority: TimeStampAuthority, requester: str = IN_PROCESS_REQUESTER):
        super().__init__()
        self.authority, self.requester = authority, requester

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            request = parse_request(req.dump(), self.authority.policy)
            reply = granted(self.authority.issue(request, self.requester))
        except Rejected as exc:
            reply = rejection(exc)
        return TimeStampResp.load(reply)  # its token is optional, as RFC 3161 says


def http_timestamper(url: str, timeout: float = 10) -> TimeStamper:
    return RequestsHTTPTimeStamper(url, timeout=timeout)
