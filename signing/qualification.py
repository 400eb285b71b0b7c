"""Is a signature qualified? The EU trusted lists' answer, through pyHanko's assessor.

:func:`qualification_of` maps pyHanko's ``QualificationResult`` for a validation path, at the
signature's best signature time, to the report's levels (ETSI TS 119 615 / EN 319 102-1 terms):
QES, QESeal, AdES-QC, AdES, or unknown when no trusted list is loaded.

:func:`trust_manager` lets a chain end either at RegCA's own anchors or at a CA/QC service of a
loaded trusted list, so a signature from any qualified EU provider chains.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.validation.qualified.assess import QualificationAssessor
from pyhanko.sign.validation.qualified.tsp import QcCertType, TSPRegistry, TSPTrustManager
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.registry import SimpleTrustManager, TrustManager

from signing.report import Qualification

__all__ = ["RegcaTrustManager", "qualification_of", "trust_manager"]

log = logging.getLogger(__name__)

_TYPE_WORD = {QcCertType.QC_ESIGN: "esign", QcCertType.QC_ESEAL: "eseal",
              QcCertType.QC_WEB: "web"}


def qualification_of(path: ValidationPath, moment: dt.datetime,
                     registry: TSPRegistry | None) -> Qualification:
    """The qualification of ``path``'s end-entity certificate at ``moment``.

    ``moment`` is the best signature time (EN 319 102-1 §5.6.2.1): the service's status in the
    list at that time decides, so a CA withdrawn before it gives "AdES" even though the same
    certificate was qualified earlier. QES needs a qualified certificate for e-signatures on a
    QSCD; QESeal the same for e-seals (eIDAS Art. 3(12), 3(27)); a qualified certificate without
    a QSCD gives AdES-QC. A qualified website certificate used to sign gives AdES.
    """
    if registry is None:
        return Qualification("unknown")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        result = QualificationAssessor(registry).check_entity_cert_qualified(path, moment)
    except NotImplementedError as exc:  # e.g. several QcType values: pyHanko declines
        log.info("qualification not assessed: %s", exc)
        return Qualification("AdES")
    status, service = result.status, result.service_definition
    name = service.base_info.service_name if service is not None else None
    if not status.qualified:
        return Qualification("AdES", trust_service=name)
    qscd = status.qc_key_security.is_qscd
    kind = _TYPE_WORD.get(status.qc_type)
    if kind == "esign" and qscd:
        level = "QES"
    elif kind == "eseal" and qscd:
        level = "QESeal"
    elif kind in ("esign", "eseal"):
        level = "AdES-QC"
    else:
        level = "AdES"
    return Qualification(level, qualified_certificate=True, qscd=qscd, certificate_type=kind,
                         trust_service=name)


class RegcaTrustManager(TSPTrustManager):
    """RegCA's own anchors first, then the trusted lists' CA/QC services.

    A TSPTrustManager, so pyHanko's AdES validation also runs its qualification analysis and
    ``tsp_registry`` is there for :func:`qualification_of`.
    """

    def __init__(self, own: SimpleTrustManager, registry: TSPRegistry):
        super().__init__(registry)
        self.own = own

    def as_trust_anchor(self, authority):
        return self.own.as_trust_anchor(authority) or super().as_trust_anchor(authority)

    def find_potential_issuers(self, cert):
        yield from self.own.find_potential_issuers(cert)
        yield from super().find_potential_issuers(cert)


def _asn1(cert) -> asn1_x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    return cert


def trust_manager(anchors: Iterable, registry: TSPRegistry | None) -> TrustManager:
    """A trust manager over ``anchors`` (cryptography or asn1crypto certificates, e.g.
    ``TrustStore.anchors``) and, when lists are loaded, the services in ``registry``."""
    own = SimpleTrustManager.build(trust_roots=[_asn1(c) for c in anchors])
    return own if registry is None else RegcaTrustManager(own, registry)
