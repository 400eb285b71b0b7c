"""A pyhanko-certvalidator FetcherBackend that fetches OCSP, CRLs and issuer certificates safely.

What a verify request fetches is named by the certificates the caller sent, so every fetch goes
through the checks of signing/fetch_policy.py (http(s) only, public or allow-listed addresses,
resolved once and connected to as checked, redirects checked again), under one time budget per
verify request (``Deadline``, shared by every fetch made with one backend) and a size cap per
download. A refused, failed or late fetch raises pyhanko-certvalidator's own fetch errors, which
its soft-fail mode records as "no revocation information", never as a crash.

Why a pool of its own. The verify API runs in the same workers that answer OCSP and time-stamp
requests; a URL that accepts and never answers used to hold one of them for 10 s per fetch. The
network I/O here runs on ``POOL_THREADS`` threads per process, apart from those workers, and the
request waits for it only until its deadline: the await is cut at the deadline whatever the
thread is doing, the socket is then shut down so the thread comes free at once, and a fetch still
queued for a thread when the deadline passes is cancelled and never starts. A saturated pool
therefore makes fetches "unavailable" within the budget; it never makes a request wait longer.
(One thing the deadline cannot cut is a hanging DNS lookup, getaddrinfo has no timeout: it holds
a pool thread, not a worker, and the request still answers on time.)

The clock here is ``time.monotonic``, not the injected ``ctx.now()``: the budget is real elapsed
time on this machine, which a pinned test clock must not freeze (STYLE.md's injected clock is for
the times that validation reasons about).
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin

from pyhanko_certvalidator.fetchers.api import FetcherBackend, Fetchers, FetchLimits
from pyhanko_certvalidator.fetchers.common_utils import FetchBudget
from pyhanko_certvalidator.fetchers.requests_fetchers.cert_fetch_client import (
    RequestsCertificateFetcher,
)
from pyhanko_certvalidator.fetchers.requests_fetchers.crl_client import RequestsCRLFetcher
from pyhanko_certvalidator.fetchers.requests_fetchers.ocsp_client import RequestsOCSPFetcher
from requests.structures import CaseInsensitiveDict

from signing.fetch_policy import (
    FetchError,
    FetchPolicy,
    FetchRefused,
    FetchUnavailable,
    Target,
    check_url,
)

__all__ = ["LIMITS", "POOL_THREADS", "Deadline", "FencedFetcherBackend", "Fetched", "fetch"]

logger = logging.getLogger(__name__)

POOL_THREADS = 4
MAX_REDIRECTS = 3
# Counted per backend (one verify request); a real chain needs a handful of each.
LIMITS = FetchLimits(max_requests=24, max_cert_requests=12, max_aia_urls_per_object=4)
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024


class Deadline:
    """One verify request's fetch budget, counted from its first fetch; safe across threads."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds, self._clock, self._ends = seconds, clock, None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._ends is None:
                self._ends = self._clock() + self.seconds

    def remaining(self) -> float:
        self.start()
        return self._ends - self._clock()


@dataclass(frozen=True)
class Fetched:
    """The part of a ``requests.Response`` that pyhanko-certvalidator's fetchers read."""

    content: bytes
    headers: CaseInsensitiveDict
    status_code: int = 200


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    # A forked worker (gunicorn) inherits no threads: it starts a pool of its own on first use.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="regca-fetch")
        return _pool


