"""EU trusted lists (ETSI TS 119 612): fetch, check against the pinned signers, keep in the home.

``regca trust refresh`` calls :func:`refresh`:

1. the List of Trusted Lists (LOTL) is read from a file or an https URL and its XAdES signature
   checked against the pinned LOTL signer certificates: by default those pyHanko ships as the
   EU Official Journal publishes them (``latest_known_lotl_tlso_certs``; Commission
   Implementing Decision (EU) 2015/1505 Art. 4 makes the OJ the anchor);
2. each national list the LOTL points to (ETSI TS 119 612 §5.3.13, pointers of MIME type
   ``application/vnd.etsi.tsl+xml``) is fetched, or taken from the ``--tl`` files given, which
   are matched to their pointer by their SchemeTerritory, and its signature checked against the
   certificates that pointer names;
3. the lists that pass are stored (:mod:`signing.trusted_list_store`); one that fails is not,
   and is reported. If the LOTL fails, nothing is stored and the previous set stays.

Parsing and the qualification rules are pyHanko's (``pyhanko.sign.validation.qualified``); the
XML signatures are checked by signxml's XAdESVerifier as pyHanko does, at the injected clock's
time. Configuration, in regca.toml (all optional)::

    [signing.trusted_lists]
    lotl_url = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"   # the default
    lotl_signers = ["lotl-signers.pem"]  # PEM files (relative to the home) pinned as LOTL
                                         # signers instead of pyHanko's OJEU certificates
    max_bytes = 33554432                 # size cap of one downloaded list
    timeout_seconds = 30                 # per download
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.qualified.eutl_parse import (
    ETSI_TSL_MIME_TYPE,
    LOTL_RULE,
    LOTLParseResult,
    TLReference,
    latest_known_lotl_tlso_certs,
    trust_list_to_registry_unsafe,
    validate_and_parse_lotl,
)
from pyhanko.sign.validation.qualified.tsp import TSPServiceParsingError
from signxml.exceptions import SignXMLException
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier
from xsdata.exceptions import ParserError

from ca.config import Settings
from ca.errors import ConfigurationError
from signing.errors import TrustedListRefused
from signing.trusted_list_store import StoredList, write_lists

__all__ = [
    "EU_LOTL_URL", "RefreshResult", "TrustedListsConfig", "refresh", "verify_lotl",
    "verify_national_list",
]

EU_LOTL_URL = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"
_TSL_NS = "http://uri.etsi.org/02231/v2#"
_TSL_TAG = f"{{{_TSL_NS}}}TrustServiceStatusList"
_NS = {"tsl": _TSL_NS}
# Parse errors pyHanko's and signxml's readers let through as they are.
_PARSE_ERRORS = (SignatureValidationError, SignXMLException, TSPServiceParsingError, ParserError,
                 etree.LxmlError, ValueError)


@dataclass(frozen=True)
class TrustedListsConfig:
    lotl_url: str = EU_LOTL_URL
    lotl_signers: tuple[asn1_x509.Certificate, ...] = ()  # empty: pyHanko's pinned OJEU certs
    max_bytes: int = 32 * 1024 * 1024
    timeout_seconds: float = 30.0

    @property
    def pinned_signers(self) -> list[asn1_x509.Certificate]:
        return list(self.lotl_signers) or latest_known_lotl_tlso_certs()

    @classmethod
    def load(cls, settings: Settings) -> TrustedListsConfig:
        raw = tomllib.loads(settings.config_file.read_text())
        raw = raw.get("signing", {}).get("trusted_lists", {})
        signers: list[asn1_x509.Certificate] = []
        for name in raw.get("lotl_signers", []):
            path = Path(name) if Path(name).is_absolute() else settings.home / name
            try:
                signers += [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
                            for c in x509.load_pem_x509_certificates(path.read_bytes())]
            except (OSError, ValueError) as exc:
                raise ConfigurationError(
                    f"signing.trusted_lists.lotl_signers: {path}: {exc}") from None
        url = raw.get("lotl_url", EU_LOTL_URL)
        if not str(url).startswith("https://"):
            raise ConfigurationError("signing.trusted_lists.lotl_url: must be an https URL")
        try:
            max_bytes = int(raw.get("max_bytes", cls.max_bytes))
            timeout = float(raw.get("timeout_seconds", cls.timeout_seconds))
        except (TypeError, ValueError):
            raise ConfigurationError(
                "signing.trusted_lists: max_bytes and timeout_seconds must be numbers") from None
        return cls(lotl_url=url, lotl_signers=tuple(signers), max_bytes=max_bytes,
                   timeout_seconds=timeout)


# -- reading -----------------------------------------------------------------------------------

def _read_source(source: str, config: TrustedListsConfig) -> bytes:
    """A list from an https URL (size cap, time-out) or a file; plain http is refused."""
    if source.startswith("https://"):
        return _download(source, config)
    if "://" in source:
        raise TrustedListRefused(f"{source}: only https URLs or files")
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise TrustedListRefused(f"{source}: {exc.strerror}") from None
    if len(data) > config.max_bytes:
        raise TrustedListRefused(f"{source}: larger than {config.max_bytes} bytes")
    return data


def _download(url: str, config: TrustedListsConfig) -> bytes:
    try:
        with requests.Session() as session:
            session.max_redirects = 5
            resp = session.get(url, stream=True, timeout=(5, config.timeout_seconds),
                               headers={"Accept": f"{ETSI_TSL_MIME_TYPE}, text/xml"})
            hops = [r.url for r in resp.history] + [resp.url]
            if any(not h.startswith("https://") for h in hops):
                raise TrustedListRefused(f"{url}: redirected away from https")
            resp.raise_for_status()
            body = bytearray()
            for chunk in resp.iter_content(65536):
                body += chunk
                if len(body) > config.max_bytes:
                    raise TrustedListRefused(f"{url}: larger than {config.max_bytes} bytes")
            return bytes(body)
    except requests.RequestException as exc:
        raise TrustedListRefused(f"{url}: {type(exc).__name__}: {exc}") from None


def _plain_xml(data: bytes, what: str) -> etree._Element:
    """Parse without DTDs, entities or network: ETSI TS 119 612 lists carry none (no XXE)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise TrustedListRefused(f"{what}: not well-formed XML ({exc})") from None
    if root.getroottree().docinfo.doctype:
        raise TrustedListRefused(f"{what}: a DTD is not allowed in a trusted list")
    if root.tag != _TSL_TAG:
        raise TrustedListRefused(f"{what}: not an ETSI TS 119 612 TrustServiceStatusList")
    return root


