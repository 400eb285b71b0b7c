"""tsa/request.py's DER reader against asn1crypto as the oracle, on real queries (openssl ts
-query with every option) and asn1crypto-built ones, and on every truncation and many one-octet
changes of them: the reader accepts only what asn1crypto accepts, with the same fields; it
refuses for the same reason, or one of them as bad_data_format (a damaged structure); and where
asn1crypto accepts what the reader refuses, the octets are not the DER of what asn1crypto read
(its re-encoding differs: a non-minimal length, an unknown field it skipped)."""

from __future__ import annotations

import random
import subprocess

import pytest
from asn1crypto import core, tsp

from ca.der import integer, octet_string, sequence
from ca.policy import TsaPolicy
from tsa.errors import Rejected
from tsa.request import parse_request

POLICY = TsaPolicy("1.3.6.1.4.1.99999.1", frozenset({"sha256", "sha384", "sha512"}), 1000, 8192,
                   200)
_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


def oracle(der: bytes):
    """The checks of RFC 3161 §2.4.1 and the policy, read through asn1crypto."""
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        version = req["version"].native
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        parameters = imprint["hash_algorithm"]["parameters"]
        hashed = imprint["hashed_message"].native
        policy_oid = req["req_policy"].native
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        extensions = req["extensions"].native
    except (ValueError, TypeError, OverflowError):
        return "bad_data_format"
    if version != "v1":
        return "bad_request"
    if algorithm not in POLICY.hash_algorithms or not isinstance(parameters,
                                                                (core.Void, core.Null)):
        return "bad_alg"
    if len(hashed) != _SIZES[algorithm]:
        return "bad_data_format"
    if policy_oid is not None and policy_oid != POLICY.policy_oid:
        return "unaccepted_policy"
    if extensions:
        return "unaccepted_extensions"
    if nonce is not None and abs(nonce).bit_length() > 256:
        return "bad_request"
    return (imprint.dump(), algorithm, hashed, nonce, cert_req)


def ours(der: bytes):
    try:
        r = parse_request(der, POLICY)
    except Rejected as exc:
        return exc.fail_info
    return (r.imprint_der, r.hash_algorithm, r.hashed_message, r.nonce, r.cert_req)


def _queries(tmp_path) -> list[bytes]:
    (tmp_path / "d.txt").write_bytes(b"RegCA")
    found = []
    for options in (["-sha256"], ["-sha256", "-cert"], ["-sha384", "-no_nonce"],
                    ["-sha512", "-cert", "-tspolicy", POLICY.policy_oid],
                    ["-sha256", "-tspolicy", "1.2.3.4"], ["-sha1"], ["-md5"]):
        out = tmp_path / "q.tsq"
        subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "d.txt"), *options,
                        "-out", str(out)], check=True, capture_output=True)
        found.append(out.read_bytes())

    def built(**fields):
        base = {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                     "hashed_message": b"\x01" * 32}}
        base.update(fields)
        return tsp.TimeStampReq(base).dump()

    found += [
        built(),
        built(version=2),
        built(nonce=-(2 ** 70)), built(nonce=2 ** 300), built(nonce=0),
        built(cert_req=True),
        built(extensions=[{"extn_id": "1.2.3.4", "extn_value": b"\x05\x00"}]),
        built(message_imprint={"hash_algorithm": {"algorithm": "sha256",
                                                  "parameters": core.Null()},
                               "hashed_message": b"\x02" * 32}),
        # parameters that are neither absent nor NULL (asn1crypto will not build them)
        sequence(integer(1), sequence(sequence(bytes.fromhex("0609608648016503040201"),
                                               integer(5)), octet_string(b"\x02" * 32))),
        built(message_imprint={"hash_algorithm": {"algorithm": "sha384"},
                               "hashed_message": b"\x02" * 32}),
        built(message_imprint={"hash_algorithm": {"algorithm": "1.2.3.4.5.6.7.8.99999"},
                               "hashed_message": b"\x02" * 32}),
        built(req_policy="2.999.1"),
        b"", b"\x30", b"\x30\x00", b"\x30\x80\x02\x01\x01\x00\x00", bytes(300),
    ]
    return found


def _not_der(der: bytes) -> bool:
    try:
        return tsp.TimeStampReq.load(der).dump(force=True) != der
    except Exception:  # noqa: BLE001 - asn1crypto cannot even re-encode it
        return True


def test_the_reader_agrees_with_asn1crypto(tmp_path):
    rng = random.Random(3161)
    cases = []
    for der in _queries(tmp_path):
        cases.append(der)
        cases += [der[:n] for n in range(len(der))]
        cases += [der + b"\x00"]
        for _ in range(150):
            at = rng.randrange(len(der)) if der else 0
            cases.append(der[:at] + bytes([rng.randrange(256)]) + der[at + 1:])
    differ = []
    for der in cases:
        a, b = oracle(der), ours(der)
        if a == b:
            continue
        if isinstance(b, str) and isinstance(a, str) and "bad_data_format" in (a, b):
            continue  # both refuse, one of them at the structure already
        if isinstance(b, str) and not isinstance(a, str) and _not_der(der):
            continue  # asn1crypto let a non-DER request through
        differ.append((der.hex(), a, b))
    assert not differ, differ[:5]
    assert sum(isinstance(ours(d), tuple) for d in cases) > 10  # real requests were accepted


@pytest.mark.parametrize("der,why", [
    ("3081", "truncated"),
    ("30800201010000", "indefinite"),
    ("3081080201013003020100", "shortest form"),
])
def test_non_der_framing_is_bad_data_format(der, why):
    assert ours(bytes.fromhex(der)) == "bad_data_format"
