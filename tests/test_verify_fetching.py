"""Outbound fetching during validation (OCSP, CRL, AIA) is fenced: public or allow-listed
addresses only, one time budget per request, a size cap, and a thread pool of its own."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto import keys as asn1_keys
from conftest import PINNED, make_home
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pyhanko.sign import signers
from pyhanko_certvalidator.authority import AuthorityWithCert
from pyhanko_certvalidator.errors import CRLFetchError, OCSPFetchError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ca.errors import ConfigurationError
from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper
from regca.roles import signing_app as create_app
from signing.config import SigningConfig
from signing.fetch_policy import FetchPolicy, FetchRefused, FetchUnavailable, check_url
from signing.fetching import POOL_THREADS, Deadline, FencedFetcherBackend, fetch
from signing.seal import to_asn1

MARGIN = 1.0  # seconds of slack over a budget: a bound on the fence, not a benchmark
CONTENT = b"Pismo z obcego urzedu, podpisane certyfikatem obcego CA.\n"


# -- A listener that counts connections and never answers ----------------------------------------

class Listener:
    """Accepts TCP connections on 127.0.0.1, reads nothing back, and notes when peers hang up."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.closed_at: list[float] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        self.closed_at.append(time.monotonic())

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self._stop = True
        for conn in self.connections:
            conn.close()
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


# -- The address checks, one refusal reason at a time -------------------------------------------

@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://93.184.216.34/ca.crl", "scheme 'ftp'"),
    ("ldap://93.184.216.34/cn=ca?certificateRevocationList", "scheme 'ldap'"),
    ("http://127.0.0.1/ocsp", "loopback"),
    ("http://10.1.2.3/ca.crl", "private"),
    ("http://192.168.1.20/ca.crl", "private"),
    ("http://172.16.0.9/ca.crl", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]/ocsp", "loopback"),
    ("http://[::ffff:127.0.0.1]/ocsp", "IPv4-in-IPv6 loopback"),
    ("http://[::ffff:10.0.0.1]/ocsp", "IPv4-in-IPv6 private"),
    ("http://[fd00::1]/ocsp", "unique-local"),
    ("http://[fe80::1]/ocsp", "link-local"),
    ("http://0.0.0.0/ocsp", "unspecified"),
    ("http://224.0.0.1/ocsp", "multicast"),
    ("http://100.64.0.1/ocsp", "not globally routable"),
    ("http://localhost/ocsp", "loopback"),          # a name, resolved by the system
    ("http://2130706433/ocsp", "loopback"),         # 127.0.0.1 written as one number
])
def test_refused_urls_name_their_reason(url, reason):
    with pytest.raises(FetchRefused) as refused:
        check_url(url, FetchPolicy())
    assert reason in refused.value.reason


def test_a_public_address_passes_and_is_what_the_fetch_connects_to():
    target = check_url("http://93.184.216.34/ca.crl?x=1", FetchPolicy())
    assert (target.host, target.port, target.path) == ("93.184.216.34", 80, "/ca.crl?x=1")
    assert [str(a) for a in target.addresses] == ["93.184.216.34"]
    assert check_url("https://[2606:4700::1111]/o", FetchPolicy()).port == 443


def test_a_name_is_refused_if_any_of_its_addresses_is_private():
    def resolve(host, port):
        return ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(FetchRefused, match="10.0.0.7, which is a private"):
        check_url("http://ocsp.example/", FetchPolicy(), resolve)
    assert check_url("http://ocsp.example/", FetchPolicy(), lambda h, p: ["93.184.216.34"])


def test_allow_list_admits_private_hosts_by_name_range_and_port():
    policy = FetchPolicy.from_table({"allow_hosts": ["localhost", "10.0.0.0/8",
                                                     "192.168.5.5:8080", "[fd00::5]:80"]})
    assert check_url("http://localhost:9/ocsp", policy).port == 9
    assert check_url("http://10.200.3.4/ca.crl", policy)
    assert check_url("http://192.168.5.5:8080/ca.crl", policy)
    assert check_url("http://[fd00::5]/ca.crl", policy)
    with pytest.raises(FetchRefused, match="private"):
        check_url("http://192.168.5.5:8081/ca.crl", policy)  # the entry names another port
    with pytest.raises(FetchRefused, match="loopback"):
        check_url("http://127.0.0.1/", policy)  # localhost by name, not 127.0.0.1 by address