class _Job:
    """One fetch, run on a pool thread; ``abort`` from the waiting side frees the thread."""

    def __init__(self, url: str, policy: FetchPolicy, deadline: Deadline, max_bytes: int,
                 method: str, body: bytes | None, headers: dict[str, str]):
        self.url, self.policy, self.deadline, self.max_bytes = url, policy, deadline, max_bytes
        self.method, self.body, self.headers = method, body, headers
        self._lock, self._sock, self._aborted = threading.Lock(), None, False

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            if self._sock is not None:
                try:  # the plain socket's shutdown, also under TLS: it wakes a blocked recv
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def run(self) -> Fetched:
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            target = check_url(url, self.policy)  # every hop is checked like the first
            status, headers, content = self._exchange(target)
            if status in _REDIRECTS and self.method == "GET" and headers.get("Location"):
                url = urljoin(url, headers["Location"])
                continue
            if status != 200:
                raise FetchUnavailable(url, f"HTTP status {status}")
            return Fetched(content, headers)
        raise FetchRefused(self.url, f"more than {MAX_REDIRECTS} redirects")

    def _remaining(self, sock: socket.socket | None = None) -> float:
        left = self.deadline.remaining()
        if left <= 0 or self._aborted:
            raise FetchUnavailable(self.url, "the request's fetch budget is spent")
        if sock is not None:
            sock.settimeout(left)
        return left

    def _hold(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self._aborted:
                raise FetchUnavailable(self.url, "the request's fetch budget is spent")

    def _connect(self, target: Target) -> socket.socket:
        last: Exception | None = None
        for address in target.addresses:  # only the addresses check_url vetted
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                self._hold(sock)
                sock.settimeout(self._remaining())
                sock.connect((str(address), target.port))
                if target.scheme == "https":
                    sock = ssl.create_default_context().wrap_socket(
                        sock, server_hostname=target.host)
                    self._hold(sock)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise FetchUnavailable(self.url, f"could not connect to {target.host} ({last})")

    def _exchange(self, target: Target) -> tuple[int, CaseInsensitiveDict, bytes]:
        sock = self._connect(target)
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock  # already connected to the checked address; http.client never redirects
        try:
            host = f"[{target.host}]" if ":" in target.host else target.host
            default = 443 if target.scheme == "https" else 80
            headers = {**self.headers, "Host": host if target.port == default
                       else f"{host}:{target.port}", "Connection": "close"}
            self._remaining(sock)
            conn.request(self.method, target.path, body=self.body, headers=headers)
            self._remaining(sock)
            response = conn.getresponse()
            got = CaseInsensitiveDict(response.getheaders())
            if response.status != 200:
                return response.status, got, b""
            declared = got.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchUnavailable(self.url, f"{declared} bytes is over the "
                                                 f"{self.max_bytes}-byte cap")
            content = bytearray()
            while chunk := (self._remaining(sock), response.read1(_CHUNK))[1]:
                content += chunk
                if len(content) > self.max_bytes:
                    raise FetchUnavailable(self.url, f"over the {self.max_bytes}-byte cap")
            return 200, got, bytes(content)
        finally:
            conn.close()


async def fetch(url: str, policy: FetchPolicy, deadline: Deadline, *, max_bytes: int,
                method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Fetched:
    """Fetch ``url`` on the pool under ``policy``; FetchError if refused, failed or too late."""
    job = _Job(url, policy, deadline, max_bytes, method, body, headers or {})
    future = None
    try:
        left = deadline.remaining()
        if left <= 0:
            raise FetchUnavailable(url, "the request's fetch budget is spent")
        try:
            future = _executor().submit(job.run)
        except RuntimeError:  # the interpreter is shutting down
            raise FetchUnavailable(url, "the fetch pool is closed") from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), left)
        except TimeoutError:
            raise FetchUnavailable(url, f"no answer within the {deadline.seconds:g} s "
                                        "budget") from None
    except FetchError as exc:
        logger.info("not fetched: %s", exc)
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        logger.info("not fetched: %s: %s", url, exc)
        raise FetchUnavailable(url, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - pyHanko must see a fetch error, not a crash
        logger.warning("not fetched: %s", url, exc_info=exc)
        raise FetchUnavailable(url, f"unexpected {type(exc).__name__}") from None
    finally:
        if future is not None and not future.done():
            job.abort()
            future.cancel()


@dataclass(frozen=True)
class _Fence:
    policy: FetchPolicy
    deadline: Deadline
    max_bytes: int


class _ThroughFence:
    """Replaces the network calls of pyhanko-certvalidator's requests fetchers (the
    ``RequestsFetcherMixin._get``/``_post`` they all go through); their parsing, caching and
    error mapping stay pyhanko's."""

    def __init__(self, *args, fence: _Fence, **kwargs):
        super().__init__(*args, **kwargs)
        self._fence = fence

    def _get(self, url, *, acceptable_content_types):
        return fetch(url, self._fence.policy, self._fence.deadline,
                     max_bytes=self._fence.max_bytes,
                     headers={"Accept": ",".join(acceptable_content_types),
                              "User-Agent": self.user_agent})

    def _post(self, url, data, *, content_type, acceptable_content_types):
        return fetch(url, self._fence.policy, self._fence.deadline,
                     max_bytes=self._fence.max_bytes, method="POST", body=data,
                     headers={"Accept": ",".join(acceptable_content_types),
                              "User-Agent": self.user_agent, "Content-Type": content_type})


class _OCSPFetcher(_ThroughFence, RequestsOCSPFetcher):
    pass


class _CRLFetcher(_ThroughFence, RequestsCRLFetcher):
    pass


class _CertificateFetcher(_ThroughFence, RequestsCertificateFetcher):
    pass


class FencedFetcherBackend(FetcherBackend):
    """Make one per verify request: its deadline and request counts cover all its fetchers,
    however many validation contexts (pyHanko's AdES validation makes several) ask for them."""

    def __init__(self, policy: FetchPolicy, deadline: Deadline | None = None):
        self.policy = policy
        self.deadline = deadline or Deadline(policy.budget_seconds)
        self._budget = FetchBudget(LIMITS)

    def get_fetchers(self) -> Fetchers:
        small = _Fence(self.policy, self.deadline, self.policy.max_bytes)
        crl = _Fence(self.policy, self.deadline, self.policy.max_crl_bytes)
        return Fetchers(ocsp_fetcher=_OCSPFetcher(budget=self._budget, fence=small),
                        crl_fetcher=_CRLFetcher(budget=self._budget, fence=crl),
                        cert_fetcher=_CertificateFetcher(budget=self._budget, fence=small))

    async def close(self):
        return None  # the pool is per process; sockets close with each fetch
