"""Which URLs a validation may fetch OCSP answers, CRLs and issuer certificates from.

The URLs come from the certificates of whoever sent the document, so they are the sender's to
choose: left alone, they make the verify API fetch from our own network (server-side request
forgery, OWASP SSRF Prevention Cheat Sheet). A URL is fetched only if it is http(s) and every
address its host resolves to is public, or its host (or address range) is on the allow-list.

    [signing.fetching]
    enabled = true              # false: fetch only from allow_hosts (RegCA's own URL included)
    allow_hosts = ["ocsp.intranet.example", "10.20.0.0/16", "[fd00::5]:8080"]
    budget_seconds = 3.0        # total time one verify request may spend fetching
    max_bytes = 1048576         # cap on one OCSP answer or certificate download
    max_crl_bytes = 10485760    # cap on one CRL (a big CA's full CRL runs to megabytes)

RegCA's own public URL (``public_url``, host and port) is always allowed: B-LT sealing fetches
the seal's own OCSP answers from it, and it may well sit on a private address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import requests

from ca.errors import ConfigurationError

__all__ = ["AllowEntry", "FetchError", "FetchPolicy", "FetchRefused", "FetchUnavailable",
           "Target", "address_problem", "check_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_KEYS = ("enabled", "allow_hosts", "budget_seconds", "max_bytes", "max_crl_bytes")
# RFC 6052 §2.1: the NAT64 well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


# pyhanko-certvalidator's requests fetchers turn requests.RequestException into their own
# OCSPFetchError/CRLFetchError/CertificateFetchError: a refusal then reads as "no revocation
# information available" (soft-fail), never as a crash.
class FetchError(requests.RequestException):
    """A fetch that did not happen or did not finish; ``reason`` says why, for the logs."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


class FetchRefused(FetchError):
    """The URL is not one this policy lets us fetch (scheme, address, redirect)."""


class FetchUnavailable(FetchError):
    """Allowed, but the answer did not come: time budget spent, too large, HTTP error."""


