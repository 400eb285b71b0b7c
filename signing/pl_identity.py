"""Polish public-sector signatures that name a person other than the certificate's subject.

Profil Zaufany: the minister's qualified e-seal over an XAdES whose signed properties carry the
person's data in ``xades:SignerRole/xades:ClaimedRoles/xades:ClaimedRole/ppZP:PodpisZP``
(``ppZP:DaneZP/ppZP:DaneZPOsobyFizycznej`` with ``os:Imie``, ``os:Nazwisko``, ``os:PESEL``;
``ppZP:DanePodpisu`` with the ePUAP account). Only what the signature covers may be read here:
the caller passes the verified xades:SignedProperties, never the document's own copy.

Podpis osobisty (e-dowód): the signing certificate is issued by MSWiA's "pl.ID Authorization CA"
(the e-dowód repository names its CAs PLID_Root_CA and PLID_Authorization_CA_<date>).
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

__all__ = ["PPZP", "PPZP_OS", "is_personal_signature", "profil_zaufany"]

PPZP = "http://crd.gov.pl/xml/schematy/ppzp/"
PPZP_OS = "http://crd.gov.pl/xml/schematy/osoba/2009/03/06/"
_XADES = "http://uri.etsi.org/01903/v1.3.2#"
_NS = {"xades": _XADES, "ppZP": PPZP, "os": PPZP_OS}
_PATH = ("xades:SignedSignatureProperties/xades:SignerRole/xades:ClaimedRoles/"
         "xades:ClaimedRole/ppZP:PodpisZP")
_PERSONAL_CA = re.compile(r"^pl\.ID Authorization CA\b", re.IGNORECASE)


def _text(node: etree._Element, path: str) -> str | None:
    found = node.find(path, namespaces=_NS)
    value = (found.text or "").strip() if found is not None else ""
    return value or None


def profil_zaufany(signed_properties: etree._Element | None) -> dict | None:
    """The person a Profil Zaufany signature names, from verified signed properties only."""
    if signed_properties is None:
        return None
    pz = signed_properties.find(_PATH, namespaces=_NS)
    if pz is None:
        return None
    person = pz.find("ppZP:DaneZP/ppZP:DaneZPOsobyFizycznej", namespaces=_NS)
    out = {}
    if person is not None:
        out = {"given_name": _text(person, "os:Imie"), "surname": _text(person, "os:Nazwisko"),
               "pesel": _text(person, "os:PESEL")}
    account = (_text(pz, "ppZP:DanePodpisu/ppZP:IdKontaUzytkownikaEpuap")
               or (_text(person, "ppZP:IdKontaUzytkownikaEpuap") if person is not None else None))
    if account:
        out["epuap_account"] = account
    return {k: v for k, v in out.items() if v is not None} or None


def is_personal_signature(chain: list[x509.Certificate]) -> bool:
    """True when the signer's issuer is the e-dowód's personal-signature CA."""
    if not chain:
        return False
    cns = chain[0].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return bool(cns) and bool(_PERSONAL_CA.match(str(cns[0].value)))
