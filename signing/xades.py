"""XAdES baseline signatures (ETSI EN 319 132-1) for e-forms with signxml and the HSM key.

Enveloped is the default, as ePUAP-style forms are signed. Detached returns a lone ds:Signature
whose first reference (URI ``reference_uri``, default ``document.xml``) is the digest of the
canonicalised form sent. B-T adds an unsigned xades:SignatureTimeStamp over the canonicalised
ds:SignatureValue (EN 319 132-1 §5.3).

KeyInfo carries X509Data only: the certificate names the key, and the dsig11:ECKeyValue
signxml adds by default is a form xadesjs/xmldsigjs cannot load. The xades:DataObjectFormat
names the document's media type and a description (EN 319 132-1 §5.2.4), not signxml's
placeholder.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from signxml import SignatureConstructionMethod
from signxml.exceptions import InvalidInput
from signxml.xades import XAdESDataObjectFormat, XAdESSignaturePolicy, XAdESSigner

from ca.clock import Clock
from ca.errors import DependencyUnavailable
from signing.errors import BadDocument
from signing.options import XmlOptions
from signing.seal import Sealed, SealIdentity
from signing.stamps import token_serial

__all__ = ["DS", "XADES", "XadesSealer", "new_parser", "parse_xml"]

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


def new_parser() -> etree.XMLParser:
    """No network, no entities, no DTD loading, libxml2's default depth and size limits
    (huge_tree off): the body comes from a caller (XXE, billion laughs, deep nesting). One per
    parse: lxml parsers must not be shared between threads."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_blank_text=False)


def parse_xml(data: bytes) -> etree._Element:
    """The document's root; a DOCTYPE is refused outright (neither e-forms nor XML-DSig need
    one, and its entities are how XXE and billion-laughs attacks come in)."""
    try:
        root = etree.fromstring(data, parser=new_parser())
    except etree.XMLSyntaxError as exc:
        raise BadDocument(f"the body is not well-formed XML: {exc}") from None
    if root is None:
        raise BadDocument("the body is not an XML document")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise BadDocument("XML with a DOCTYPE (DTD or entity declarations) is not accepted")
    if any(True for _ in root.iter(etree.Entity)):
        raise BadDocument("XML with entity references is not accepted")
    return root


class _ClockedSigner(XAdESSigner):
    """signxml reads the wall clock for SigningTime; RegCA injects its clock (STYLE.md)."""

    def __init__(self, clock: Clock, **kwargs):
        super().__init__(**kwargs)
        self._clock = clock

    def add_signing_time(self, signed_signature_properties, sig_root, signing_settings):
        from signxml.xades.xades import xades_tag
        node = etree.SubElement(signed_signature_properties, xades_tag("SigningTime"),
                                nsmap=self.namespaces)
        node.text = self._clock.now().isoformat(timespec="seconds")


class XadesSealer:
    def __init__(self, clock: Clock, timestamper: TimeStamper | None,
                 policy: XAdESSignaturePolicy | None = None):
        self.clock, self.timestamper, self.policy = clock, timestamper, policy

    def seal(self, data: bytes, identity: SealIdentity, options: XmlOptions) -> Sealed:
        root = parse_xml(data)
        method = (SignatureConstructionMethod.enveloped if options.packaging == "enveloped"
                  else SignatureConstructionMethod.detached)
        data_format = XAdESDataObjectFormat(
            Description=options.description or _description(root), MimeType=options.mime_type)
        signer = _ClockedSigner(self.clock, method=method, signature_algorithm=_algorithm(identity),
                                digest_algorithm="sha256", c14n_algorithm=_C14N,
                                signature_policy=self.policy, data_object_format=data_format)
        certs = [c.public_bytes(Encoding.PEM).decode()
                 for c in (identity.certificate, *identity.chain[:-1])]
        try:
            signed = signer.sign(root, key=identity.key, cert=certs, always_add_key_value=False,
                                 **({"reference_uri": options.reference_uri}
                                    if options.packaging == "detached" else {}))
        except InvalidInput as exc:
            raise BadDocument(f"cannot sign this XML: {exc}") from None
        # signxml appends the new signature as the root's last child: on a document that is
        # already signed, the first ds:Signature found is someone else's.
        signature = signed if method == SignatureConstructionMethod.detached else \
            signed.findall(f"{{{DS}}}Signature")[-1]
        stamps = (self._add_signature_timestamp(signature),) if options.level == "B-T" else ()
        return Sealed(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"), stamps)

    def _add_signature_timestamp(self, signature: etree._Element) -> int:
        """Adds the SignatureTimeStamp; returns the token's serial."""
        if self.timestamper is None:
            raise DependencyUnavailable("no TSA is configured for B-T")
        value = signature.find(f"{{{DS}}}SignatureValue")
        imprint = hashlib.sha256(etree.tostring(value, method="c14n")).digest()
        try:
            token = asyncio.run(self.timestamper.async_timestamp(imprint, "sha256"))
        except TimestampRequestError as exc:
            raise DependencyUnavailable(f"the TSA did not answer: {exc}") from None
        qualifying = signature.find(f".//{{{XADES}}}QualifyingProperties")
        unsigned = etree.SubElement(qualifying, f"{{{XADES}}}UnsignedProperties")
        props = etree.SubElement(unsigned, f"{{{XADES}}}UnsignedSignatureProperties")
        stamp = etree.SubElement(props, f"{{{XADES}}}SignatureTimeStamp")
        etree.SubElement(stamp, f"{{{DS}}}CanonicalizationMethod", Algorithm=_C14N)
        encapsulated = etree.SubElement(stamp, f"{{{XADES}}}EncapsulatedTimeStamp")
        encapsulated.text = base64.b64encode(token.dump()).decode()
        return token_serial(token)


def _description(root: etree._Element) -> str:
    """What the seal covers when the caller does not say: the document's root element."""
    return f"Dokument XML <{etree.QName(root).localname}> / XML document"


def _algorithm(identity: SealIdentity) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec
    return "ecdsa-sha256" if isinstance(identity.key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
