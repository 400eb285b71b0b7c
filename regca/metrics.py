"""``GET /metrics``: the Prometheus text format (prometheus-client).

Two kinds of numbers, each counted where it is correct with several gunicorn workers:
- what happens in a worker (OCSP and TSA requests and their latencies, HSM errors) is counted
  per process; under ``regca serve`` in prometheus-client's multiprocess mode (each worker
  writes its values to files under ``<home>/run/metrics``, any worker's scrape sums them all;
  ``regca.server.prepare_metrics`` sets it up before the workers exist);
- what the store and the published files know (certificates issued and revoked, pending
  issuances, CRL age, days to the end of every CA and service certificate) is read at scrape
  time, so every worker gives the same answer.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError

from ca.context import CaContext
from ca.errors import RegCAError
from ca.store import certificates as cert_store
from edge.wsgi import respond
from keys import hsm as hsm_module
from regca.status_report import certificate_lines, crl_lines

__all__ = ["MetricsApp", "Instrumented", "MULTIPROC_ENV"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own name
# The text format every Prometheus version reads (what generate_latest writes for our names).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Counted in this process (and, in multiprocess mode, in its files).
_LIVE = CollectorRegistry()
REQUESTS = Counter("regca_requests", "Requests answered, by service and HTTP status",
                   ["service", "status"], registry=_LIVE)
LATENCY = Histogram("regca_request_duration_seconds",
                    "Time to answer a request, by service", ["service"], registry=_LIVE,
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                             2.5, 5.0))
HSM_ERRORS = Counter("regca_hsm_errors", "PKCS#11 calls that failed for good, by token",
                     ["token"], registry=_LIVE)


def _count_hsm_error(token: str) -> None:
    HSM_ERRORS.labels(token).inc()


if _count_hsm_error not in hsm_module.error_listeners:
    hsm_module.error_listeners.append(_count_hsm_error)


class Instrumented:
    """A front's WSGI app, its requests counted and timed (the front itself knows nothing of
    it)."""

    def __init__(self, service: str, app):
        self.service, self.app = service, app
        # The labelled series, looked up once: ``labels()`` checks and hashes its values on
        # every call, about a tenth of the CPU of a pre-signed OCSP answer.
        self._latency = LATENCY.labels(service)
        self._requests: dict[str, Counter] = {}

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        seen = []

        def recording(status, headers, exc_info=None):
            seen.append(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording)
        finally:
            self._latency.observe(time.perf_counter() - started)
            status = seen[0] if seen else "500"
            counter = self._requests.get(status)
            if counter is None:
                counter = self._requests[status] = REQUESTS.labels(self.service, status)
            counter.inc()


class _StoreCollector:
    """What the store and the published CRLs say, read at each scrape."""

    def __init__(self, ctx: CaContext):
        self.ctx = ctx

    def collect(self):
        ctx = self.ctx
        up = GaugeMetricFamily("regca_store_up", "1 when the store answered this scrape")
        try:
            with ctx.db.reading() as s:
                counts = cert_store.counts(s)
            certificates = certificate_lines(ctx)
        except (RegCAError, SQLAlchemyError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        issued = CounterMetricFamily("regca_certificates_issued",
                                     "Certificates issued, by profile", labels=["profile"])
        revoked = CounterMetricFamily("regca_certificates_revoked",
                                      "Certificates revoked, by profile", labels=["profile"])
        pending = GaugeMetricFamily("regca_pending_issuances",
                                    "Issuances recorded but not yet signed and stored")
        for profile in sorted({p for p, _ in counts}):
            issued.add_metric([profile], sum(counts.get((profile, st), 0)
                                             for st in ("issued", "revoked")))
            revoked.add_metric([profile], counts.get((profile, "revoked"), 0))
        pending.add_metric([], sum(n for (_, st), n in counts.items() if st == "pending"))
        yield from (issued, revoked, pending)

        expiry = GaugeMetricFamily(
            "regca_certificate_expiry_days",
            "Days until the notAfter of each CA certificate and active service certificate",
            labels=["certificate", "kind", "serial"])
        now = ctx.now()
        for c in certificates:
            left = (_parse(c.not_after_at) - now).total_seconds() / 86400
            expiry.add_metric([c.name, c.kind, c.serial], round(left, 3))
        yield expiry

        age = GaugeMetricFamily("regca_crl_age_seconds",
                                "Seconds since the thisUpdate of each published CRL",
                                labels=["ca", "type"])
        remaining = GaugeMetricFamily("regca_crl_next_update_seconds",
                                      "Seconds until the nextUpdate of each published CRL "
                                      "(negative: stale)", labels=["ca", "type"])
        for r in crl_lines(ctx):
            if r.this_update is None:
                continue
            kind = "delta" if r.delta else "full"
            age.add_metric([r.ca, kind], (now - _parse(r.this_update)).total_seconds())
            remaining.add_metric([r.ca, kind], (_parse(r.next_update_at) - now).total_seconds())
        yield from (age, remaining)


def _parse(moment: str) -> dt.datetime:
    return dt.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


class MetricsApp:
    def __init__(self, ctx: CaContext):
        self._store = CollectorRegistry()
        self._store.register(_StoreCollector(ctx))

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return respond(start_response, 405, b"GET only\n", "text/plain",
                           [("Allow", "GET, HEAD")])
        if os.environ.get(MULTIPROC_ENV):
            live = CollectorRegistry()
            MultiProcessCollector(live)  # every worker's values, summed
        else:
            live = _LIVE
        body = generate_latest(live) + generate_latest(self._store)
        return respond(start_response, 200, body, CONTENT_TYPE,
                       [("Cache-Control", "no-store")])