def test_regca_own_public_url_is_allowed_by_host_and_port():
    policy = FetchPolicy().allowing("http://127.0.0.1:8080")
    assert check_url("http://127.0.0.1:8080/ocsp", policy)
    with pytest.raises(FetchRefused, match="loopback"):
        check_url("http://127.0.0.1:8081/ocsp", policy)


def test_disabled_fetching_keeps_only_the_allow_list():
    policy = FetchPolicy.from_table({"enabled": False, "allow_hosts": ["10.1.1.1"]})
    assert check_url("http://10.1.1.1/ca.crl", policy)
    with pytest.raises(FetchRefused, match="allow_hosts"):
        check_url("http://93.184.216.34/ca.crl", policy)


@pytest.mark.parametrize(("table", "field"), [
    ({"allowed_hosts": []}, "signing.fetching.allowed_hosts"),
    ({"enabled": "yes"}, "signing.fetching.enabled"),
    ({"allow_hosts": "10.0.0.0/8"}, "signing.fetching.allow_hosts"),
    ({"allow_hosts": ["10.0.0.0/33"]}, "signing.fetching.allow_hosts"),
    ({"allow_hosts": ["host:port"]}, "signing.fetching.allow_hosts"),
    ({"budget_seconds": 0}, "signing.fetching.budget_seconds"),
    ({"budget_seconds": "3"}, "signing.fetching.budget_seconds"),
    ({"max_bytes": -1}, "signing.fetching.max_bytes"),
    ({"max_crl_bytes": 1.5}, "signing.fetching.max_crl_bytes"),
])
def test_bad_settings_fail_at_start_naming_the_field(table, field):
    with pytest.raises(ConfigurationError, match=field):
        FetchPolicy.from_table(table)


# -- Real fetches: size cap, deadline, redirects, a saturated pool -------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    big = b"\x30" * (2 * 1024 * 1024)

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/declared":
            self._send(self.big)
        elif self.path == "/streamed":  # no Content-Length: only counting the bytes can stop it
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for i in range(0, len(self.big), 4096):
                    self.wfile.write(self.big[i:i + 4096])
            except OSError:
                pass
            self.close_connection = True
        elif self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", "http://" + self.path[4:])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(b"\x30\x00")

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/pkix-crl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _allowing(hostport: str, **kw) -> FetchPolicy:
    return FetchPolicy.from_table({"allow_hosts": [hostport], **kw})


def _fetch(url, policy, deadline=None, max_bytes=1024 * 1024):
    return asyncio.run(fetch(url, policy, deadline or Deadline(policy.budget_seconds),
                             max_bytes=max_bytes))


def test_an_allow_listed_local_server_is_fetched(server):
    got = _fetch(f"http://{server}/small", _allowing(server))
    assert (got.content, got.headers["content-type"]) == (b"\x30\x00", "application/pkix-crl")


@pytest.mark.parametrize("path", ["/declared", "/streamed"])
def test_a_body_over_the_cap_is_aborted(server, path):
    with pytest.raises(FetchUnavailable, match="1048576-byte cap"):
        _fetch(f"http://{server}{path}", _allowing(server))
    assert len(_fetch(f"http://{server}{path}", _allowing(server),
                      max_bytes=4 * 1024 * 1024).content) == 2 * 1024 * 1024


