#!/usr/bin/env python3
"""Check an export of RegCA's transparency log offline, trusting only the root certificate.

    python3 offline_verify.py EXPORT_DIR --root root.pem

EXPORT_DIR is what ``regca audit export --out EXPORT_DIR`` wrote. This file stands alone: it
needs Python's standard library and ``cryptography``, nothing of RegCA, so an auditor can copy
it and run it anywhere. It checks, and exits 1 naming the first failure:

- every tree head: signed (TreeHeadDataV2 of RFC 9162, README "The audit log") by a
  certificate the root issued with the tree-head-signing EKU and valid at the head's time; its
  RFC 3161 time-stamp token over the same bytes, signed by a TSA certificate that chains to the
  root;
- the entries: numbered 0, 1, 2...; the Merkle tree (RFC 9162 §2.1) of the first ``tree_size``
  entries has each tree head's root hash;
- every exported certificate: an issuance entry names its SHA-256, under a signed tree head.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import struct
import sys
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

LOG_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.99999.616.4.1")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class Failed(Exception):
    pass


# -- RFC 9162 §2.1 ------------------------------------------------------------------------------

def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def roots_at(leaves: list[bytes], sizes: set[int]) -> dict[int, bytes]:
    """MTH of the first n leaves for each n in ``sizes``, in one pass (a stack of perfect
    subtrees, folded from the right)."""
    out, stack = {}, []  # (height, hash)
    if 0 in sizes:
        out[0] = hashlib.sha256(b"").digest()
    for n, leaf in enumerate(leaves, 1):
        h, height = leaf, 0
        while stack and stack[-1][0] == height:
            h = node_hash(stack.pop()[1], h)
            height += 1
        stack.append((height, h))
        if n in sizes:
            root = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                root = node_hash(left, root)
            out[n] = root
    return out


# -- a little DER, for the time-stamp token ------------------------------------------------------

def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the element at ``at``."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    if at + length > len(data):
        raise Failed("time-stamp token: truncated DER")
    return tag, at, at + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, value start, value end) of each element in a constructed value."""
    out = []
    while start < end:
        tag, vs, ve = _tlv(data, start)
        out.append((tag, start, vs, ve))
        start = ve
    return out


def check_timestamp(token: bytes, signed: bytes, root: x509.Certificate,
                    extra: list[x509.Certificate]) -> None:
    """RFC 3161 token: TSTInfo's imprint is SHA-256(signed); the SignerInfo's signature over
    its signed attributes verifies with a TSA certificate that chains to the root; the
    messageDigest attribute is the TSTInfo's hash."""
    try:
        _, vs, ve = _tlv(token, 0)  # ContentInfo
        content = _children(token, vs, ve)[1]  # [0] EXPLICIT SignedData
        _, sd_s, sd_e = _tlv(token, content[2])
        sd = _children(token, sd_s, sd_e)
        encap = _children(token, sd[2][2], sd[2][3])
        explicit = encap[1]
        octets = _children(token, explicit[2], explicit[3])[0]
        tst = token[octets[2]:octets[3]]
        _, ts, te = _tlv(tst, 0)
        imprint = _children(tst, ts, te)[2]
        hashed = _children(tst, imprint[2], imprint[3])[1]
        if tst[hashed[2]:hashed[3]] != hashlib.sha256(signed).digest():
            raise Failed("time-stamp token: its imprint is not SHA-256 of the signed bytes")
        certs = list(extra)
        for tag, _s, vs2, ve2 in sd[3:]:
            if tag == 0xA0:  # certificates [0] IMPLICIT
                for _t, cs, _cv, ce in _children(token, vs2, ve2):
                    certs.append(x509.load_der_x509_certificate(token[cs:ce]))
        signer_infos = sd[-1]
        info = _children(token, signer_infos[2], signer_infos[3])[0]
        parts = _children(token, info[2], info[3])
        attrs = next(p for p in parts if p[0] == 0xA0)
        signature = next(p for p in parts if p[0] == 0x04 and p[1] > attrs[1])
        signed_attrs = b"\x31" + token[attrs[1] + 1:attrs[3]]
        digest_alg = token[parts[2][2]:parts[2][3]]
    except (IndexError, StopIteration, ValueError) as exc:
        raise Failed(f"time-stamp token: malformed ({exc})") from None
    algorithm = {b"\x60\x86\x48\x01\x65\x03\x04\x02\x01": hashes.SHA256(),
                 b"\x60\x86\x48\x01\x65\x03\x04\x02\x02": hashes.SHA384(),
                 b"\x60\x86\x48\x01\x65\x03\x04\x02\x03": hashes.SHA512()}
    chosen = next((h for oid, h in algorithm.items() if oid in digest_alg), None)
    if chosen is None:
        raise Failed("time-stamp token: unknown digest algorithm")
    if hashlib.new(chosen.name, tst).digest() not in signed_attrs:
        raise Failed("time-stamp token: messageDigest is not the TSTInfo's hash")
    sig = token[signature[2]:signature[3]]
    for cert in certs:
        try:
            _verify(cert.public_key(), sig, signed_attrs, chosen)
        except (InvalidSignature, ValueError, TypeError):
            continue
        _chains_to_root(cert, root, certs, "time-stamp token")
        return
    raise Failed("time-stamp token: no certificate given verifies its signature")


