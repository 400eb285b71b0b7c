"""Key policy: sizes, exponents, curves, small factors and the ROCA fingerprint."""

from __future__ import annotations

import math
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca.errors import WeakKey
from ca.keypolicy import _ROCA_PRIMES, good_key, has_roca_fingerprint

ALL = ("ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "rsa-4096")


def _is_probable_prime(n: int) -> bool:
    """Miller-Rabin, test-only: to build a ROCA-shaped key for the refusal test."""
    if n % 2 == 0:
        return False
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(24):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _roca_prime(bits: int) -> int:
    """A prime of the vulnerable form k*M + (65537^a mod M) (Nemec et al., CCS 2017)."""
    m = math.prod(_ROCA_PRIMES)
    low = math.isqrt(2 << (2 * bits - 2)) // m + 1  # p >= sqrt(2) * 2^(bits-1): n has 2*bits
    high = (1 << bits) // m - 1
    while True:
        k = low + secrets.randbelow(high - low)
        p = k * m + pow(65537, secrets.randbelow(2 ** 20), m)
        if _is_probable_prime(p):
            return p


def roca_key() -> rsa.RSAPrivateKey:
    while True:
        p, q = _roca_prime(1024), _roca_prime(1024)
        phi = (p - 1) * (q - 1)
        if p != q and (p * q).bit_length() == 2048 and math.gcd(65537, phi) == 1:
            break
    d = pow(65537, -1, phi)
    pub = rsa.RSAPublicNumbers(65537, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), pub).private_key()


def test_roca_shaped_key_is_refused():
    key = roca_key()
    assert has_roca_fingerprint(key.public_key().public_numbers().n)
    with pytest.raises(WeakKey, match="ROCA"):
        good_key(key.public_key(), ALL)


def test_ordinary_rsa_key_has_no_roca_fingerprint():
    key = rsa.generate_private_key(65537, 2048)
    assert not has_roca_fingerprint(key.public_key().public_numbers().n)
    assert good_key(key.public_key(), ALL) == "rsa-2048"


def test_rsa_1024_is_refused():
    with pytest.raises(WeakKey, match="1024 bits is too short"):
        good_key(rsa.generate_private_key(65537, 1024).public_key(), ALL)


def test_rsa_exponent_other_than_65537_is_refused():
    with pytest.raises(WeakKey, match="exponent 3"):
        good_key(rsa.generate_private_key(3, 2048).public_key(), ALL)


def test_curve_outside_the_named_three_is_refused():
    with pytest.raises(WeakKey, match="secp256k1"):
        good_key(ec.generate_private_key(ec.SECP256K1()).public_key(), ALL)


def test_algorithm_not_listed_by_profile_is_refused():
    with pytest.raises(WeakKey, match="not allowed by this profile"):
        good_key(ec.generate_private_key(ec.SECP521R1()).public_key(), ("ec-p256",))