def _text(root: etree._Element, path: str) -> str | None:
    found = root.find(path, _NS)
    return found.text.strip() if found is not None and found.text else None


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _facts(root: etree._Element) -> dict:
    """The SchemeInformation fields the index keeps (ETSI TS 119 612 §5.3)."""
    seq = _text(root, "tsl:SchemeInformation/tsl:TSLSequenceNumber")
    return {"territory": _text(root, "tsl:SchemeInformation/tsl:SchemeTerritory"),
            "issued": _time(_text(root, "tsl:SchemeInformation/tsl:ListIssueDateTime")),
            "next_update": _time(_text(root, "tsl:SchemeInformation/tsl:NextUpdate/tsl:dateTime")),
            "sequence": int(seq) if seq and seq.isdigit() else None,
            "services": len(root.findall(".//tsl:TSPService", _NS))}


# -- checking ----------------------------------------------------------------------------------

def _signed_content(data: bytes, signers: Sequence[asn1_x509.Certificate], at: dt.datetime,
                    what: str) -> tuple[str, asn1_x509.Certificate]:
    """What the list's XAdES signature covers, and which of ``signers`` made it.

    The check pyHanko's ``trust_list_to_registry`` makes (signxml's XAdESVerifier, the
    TrustServiceStatusList as the signed object, the newest candidate first), but at ``at``
    rather than the wall clock, and keeping the signed content so only that is ever loaded.
    """
    config = XAdESSignatureConfiguration(require_x509=True, expect_references=True,
                                         verification_time=at)
    problems = []
    for cert in sorted(signers, key=lambda c: c.not_valid_before, reverse=True):
        try:
            results = XAdESVerifier().verify(
                data, x509_cert=x509.load_der_x509_certificate(cert.dump()),
                expect_config=config)
        except SignXMLException as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
            continue
        for result in results:
            if result.signed_xml is not None and result.signed_xml.tag == _TSL_TAG:
                return result.signed_data.decode("utf-8"), cert
        problems.append("the signature does not cover the list")
    reason = problems[-1] if problems else "no signer certificate to check against"
    raise TrustedListRefused(f"{what}: signature not made by a pinned signer ({reason})")


