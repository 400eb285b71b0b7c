"""Generated EU trusted lists (ETSI TS 119 612) for tests.

No real list names RegCA's test CAs, so tests make their own: a test scheme operator (a software
key the test pins as the LOTL signer), a LOTL whose pointer names a national list's signer, and
that national list naming a given CA certificate as a CA/QC service. Both lists are XAdES
enveloped signatures made with signxml, the way real lists are signed.

    lists = write_trusted_lists(tmp_path, ca_cert)
    pin_lotl_signer(home, lists.lotl_signer_pem)       # [signing.trusted_lists] lotl_signers
    run_cli(home, "trust", "refresh", "--lotl", str(lists.lotl), "--tl", str(lists.tl))
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree
from pyhanko.sign.ades.qualified_asn1 import QcStatement, QcStatements
from signxml import SignatureMethod
from signxml.xades import XAdESSigner

__all__ = ["Signer", "TestLists", "issue_qualified", "make_ca", "make_signer", "pin_lotl_signer",
           "qc_statements_extension", "write_trusted_lists"]

TSL = "http://uri.etsi.org/02231/v2#"
TSLX = "http://uri.etsi.org/02231/v2/additionaltypes#"
TRSTSVC = "http://uri.etsi.org/TrstSvc"
GRANTED = f"{TRSTSVC}/TrustedList/Svcstatus/granted"
WITHDRAWN = f"{TRSTSVC}/TrustedList/Svcstatus/withdrawn"
FOR_ESIGNATURES = f"{TRSTSVC}/TrustedList/SvcInfoExt/ForeSignatures"
FOR_ESEALS = f"{TRSTSVC}/TrustedList/SvcInfoExt/ForeSeals"


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


@dataclass(frozen=True)
class TestLists:
    lotl: Path
    tl: Path
    lotl_signer: x509.Certificate  # pin this as the LOTL signer
    lotl_signer_pem: Path
    tl_signer: x509.Certificate  # the certificate the LOTL pointer names


def make_signer(cn: str, at: dt.datetime | None = None) -> Signer:
    """A self-signed EC P-256 scheme operator certificate, valid a year either side of ``at``."""
    at = at or dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(at - dt.timedelta(days=400))
            .not_valid_after(at + dt.timedelta(days=400))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return Signer(key, cert)


def make_ca(cn: str, at: dt.datetime | None = None) -> Signer:
    """A self-signed test CA (the "qualified" CA a generated list names)."""
    at = at or dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test QTSP"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(at - dt.timedelta(days=800))
            .not_valid_after(at + dt.timedelta(days=800))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Signer(key, cert)


def issue_qualified(ca: Signer, cn: str, *, qc_type: str = "qct_esign", qscd: bool = True,
                    at: dt.datetime | None = None, key=None) -> x509.Certificate:
    """An end-entity certificate from ``ca`` with QCStatements (valid 300 days either side);
    ``key``: the subscriber's key (default a fresh one nobody keeps)."""
    at = at or dt.datetime.now(dt.timezone.utc)
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(at - dt.timedelta(days=300))
            .not_valid_after(at + dt.timedelta(days=300))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca.key.public_key()), critical=False)
            .add_extension(qc_statements_extension(qc_type, qscd), critical=False)
            .sign(ca.key, hashes.SHA256()))


def qc_statements_extension(qc_type: str = "qct_esign", qscd: bool = True
                            ) -> x509.UnrecognizedExtension:
    """QCStatements (ETSI EN 319 412-5 §4): compliance, optionally QSCD, and the QC type."""
    items = [QcStatement({"statement_id": "qc_compliance"})]
    if qscd:
        items.append(QcStatement({"statement_id": "qc_sscd"}))
    items.append(QcStatement({"statement_id": "qc_type", "statement_info": [qc_type]}))
    der = QcStatements(items).dump()
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3"), der)