@dataclass(frozen=True)
class AllowEntry:
    """One ``allow_hosts`` item: a host name or an address range, optionally with a port."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        text = text.strip().lower().rstrip(".")
        host, port = text, None
        if text.startswith("["):  # [v6] or [v6]:port, as in a URL (RFC 3986 §3.2.2)
            host, _, rest = text[1:].partition("]")
            port = _port(rest[1:]) if rest.startswith(":") else None
            if rest and port is None:
                raise ValueError(f"{text!r}: expected [address]:port")
        elif text.count(":") == 1:
            host, _, p = text.partition(":")
            port = _port(p)
            if port is None:
                raise ValueError(f"{text!r}: bad port")
        if not host:
            raise ValueError("empty host")
        try:
            return cls(network=ipaddress.ip_network(host, strict=False), port=port)
        except ValueError:
            if "/" in host or ":" in host or not all(part for part in host.split(".")):
                raise ValueError(f"{text!r}: neither a host name nor an address range") from None
            return cls(host=host, port=port)

    def matches(self, host: str, port: int, address: IPAddress) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == host
        return _unmapped(address) in self.network or address in self.network


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


@dataclass(frozen=True)
class FetchPolicy:
    enabled: bool = True
    allow: tuple[AllowEntry, ...] = ()
    budget_seconds: float = 3.0
    max_bytes: int = 1024 * 1024
    max_crl_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_table(cls, raw: dict | None) -> FetchPolicy:
        """``[signing.fetching]`` as parsed by tomllib; ConfigurationError names the field."""
        raw = raw or {}
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise ConfigurationError(f"signing.fetching.{unknown[0]}: unknown setting "
                                     f"(known: {', '.join(_KEYS)})")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigurationError("signing.fetching.enabled: must be true or false")
        hosts = raw.get("allow_hosts", [])
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise ConfigurationError("signing.fetching.allow_hosts: must be a list of strings")
        try:
            allow = tuple(AllowEntry.parse(h) for h in hosts)
        except ValueError as exc:
            raise ConfigurationError(f"signing.fetching.allow_hosts: {exc}") from None
        budget = raw.get("budget_seconds", cls.budget_seconds)
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget <= 60:
            raise ConfigurationError("signing.fetching.budget_seconds: must be a number of "
                                     "seconds above 0 and at most 60")
        sizes = {}
        for key in ("max_bytes", "max_crl_bytes"):
            value = raw.get(key, getattr(cls, key))
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"signing.fetching.{key}: must be a positive integer")
            sizes[key] = value
        return cls(enabled=enabled, allow=allow, budget_seconds=float(budget), **sizes)

    def allowing(self, url: str) -> FetchPolicy:
        """This policy with ``url``'s host and port (RegCA's own public URL) allowed too."""
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
        host = parts.hostname or ""
        try:
            entry = AllowEntry(network=ipaddress.ip_network(host), port=port)
        except ValueError:
            entry = AllowEntry(host=host.rstrip("."), port=port)
        return replace(self, allow=(*self.allow, entry))


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the addresses that were checked (connect to these)."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[IPAddress, ...] = field(default=())


def _unmapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries, where it carries one that routes as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d, RFC 4291 §2.5.5.2
            return address.ipv4_mapped
        if address.sixtofour is not None:  # 2002:ab:cd::/16, RFC 3056
            return address.sixtofour
        if address.teredo is not None:  # 2001::/32, RFC 4380: (server, client)
            return address.teredo[1]
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` is not a public one we may connect to, or None if it is public."""
    inner = _unmapped(address)
    prefix = "" if inner is address else "IPv4-in-IPv6 "
    for test, name in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                       ("is_link_local", "link-local"), ("is_multicast", "multicast")):
        if getattr(inner, test):
            return prefix + name
    if isinstance(inner, ipaddress.IPv6Address):
        if inner in ipaddress.ip_network("fc00::/7"):
            return "unique-local"  # RFC 4193
        if inner.is_site_local:  # fec0::/10, deprecated by RFC 3879 but still routed inside
            return "site-local"
    if inner.is_private:
        return prefix + "private"
    if inner.is_reserved:
        return prefix + "reserved"
    if not inner.is_global:  # e.g. 100.64.0.0/10, carrier-grade NAT (RFC 6598)
        return prefix + "not globally routable"
    return None


def _resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_url(url: str, policy: FetchPolicy, resolve: Resolver = _resolve) -> Target:
    """Resolve ``url``'s host once and check every address; FetchRefused says what failed.

    The caller connects to ``Target.addresses`` and nothing else, so a name that resolves to
    a public address now and to 127.0.0.1 a moment later (DNS rebinding) gains nothing.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError as exc:
        raise FetchRefused(url, f"not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise FetchRefused(url, f"scheme {scheme or 'none'!r} is not http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchRefused(url, "no host")
    try:
        found = resolve(host, port)
        addresses = tuple(dict.fromkeys(ipaddress.ip_address(a.split("%")[0]) for a in found))
    except (OSError, UnicodeError, ValueError) as exc:
        raise FetchRefused(url, f"{host} does not resolve ({exc})") from None
    if not addresses:
        raise FetchRefused(url, f"{host} does not resolve")
    for address in addresses:
        if any(entry.matches(host, port, address) for entry in policy.allow):
            continue
        if not policy.enabled:
            raise FetchRefused(url, f"{host}:{port} is not on signing.fetching.allow_hosts "
                                    "and fetching from elsewhere is off")
        problem = address_problem(address)
        if problem:
            named = host if host == str(address) else f"{host} resolves to {address}, which"
            raise FetchRefused(url, f"{named} is a {problem} address")
    path = parts.path or "/"
    return Target(url, scheme, host, port, path + (f"?{parts.query}" if parts.query else ""),
                  addresses)