def _verify(public, signature: bytes, data: bytes, algorithm) -> None:
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise TypeError("unsupported key")


def _chains_to_root(cert: x509.Certificate, root: x509.Certificate,
                    pool: list[x509.Certificate], what: str) -> None:
    for _ in range(4):
        if cert == root:
            return
        try:
            cert.verify_directly_issued_by(root)
            return
        except (ValueError, TypeError, InvalidSignature):
            pass
        issuer = next((c for c in pool if c.subject == cert.issuer and c != cert), None)
        if issuer is None:
            break
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            break
        cert = issuer
    raise Failed(f"{what}: its certificate does not chain to the root")


# -- the checks ---------------------------------------------------------------------------------

def check_head(head: dict, root: x509.Certificate, extra: list[x509.Certificate]) -> tuple:
    """(tree_size, root_hash) of a tree head whose signature and time-stamp check out."""
    try:
        size = head["tree_size"]
        at = dt.datetime.fromisoformat(head["timestamp"].replace("Z", "+00:00"))
        ms = (at - _EPOCH) // dt.timedelta(milliseconds=1)
        root_hash = base64.b64decode(head["root_hash"], validate=True)
        signature = base64.b64decode(head["signature"], validate=True)
        cert = x509.load_pem_x509_certificate(head["signing_certificate"].encode())
        token = base64.b64decode(head["timestamp_token"], validate=True)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Failed(f"tree head: malformed ({exc})") from None
    name = f"tree head of size {size}"
    if len(root_hash) != 32 or not isinstance(size, int) or size < 0:
        raise Failed(f"{name}: malformed")
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise Failed(f"{name}: its certificate was not issued by the root") from None
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise Failed(f"{name}: its certificate was not valid at {head['timestamp']}")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = []
    if LOG_SIGNING_EKU not in eku:
        raise Failed(f"{name}: its certificate is not for signing tree heads")
    signed = struct.pack(">QQB", ms, size, 32) + root_hash + b"\x00\x00"
    try:
        _verify(cert.public_key(), signature, signed, hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        raise Failed(f"{name}: its signature does not verify") from None
    try:
        check_timestamp(token, signed, root, extra)
    except Failed as exc:
        raise Failed(f"{name}: {exc}") from None
    return size, root_hash


def verify_export(folder: Path, root: x509.Certificate) -> str:
    """A one-line summary; Failed with the first problem."""
    try:
        entries = json.loads((folder / "entries.json").read_text())["entries"]
        heads = json.loads((folder / "tree-heads.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Failed(f"{folder}: not an export ({exc})") from None
    extra = [x509.load_pem_x509_certificate(p.read_bytes())
             for p in sorted((folder / "ca").glob("*.pem"))]
    leaves, issued = [], {}
    for expected, item in enumerate(entries):
        if item.get("index") != expected:
            raise Failed(f"entry {expected}: missing or out of order")
        try:
            entry = base64.b64decode(item["leaf"], validate=True)
            event = json.loads(entry)
        except (KeyError, TypeError, ValueError):
            raise Failed(f"entry {expected}: not base64 of a JSON event") from None
        leaves.append(leaf_hash(entry))
        if event.get("action") == "certificate.issue":
            digest = (event.get("details") or {}).get("certificate_sha256")
            if digest:
                issued[digest] = expected
    if not heads:
        raise Failed("no tree head in the export")
    checked = [check_head(h, root, extra) for h in heads]
    sizes = {size for size, _ in checked}
    largest = max(sizes)
    if largest > len(leaves):
        raise Failed(f"entry {len(leaves)}: missing (a tree head covers {largest} entries)")
    roots = roots_at(leaves, sizes)
    for size, root_hash in checked:
        if roots[size] != root_hash:
            raise Failed(f"tree head of size {size}: the entries do not make its root hash")
    certs = sorted((folder / "certificates").glob("*.der"))
    for path in certs:
        index = issued.get(hashlib.sha256(path.read_bytes()).hexdigest())
        if index is None:
            raise Failed(f"certificate {path.stem}: no issuance entry names it")
        if index >= largest:
            raise Failed(f"certificate {path.stem}: its entry {index} is not under a signed "
                         "tree head yet")
    return (f"OK: {len(leaves)} entries, {len(heads)} signed tree heads (largest "
            f"{largest}), {len(certs)} certificates in the log")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export", type=Path, help="the directory regca audit export wrote")
    ap.add_argument("--root", type=Path, required=True, help="RegCA's root certificate (PEM)")
    args = ap.parse_args(argv)
    try:
        root = x509.load_pem_x509_certificate(args.root.read_bytes())
        print(verify_export(args.export, root))
    except (OSError, ValueError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except Failed as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
