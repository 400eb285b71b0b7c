"""Each front holds only what it uses (issue 13, "No front can reach a key it does not use").

The fronts are built as ``regca serve`` builds them (regca/roles.py), made to sign once through
their own HTTP interface (so the lazily fetched keys are really there), and then their object
graphs are walked: attributes, containers, closures of the Flask views, bound methods. The walk
must find no ``CaContext``, no HSM handle that knows another role's key, no key object of
another role, and a database handle only inside the narrow store views the front is given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import types
from collections import Counter

import pytest
from asn1crypto import algos, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pkcs11 import Mechanism
from sqlalchemy.engine import Engine
from werkzeug.test import Client

from ca.context import CaContext
from ca.errors import ConfigurationError
from ca.ocsp_signer import OcspSigner
from ca.services import OcspServices, ResponseStore
from ca.store.db import Database
from keys.hsm import Hsm
from keys.objects import Pkcs11EcKey, Pkcs11RsaKey
from ocsp.app import OcspApp
from ra.apikeys import create_api_key
from regca.roles import ocsp_app, signing_app, tsa_app

pytestmark = pytest.mark.hsm

_ATOMS = (str, bytes, int, float, bool, type(None), dt.datetime, type, types.ModuleType,
          types.BuiltinFunctionType)


# A store handle is where the walk stops: its insides (pools, event hooks) are the store's.
_STORE = (Database, Engine)


def _children(obj):
    """What ``obj`` holds: its attributes, items, a function's closure cells and defaults, a
    bound method's object. Module globals are not followed (they are not the front's)."""
    if isinstance(obj, dict):
        yield from obj.keys()
        yield from obj.values()
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        yield from obj
        return
    if isinstance(obj, types.MethodType):
        yield obj.__self__
        yield obj.__func__
        return
    if isinstance(obj, types.FunctionType):
        for cell in obj.__closure__ or ():
            try:
                yield cell.cell_contents
            except ValueError:  # an empty cell
                pass
        yield from obj.__defaults__ or ()
        return
    for name in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, name):
            yield getattr(obj, name)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        yield from vars(obj).values()


def reachable(root, depth: int = 12) -> list[tuple[object, object]]:
    """Every ``(object, holder)`` pair reachable from ``root`` within ``depth`` steps: an
    object held in several places appears once per holder."""
    seen, found, layer = {id(root)}, [], [root]
    for _ in range(depth):
        following = []
        for obj in layer:
            for child in _children(obj):
                if isinstance(child, _ATOMS):
                    continue
                found.append((child, obj))
                if id(child) not in seen and not isinstance(child, _STORE):
                    seen.add(id(child))
                    following.append(child)
        layer = following
    return found


def audit(app) -> dict:
    """The facts the tests pin: contexts, HSM roles, key roles, who holds a database."""
    facts = {"contexts": 0, "hsm_roles": set(), "key_roles": set(), "db_holders": Counter()}
    for obj, holder in reachable(app):
        if isinstance(obj, CaContext):
            facts["contexts"] += 1
        elif isinstance(obj, Hsm):
            facts["hsm_roles"] |= set(obj.config.keys)
        elif isinstance(obj, (Pkcs11EcKey, Pkcs11RsaKey)):
            facts["key_roles"].add(obj.role)
        elif isinstance(obj, _STORE):
            facts["db_holders"][type(holder).__name__] += 1
    return facts


def _ocsp_request(ctx) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        ctx.certificate_of("seal"), ctx.certificate_of("issuing-ca"), hashes.SHA1())
    return builder.add_extension(x509.OCSPNonce(b"\x07" * 16), critical=False).build() \
        .public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def served_ocsp(home):
    """The OCSP front after answering a request with a nonce (signed now, by its key)."""
    app = ocsp_app(home)
    resp = Client(app).post("/ocsp", data=_ocsp_request(home),
                            content_type="application/ocsp-request")
    answer = ocsp.load_der_ocsp_response(resp.get_data())
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    responder = home.certificate_of("ocsp-responder")
    responder.public_key().verify(answer.signature, answer.tbs_response_bytes,
                                  ec.ECDSA(answer.signature_hash_algorithm))
    return app


def test_ocsp_front_holds_the_responder_key_and_the_status_store_only(served_ocsp):
    facts = audit(served_ocsp)
    assert facts["contexts"] == 0
    assert facts["key_roles"] == {"ocsp"}
    assert facts["hsm_roles"] == {"ocsp"}
    assert "ResponseStore" in facts["db_holders"]
    assert set(facts["db_holders"]) <= {"ResponseStore", "FastReader", "ThreadReader"}


def test_the_ocsp_key_object_cannot_sign_as_another_role(served_ocsp):
    key = served_ocsp.signer.source.key_pair("ocsp").key
    assert key.role == "ocsp"
    digest = hashlib.sha256(b"x").digest()
    assert key._hsm.sign_raw("ocsp", digest, Mechanism.ECDSA)  # its own role signs
    with pytest.raises(ConfigurationError, match="hsm.keys.issuing"):
        key._hsm.sign_raw("issuing", digest, Mechanism.ECDSA)
    with pytest.raises(ConfigurationError, match="no root key"):
        served_ocsp.signer.encoder("root")  # the root's responses are the refresh job's


def test_the_audit_sees_a_context_handed_to_a_front(home):
    # The control: an OCSP front given the core's signer (which holds the context) is caught.
    app = OcspApp(OcspServices(OcspSigner(home), ResponseStore(home.db), home.clock))
    facts = audit(app)
    assert facts["contexts"] == 1
    home.key_pair("issuing")  # the context's HSM knows every role
    assert {"issuing", "root", "seal", "tsa"} <= audit(app)["hsm_roles"]


def _tsa_query() -> bytes:
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                            "hashed_message": hashlib.sha256(b"pismo").digest()},
        "nonce": 12345, "cert_req": True}).dump()


def test_tsa_front_holds_its_key_serials_journal_and_api_keys_only(home):
    app = tsa_app(home)
    resp = Client(app).post("/tsa", data=_tsa_query(),
                            content_type="application/timestamp-query")
    assert tsp.TimeStampResp.load(resp.get_data())["status"]["status"].native == "granted"
    facts = audit(app)
    assert facts["contexts"] == 0
    assert facts["key_roles"] == {"tsa"}
    assert facts["hsm_roles"] == {"tsa"}
    # Its serial counter, its journal (through the group-commit writer) and the API keys.
    assert "SerialAllocator" in facts["db_holders"]
    assert set(facts["db_holders"]) <= {"SerialAllocator", "TokenJournal", "GroupWriter",
                                        "ApiKeys"}


def test_signing_front_holds_the_seal_key_only(home):
    app = signing_app(home, fetch_revocation=False)  # the default TSA client: HTTP
    key = create_api_key(home, "eod-narrow", ["sign"], None)
    resp = Client(app).post("/api/v1/sign/cms", data=b"Decyzja nr 1/2026",
                            query_string={"level": "B-B"},
                            headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    facts = audit(app)
    assert facts["contexts"] == 0
    assert facts["key_roles"] == {"seal"}
    assert facts["hsm_roles"] == {"seal"}
    assert set(facts["db_holders"]) == {"ApiKeys"}