def verify_lotl(data: bytes, signers: Sequence[asn1_x509.Certificate],
                at: dt.datetime) -> LOTLParseResult:
    """The LOTL's pointers, after its signature checked out against ``signers`` at ``at``."""
    _plain_xml(data, "LOTL")
    try:
        return validate_and_parse_lotl(data.decode("utf-8"), list(signers), validation_time=at)
    except _PARSE_ERRORS as exc:
        message = getattr(exc, "failure_message", None) or str(exc)
        raise TrustedListRefused(f"LOTL: {message.splitlines()[0]}") from None


def verify_national_list(data: bytes, pointer: TLReference, at: dt.datetime) -> StoredList:
    """A national list checked against the certificates its LOTL pointer names."""
    what = f"{pointer.territory} list"
    _plain_xml(data, what)
    content, signer = _signed_content(data, pointer.tlso_certs, at, what)
    facts = _facts(_plain_xml(content.encode("utf-8"), what))
    if facts["territory"] != pointer.territory:
        raise TrustedListRefused(
            f"{what}: the signed list is for territory {facts['territory']!r}")
    try:
        trust_list_to_registry_unsafe(content)
    except _PARSE_ERRORS as exc:
        raise TrustedListRefused(f"{what}: cannot be read ({exc})") from None
    return StoredList(published=data, content=content, source=pointer.location_uri,
                      signer_sha256=signer.sha256.hex(), **facts)


# -- the command -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RefreshResult:
    lotl: StoredList
    loaded: tuple[StoredList, ...]
    refused: tuple[tuple[str, str], ...]  # (territory or file, reason)


def _national_pointers(lotl: LOTLParseResult) -> dict[str, TLReference]:
    """One pointer per territory (the LOTL's pointer to itself left out)."""
    out: dict[str, TLReference] = {}
    for ref in lotl.references:
        if LOTL_RULE in ref.scheme_rules:
            continue
        if ref.territory in out:  # several XML pointers for a territory: accept either signer
            prev = out[ref.territory]
            ref = TLReference(prev.location_uri, ref.territory,
                              prev.tlso_certs + ref.tlso_certs, prev.scheme_rules)
        out[ref.territory] = ref
    return out


def _given_lists(files: Sequence[Path], config) -> list[tuple[str, str, bytes | None, str]]:
    """(territory, file, bytes, problem) per ``--tl`` file; an unreadable file stops the command."""
    out = []
    for path in files:
        data = _read_source(str(path), config)
        try:
            root = _plain_xml(data, "list")
        except TrustedListRefused as exc:
            out.append(("", str(path), None, str(exc)))
            continue
        territory = _text(root, "tsl:SchemeInformation/tsl:SchemeTerritory") or ""
        out.append((territory, str(path), data, "" if territory else f"{path}: no territory"))
    return out


def refresh(settings: Settings, at: dt.datetime, lotl_source: str | None = None,
            tl_files: Sequence[Path] = (), config: TrustedListsConfig | None = None,
            ) -> RefreshResult:
    """Load, check and store the LOTL and its national lists (CONTRACT.md ``trust refresh``).

    With ``tl_files`` only those national lists are loaded (nothing is downloaded for the
    others); without, every list the LOTL points to is downloaded.
    """
    config = config or TrustedListsConfig.load(settings)
    source = lotl_source or config.lotl_url
    lotl_data = _read_source(source, config)
    lotl = verify_lotl(lotl_data, config.pinned_signers, at)
    pointers = _national_pointers(lotl)
    lotl_facts = _facts(_plain_xml(lotl_data, "LOTL"))
    stored_lotl = StoredList(published=lotl_data, content="", source=source, signer_sha256=None,
                             **lotl_facts)

    if tl_files:
        candidates = _given_lists(tl_files, config)
    else:
        candidates = [(t, p.location_uri, None, "") for t, p in sorted(pointers.items())]
    loaded: dict[str, StoredList] = {}
    refused: list[tuple[str, str]] = []
    for territory, origin, data, problem in candidates:
        pointer = pointers.get(territory)
        if problem or pointer is None:
            refused.append((territory or origin,
                            problem or f"the LOTL has no pointer for territory {territory!r}"))
            continue
        try:
            if data is None:
                data = _read_source(pointer.location_uri, config)
            item = verify_national_list(data, pointer, at)
        except TrustedListRefused as exc:
            refused.append((territory, str(exc)))
            continue
        loaded[territory] = dataclasses.replace(item, source=origin)
    write_lists(settings.home, stored_lotl, list(loaded.values()), at)
    return RefreshResult(stored_lotl, tuple(loaded.values()), tuple(refused))