def _b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def _z(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _el(parent, tag, text=None, ns=TSL, **attrs):
    node = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    if text is not None:
        node.text = text
    return node


def _names(parent, tag, text):
    node = _el(parent, tag)
    _el(node, "Name", text, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    return node


def _scheme_information(root, *, tsl_type, territory, sequence=1):
    si = _el(root, "SchemeInformation")
    _el(si, "TSLVersionIdentifier", "6")
    _el(si, "TSLSequenceNumber", str(sequence))
    _el(si, "TSLType", f"{TRSTSVC}/TrustedList/TSLType/{tsl_type}")
    _names(si, "SchemeOperatorName", f"Test scheme operator {territory}")
    uri = _el(si, "SchemeInformationURI")
    _el(uri, "URI", f"https://tsl.test.invalid/{territory}.html",
        **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    _el(si, "SchemeTerritory", territory)
    return si


def _dates(si, at):
    _el(si, "ListIssueDateTime", _z(at))
    _el(_el(si, "NextUpdate"), "dateTime", _z(at + dt.timedelta(days=180)))


def _service_info(parent, tag, *, ca_cert, status, since, cert_type):
    info = _el(parent, tag)
    _el(info, "ServiceTypeIdentifier", f"{TRSTSVC}/Svctype/CA/QC")
    _names(info, "ServiceName", "Test qualified CA")
    _el(_el(_el(info, "ServiceDigitalIdentity"), "DigitalId"), "X509Certificate", _b64(ca_cert))
    _el(info, "ServiceStatus", status)
    _el(info, "StatusStartingTime", _z(since))
    ext = _el(_el(info, "ServiceInformationExtensions"), "Extension", Critical="true")
    asi = _el(ext, "AdditionalServiceInformation")
    _el(asi, "URI", cert_type, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    return info


def _sign(root, signer: Signer) -> bytes:
    xades = XAdESSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256)
    signed = xades.sign(root, key=signer.key, cert=[signer.cert])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def national_list(ca_cert: x509.Certificate, signer: Signer, *, territory: str, at: dt.datetime,
                  granted_from: dt.datetime, withdrawn_at: dt.datetime | None = None,
                  cert_type: str = FOR_ESIGNATURES) -> bytes:
    """A national list naming ``ca_cert`` as a CA/QC service, granted since ``granted_from``
    (and withdrawn at ``withdrawn_at``: current status withdrawn, granted in the history)."""
    root = etree.Element(f"{{{TSL}}}TrustServiceStatusList", nsmap={None: TSL, "tslx": TSLX},
                         Id=f"tl-{territory}", TSLTag="http://uri.etsi.org/19612/TSLTag")
    si = _scheme_information(root, tsl_type="EUgeneric", territory=territory)
    _dates(si, at)
    tsp = _el(_el(root, "TrustServiceProviderList"), "TrustServiceProvider")
    _names(_el(tsp, "TSPInformation"), "TSPName", "Test QTSP")
    service = _el(_el(tsp, "TSPServices"), "TSPService")
    if withdrawn_at is None:
        _service_info(service, "ServiceInformation", ca_cert=ca_cert, status=GRANTED,
                      since=granted_from, cert_type=cert_type)
    else:
        _service_info(service, "ServiceInformation", ca_cert=ca_cert, status=WITHDRAWN,
                      since=withdrawn_at, cert_type=cert_type)
        _service_info(_el(service, "ServiceHistory"), "ServiceHistoryInstance",
                      ca_cert=ca_cert, status=GRANTED, since=granted_from, cert_type=cert_type)
    return _sign(root, signer)


def lotl(pointers: dict[str, x509.Certificate], signer: Signer, *, at: dt.datetime) -> bytes:
    """A LOTL pointing, per territory, at ``https://tsl.test.invalid/XX.xml`` signed by the
    given certificate, plus the usual pointer to itself."""
    root = etree.Element(f"{{{TSL}}}TrustServiceStatusList", nsmap={None: TSL, "tslx": TSLX},
                         Id="lotl", TSLTag="http://uri.etsi.org/19612/TSLTag")
    si = _scheme_information(root, tsl_type="EUlistofthelists", territory="EU")
    others = _el(si, "PointersToOtherTSL")
    entries = {"EU": (signer.cert, "EUlistofthelists", "EUlistofthelists"),
               **{t: (c, "EUgeneric", "EUcommon") for t, c in pointers.items()}}
    for territory, (cert, tsl_type, rule) in entries.items():
        ptr = _el(others, "OtherTSLPointer")
        sdi = _el(_el(ptr, "ServiceDigitalIdentities"), "ServiceDigitalIdentity")
        _el(_el(sdi, "DigitalId"), "X509Certificate", _b64(cert))
        _el(ptr, "TSLLocation", f"https://tsl.test.invalid/{territory}.xml")
        info = _el(ptr, "AdditionalInformation")
        _el(_el(info, "OtherInformation"), "TSLType", f"{TRSTSVC}/TrustedList/TSLType/{tsl_type}")
        _el(_el(info, "OtherInformation"), "SchemeTerritory", territory)
        _el(_el(info, "OtherInformation"), "MimeType", "application/vnd.etsi.tsl+xml", ns=TSLX)
        rules = _el(_el(info, "OtherInformation"), "SchemeTypeCommunityRules")
        _el(rules, "URI", f"{TRSTSVC}/TrustedList/schemerules/{rule}",
            **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    _dates(si, at)
    return _sign(root, signer)


def write_trusted_lists(directory: Path, ca_cert: x509.Certificate, *, territory: str = "PL",
                        at: dt.datetime | None = None, granted_from: dt.datetime | None = None,
                        withdrawn_at: dt.datetime | None = None,
                        cert_type: str = FOR_ESIGNATURES, lotl_signer: Signer | None = None,
                        tl_signer: Signer | None = None, named_signer: Signer | None = None,
                        ) -> TestLists:
    """Write ``lotl.xml`` and ``tl-XX.xml`` into ``directory``; the LOTL signer is returned to pin.

    ``named_signer`` is the signer the LOTL pointer names (default: ``tl_signer``); give a
    different one to make a list the LOTL does not vouch for.
    """
    at = at or dt.datetime.now(dt.timezone.utc)
    granted_from = granted_from or at - dt.timedelta(days=365)
    lotl_signer = lotl_signer or make_signer("Test LOTL scheme operator", at)
    tl_signer = tl_signer or make_signer(f"Test {territory} scheme operator", at)
    named = named_signer or tl_signer
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / "lotl.xml", directory / f"tl-{territory}.xml",
             directory / "lotl-signer.pem")
    paths[0].write_bytes(lotl({territory: named.cert}, lotl_signer, at=at))
    paths[1].write_bytes(national_list(ca_cert, tl_signer, territory=territory, at=at,
                                       granted_from=granted_from, withdrawn_at=withdrawn_at,
                                       cert_type=cert_type))
    paths[2].write_bytes(lotl_signer.cert.public_bytes(Encoding.PEM))
    return TestLists(paths[0], paths[1], lotl_signer.cert, paths[2], tl_signer.cert)


def pin_lotl_signer(home: Path, pem: Path) -> None:
    """Pin ``pem`` as the home's LOTL signer ([signing.trusted_lists] lotl_signers)."""
    config = home / "regca.toml"
    text = config.read_text()
    if "[signing.trusted_lists]" in text:
        raise ValueError("regca.toml already has [signing.trusted_lists]")
    config.write_text(f'{text.rstrip()}\n\n[signing.trusted_lists]\n'
                      f'lotl_signers = ["{pem}"]\n')