@pytest.fixture
def tls_server(tmp_path):
    """The same server over TLS, with a certificate for the name "localhost" only."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)  # OpenSSL checks TLS certificates against the real time
    cert = (x509.CertificateBuilder().subject_name(_name("localhost"))
            .issuer_name(_name("localhost"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "tls.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.pem", tmp_path / "tls.key")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], tmp_path / "tls.pem"
    httpd.shutdown()
    httpd.server_close()


def test_https_checks_the_name_against_the_certificate_at_the_checked_address(
        tls_server, monkeypatch):
    port, trusted = tls_server
    policy = _allowing(f"localhost:{port}")
    with pytest.raises(FetchUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        _fetch(f"https://localhost:{port}/small", policy)  # not in the system's trust store
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    assert _fetch(f"https://localhost:{port}/small", policy).content == b"\x30\x00"
    with pytest.raises(FetchUnavailable, match="CERTIFICATE_VERIFY_FAILED|match"):
        _fetch(f"https://127.0.0.1:{port}/small", _allowing(f"127.0.0.1:{port}"))


def test_a_redirect_to_an_unchecked_place_is_refused(server, listener):
    with pytest.raises(FetchRefused, match="loopback"):
        _fetch(f"http://{server}/to/127.0.0.1:{listener.port}/ca.crl", _allowing(server))
    time.sleep(0.2)
    assert listener.connections == []


def test_a_silent_server_is_given_up_at_the_deadline_and_its_socket_freed(listener):
    policy = _allowing(f"127.0.0.1:{listener.port}", budget_seconds=0.5)
    start = time.monotonic()
    with pytest.raises(FetchUnavailable, match="0.5 s budget"):
        _fetch(listener.url("/ca.crl"), policy)
    elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 0.5 + MARGIN
    assert len(listener.connections) == 1
    deadline = time.monotonic() + 2
    while not listener.closed_at and time.monotonic() < deadline:
        time.sleep(0.02)
    assert listener.closed_at and listener.closed_at[0] - start < 0.5 + MARGIN


def test_one_budget_covers_every_fetch_of_a_request(listener):
    policy = _allowing(f"127.0.0.1:{listener.port}", budget_seconds=0.6)
    deadline, start = Deadline(0.6), time.monotonic()
    for path in ("/a.crl", "/b.crl", "/c.crl"):
        with pytest.raises(FetchUnavailable):
            _fetch(listener.url(path), policy, deadline)
    assert time.monotonic() - start < 0.6 + MARGIN


def test_a_saturated_pool_makes_fetches_unavailable_within_the_budget(listener):
    policy = _allowing(f"127.0.0.1:{listener.port}", budget_seconds=0.5)
    elapsed: list[float] = []

    def one():
        start = time.monotonic()
        with pytest.raises(FetchUnavailable):
            _fetch(listener.url("/x.crl"), policy)
        elapsed.append(time.monotonic() - start)

    threads = [threading.Thread(target=one) for _ in range(POOL_THREADS * 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(elapsed) == POOL_THREADS * 3
    assert max(elapsed) < 0.5 + MARGIN
    fetch_threads = [t for t in threading.enumerate() if t.name.startswith("regca-fetch")]
    assert 1 <= len(fetch_threads) <= POOL_THREADS


# -- pyhanko-certvalidator sees its own fetch errors (soft-fail), not a crash --------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def foreign_pki(url: str):
    """A CA of the caller's (software keys) whose signer names ``url`` for AIA, OCSP and CRL."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    start, end = PINNED - dt.timedelta(days=10), PINNED + dt.timedelta(days=300)
    ca = (x509.CertificateBuilder().subject_name(_name("Obce CA")).issuer_name(_name("Obce CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    uri = x509.UniformResourceIdentifier
    leaf = (x509.CertificateBuilder().subject_name(_name("Obcy Urząd"))
            .issuer_name(_name("Obce CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP, uri(url + "/ocsp")),
                x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                       uri(url + "/ca.crt"))]), critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [uri(url + "/ca.crl")], None, None, None)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ca, leaf, key


def test_pyhanko_fetchers_get_fetch_errors_and_the_listener_nothing(listener):
    ca, leaf, _ = foreign_pki(listener.url().rstrip("/"))
    fetchers = FencedFetcherBackend(FetchPolicy()).get_fetchers()

    async def attempts():
        with pytest.raises(CRLFetchError):
            await fetchers.crl_fetcher.fetch(to_asn1(leaf))
        with pytest.raises(OCSPFetchError):
            await fetchers.ocsp_fetcher.fetch(to_asn1(leaf), AuthorityWithCert(to_asn1(ca)))
        return [c async for c in fetchers.cert_fetcher.fetch_cert_issuers(to_asn1(leaf))]

    assert asyncio.run(attempts()) == []
    time.sleep(0.2)
    assert listener.connections == []


# -- The verify API end to end --------------------------------------------------------------------

@pytest.fixture(scope="module")
def home(tmp_path_factory):
    ctx = make_home(tmp_path_factory.mktemp("fetching") / "home")
    yield ctx
    ctx.db.dispose()


def _detached_cms(leaf, key, ca, with_ca: bool) -> bytes:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signer = signers.SimpleSigner(to_asn1(leaf), asn1_keys.PrivateKeyInfo.load(der),
                                  SimpleCertificateStore.from_certs([to_asn1(ca)] if with_ca
                                                                    else []))
    return asyncio.run(signer.async_sign_general_data(CONTENT, "sha256", detached=True)).dump()


def _verify(home, config: SigningConfig, signature: bytes):
    app = create_app(home, config, timestamper=in_process_timestamper(home),
                     fetch_revocation=True)
    key = create_api_key(home, "skrzynka", ["verify"], None)
    start = time.monotonic()
    resp = app.test_client().post(
        "/api/v1/verify", headers={"Authorization": f"Bearer {key}"},
        data={"signature": (io.BytesIO(signature), "sig.p7s"),
              "content": (io.BytesIO(CONTENT), "pismo.txt")},
        content_type="multipart/form-data")
    return resp, time.monotonic() - start


def _configured(home, table: str) -> SigningConfig:
    """SigningConfig.load over the home's regca.toml with ``table`` added (then taken out)."""
    original = home.settings.config_file.read_text()
    try:
        home.settings.config_file.write_text(original + "\n" + table)
        return SigningConfig.load(home.settings)
    finally:
        home.settings.config_file.write_text(original)


def _anchoring(home, ca, tmp_path, fetching: str = "") -> SigningConfig:
    (tmp_path / "obce-ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return _configured(home, f'[signing]\ntrust_anchors = ["{tmp_path / "obce-ca.pem"}"]\n'
                             f"[signing.fetching]\n{fetching}")


@pytest.mark.hsm
def test_verify_fetches_nothing_from_a_foreign_cas_loopback_urls(home, listener):
    ca, leaf, key = foreign_pki(listener.url().rstrip("/"))
    config = SigningConfig.load(home.settings)  # as served: [signing.fetching] defaults
    resp, elapsed = _verify(home, config, _detached_cms(leaf, key, ca, with_ca=False))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    assert resp.get_json()["indication"] == "INDETERMINATE"
    time.sleep(0.2)
    assert listener.connections == []
    assert elapsed < config.fetching.budget_seconds + MARGIN


@pytest.mark.hsm
def test_a_trusted_foreign_ca_still_gets_no_fetch_from_loopback(home, listener, tmp_path):
    ca, leaf, key = foreign_pki(listener.url().rstrip("/"))
    config = _anchoring(home, ca, tmp_path)
    assert config.trust_anchors == (ca,)
    resp, elapsed = _verify(home, config, _detached_cms(leaf, key, ca, with_ca=True))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    signature = resp.get_json()["signatures"][0]
    assert [c["subject"] for c in signature["certificate_chain"]] == [
        "CN=Obcy Urząd", "CN=Obce CA"]  # the path reached the configured anchor
    time.sleep(0.2)
    assert listener.connections == []
    assert elapsed < config.fetching.budget_seconds + MARGIN


@pytest.mark.hsm
@pytest.mark.parametrize("anchored", [False, True], ids=["aia", "ocsp-crl"])
def test_allow_listing_the_listener_lets_the_fetches_through_within_the_budget(
        home, listener, tmp_path, anchored):
    # The control for the two tests above: the same certificates do make validation fetch.
    ca, leaf, key = foreign_pki(listener.url().rstrip("/"))
    fetching = f'allow_hosts = ["127.0.0.1:{listener.port}"]\nbudget_seconds = 1.0\n'
    config = (_anchoring(home, ca, tmp_path, fetching) if anchored
              else _configured(home, f"[signing.fetching]\n{fetching}"))
    resp, elapsed = _verify(home, config, _detached_cms(leaf, key, ca, with_ca=anchored))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(listener.connections) >= 1
    assert elapsed < 1.0 + MARGIN


def test_signing_config_loads_the_fetching_table(tmp_path):
    # SigningConfig.load reads only the [signing] table of the home's regca.toml.
    class Home:
        class settings:  # noqa: N801 - stands in for ca.config.Settings' two fields
            home = tmp_path
            config_file = tmp_path / "regca.toml"
    Home.settings.config_file.write_text(
        '[signing.fetching]\nallow_hosts = ["10.0.0.0/8"]\nbudget_seconds = 2\n')
    config = SigningConfig.load(Home.settings)
    assert config.fetching.budget_seconds == 2.0
    assert check_url("http://10.9.9.9/", config.fetching)
    Home.settings.config_file.write_text('[signing.fetching]\nbudget_seconds = -1\n')
    with pytest.raises(ConfigurationError, match="signing.fetching.budget_seconds"):
        SigningConfig.load(Home.settings)
