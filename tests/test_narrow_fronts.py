"""Each front holds only what it uses (issue 13, "No front can reach a key it does not use").

The fronts are built as ``regca serve`` builds them (regca/roles.py), made to sign once through
their own HTTP interface (so the lazily fetched keys are really there), and then their object
graphs are walked: attributes, containers, closures of the Flask views, bound methods. The walk
must find no ``CaContext``, no HSM handle that knows another role's key, no key object of
another role, and a database handle only inside the narrow store views the front is given
(``ServiceGenerations``, read by each key to follow a rollover, and ``IssuingCas``, the issuing
CA's generations as certificates, among them).

The web and the RA API issue and revoke through the registration authority, which asks the CA
(``IssuingCa``): the walk stops there as it stops at a store handle, and the web must hold no key
and no HSM handle outside it; the CA's own graph holds the issuing and OCSP keys, never the
root's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import types
from collections import Counter

import pytest
from asn1crypto import algos, tsp
from conftest import RESIDENT, make_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pkcs11 import Mechanism
from sqlalchemy.engine import Engine
from webclient import Visitor, add_staff, issue_from_csr, record_enrolment, revoke_at_desk
from werkzeug.local import LocalProxy
from werkzeug.test import Client

from ca.context import CaContext
from ca.errors import ConfigurationError
from ca.ocsp_signer import OcspSigner
from ca.services import IssuingCa, OcspServices, ResponseStore
from ca.store.db import Database
from keys.hsm import Hsm
from keys.objects import Pkcs11EcKey, Pkcs11RsaKey
from ocsp.app import OcspApp
from ra.apikeys import create_api_key
from ra.authority import RegistrationAuthority
from regca.roles import (
    enrollment_app,
    ocsp_app,
    ra_api,
    read_only_store,
    signing_app,
    transparency_app,
    tsa_app,
)

pytestmark = pytest.mark.hsm

# Not followed: values, types, modules, and Flask's proxies of the current request (``request``,
# ``session``, ``g`` in the templates' globals), which hold nothing of their own.
_ATOMS = (str, bytes, int, float, bool, type(None), dt.datetime, type, types.ModuleType,
          types.BuiltinFunctionType, LocalProxy)


# A store handle is where the walk stops: its insides (pools, event hooks) are the store's.
_STORE = (Database, Engine)
# So is the CA as the registration authority reaches it: its keys are the CA's (walked on their
# own below).
_STOPS = (*_STORE, IssuingCa)


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


def reachable(root, depth: int = 12, stops: tuple[type, ...] = _STOPS
              ) -> list[tuple[object, object]]:
    """Every ``(object, holder)`` pair reachable from ``root`` within ``depth`` steps, not
    looking inside ``stops``: an object held in several places appears once per holder."""
    seen, found, layer = {id(root)}, [], [root]
    for _ in range(depth):
        following = []
        for obj in layer:
            for child in _children(obj):
                if isinstance(child, _ATOMS):
                    continue
                found.append((child, obj))
                if id(child) not in seen and not isinstance(child, stops):
                    seen.add(id(child))
                    following.append(child)
        layer = following
    return found


def audit(app, stops: tuple[type, ...] = _STOPS) -> dict:
    """The facts the tests pin: contexts, HSM roles, key roles, who holds a database, and who
    holds the CA (``IssuingCa``)."""
    facts = {"contexts": 0, "hsm_roles": set(), "key_roles": set(), "db_holders": Counter(),
             "ca_holders": Counter()}
    for obj, holder in reachable(app, stops=stops):
        if isinstance(obj, IssuingCa):
            facts["ca_holders"][type(holder).__name__] += 1
        elif isinstance(obj, CaContext):
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
    assert set(facts["db_holders"]) <= {"ResponseStore", "FastReader", "ThreadReader",
                                        "ServiceGenerations", "IssuingCas"}


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
                                        "ApiKeys", "ServiceGenerations"}


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
    assert set(facts["db_holders"]) == {"ApiKeys", "SealJournal", "QuotaGuard",
                                        "ServiceGenerations"}



# -- the web and the RA API ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_web(home):
    """The pages after an officer enrolled a resident, issued a certificate and revoked it (the
    CA's issuing and OCSP keys signed, the revocation's delta CRL published)."""
    app = enrollment_app(home)
    officer = Visitor(app, home).login("officer_narrow", add_staff(
        home, "officer_narrow", "officer", ["0862011"]))
    enrolment, _ = record_enrolment(officer, {
        "kind": "resident", "organization_teryt": "0862011",
        "revocation_password": "haslo-do-uniewaznienia", **RESIDENT})
    serial = issue_from_csr(officer, enrolment, make_csr())
    r = revoke_at_desk(officer, serial)
    assert r.status_code == 303, r.text
    with home.db.reading() as s:
        from ca.store import certificates as cert_store
        assert cert_store.get(s, serial).status == "revoked"
    return app


def _ra_of(app) -> RegistrationAuthority:
    found = [o for o, _ in reachable(app) if isinstance(o, RegistrationAuthority)]
    assert found
    return found[0]


def test_web_holds_the_registration_authority_and_a_read_only_store_only(served_web):
    facts = audit(served_web)
    assert facts["contexts"] == 0
    assert facts["key_roles"] == set()  # no key outside the CA it asks
    # the HSM only for the keyed hash that turns a PESEL into its audit reference and for the
    # key-encryption key that unwraps the data key of sealed fields: no signing key
    assert facts["hsm_roles"] == {"hmac", "kek"}
    assert set(facts["ca_holders"]) == {"RegistrationAuthority"}
    # FieldCipher reads only the wrapped data keys (ca/field_crypto.py)
    assert set(facts["db_holders"]) == {"RegistrationAuthority", "ReadOnlyStore", "FieldCipher"}


def test_the_ca_the_web_reaches_holds_the_issuing_and_ocsp_keys_never_the_root(served_web):
    ca = _ra_of(served_web).ca
    facts = audit(ca, stops=_STORE)
    assert facts["contexts"] == 0
    assert facts["key_roles"] == {"issuing", "ocsp"}  # it signed, pre-signed and published
    # hmac: PESEL references; kek: the data key that seals a certificate naming a PESEL
    assert facts["hsm_roles"] == {"issuing", "ocsp", "hmac", "kek"}
    source = ca._issuer.ctx
    with pytest.raises(ConfigurationError, match="no root key"):
        source.key_pair("root")
    with pytest.raises(ConfigurationError, match="no seal key"):
        source.key_pair("seal")
    assert not [name for name in vars(type(ca)) if "key" in name or "authority" in name]


def test_the_read_only_store_opens_no_write_transaction(home):
    from ca.store import organizations as org_store
    from ca.store.models import Organization
    store = read_only_store(home)
    assert not hasattr(store, "transaction") and not hasattr(store, "db")
    with pytest.raises(ConfigurationError, match="commits nothing"):
        with store.reading() as s:
            org_store.add(s, Organization(teryt="0863011", name="Gmina Narrow",
                                            created_at=home.now()))
            s.commit()
    with home.db.reading() as s:
        assert org_store.get(s, "0863011") is None


def test_ra_api_holds_the_registration_authority_a_read_only_store_and_api_keys_only(home):
    app = ra_api(home)
    key = create_api_key(home, "ra-narrow", ["issue", "revoke"], "0862011")
    auth = {"Authorization": f"Bearer {key}"}
    client = Client(app)
    resp = client.post("/api/v1/certificates", headers=auth, json={
        "profile": "resident-signing", "csr": make_csr().decode(), "subject": RESIDENT})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    serial = resp.get_json()["serial"]
    resp = client.post(f"/api/v1/certificates/{serial}/revoke", headers=auth,
                       json={"reason": "superseded"})
    assert resp.get_json()["status"] == "revoked"
    facts = audit(app)
    assert facts["contexts"] == 0
    assert facts["key_roles"] == set()
    # PESEL references in audit events and the sealed fields' key-encryption key, nothing else
    assert facts["hsm_roles"] == {"hmac", "kek"}
    assert set(facts["ca_holders"]) == {"RegistrationAuthority"}
    assert set(facts["db_holders"]) == {"RegistrationAuthority", "ReadOnlyStore", "ApiKeys",
                                        "FieldCipher"}
    assert audit(_ra_of(app).ca, stops=_STORE)["key_roles"] == {"issuing", "ocsp"}


def test_the_audit_sees_a_context_handed_to_the_web(home):
    # The control: the pages as they were built before, the context in their configuration.
    app = enrollment_app(home)
    app.config["REGCA_CTX"] = home
    facts = audit(app)
    assert facts["contexts"] == 1
    assert {"issuing", "root"} <= facts["hsm_roles"] and "CaContext" in facts["db_holders"]


def test_transparency_front_holds_the_log_reader_only_and_no_key(home):
    app = transparency_app(home)
    resp = Client(app).get("/transparency/v1/sth")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    facts = audit(app)
    assert facts["contexts"] == 0
    assert facts["key_roles"] == set()
    assert facts["hsm_roles"] == set()
    assert set(facts["db_holders"]) == {"LogReader"}
