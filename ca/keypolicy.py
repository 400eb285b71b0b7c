"""Which subscriber keys RegCA is willing to certify (cf. Boulder's goodkey).

Rules: RSA of the sizes a profile lists (never below 2048) with e = 65537, no small factors and
no ROCA fingerprint (CVE-2017-15361, Infineon smart-card keys); EC only on the named curves
P-256/P-384/P-521. Every refusal is a ``WeakKey`` naming the rule.
"""

from __future__ import annotations

import math
from functools import cache

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca.errors import WeakKey

__all__ = ["key_algorithm_name", "good_key", "has_roca_fingerprint"]

_CURVES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}

# The primes of the ROCA fingerprint (Nemec et al., CCS 2017): a vulnerable modulus is a power
# of 65537 modulo each of them, which a random modulus almost never is.
_ROCA_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79,
                83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167)
_SMALL_PRIMES_PRODUCT = math.prod(p for p in range(3, 752, 2)
                                  if all(p % d for d in range(3, int(p ** 0.5) + 1, 2)))


@cache
def _powers_of_65537(p: int) -> frozenset[int]:
    seen, x = set(), 1
    while x not in seen:
        seen.add(x)
        x = x * 65537 % p
    return frozenset(seen)


def has_roca_fingerprint(n: int) -> bool:
    return all(n % p in _powers_of_65537(p) for p in _ROCA_PRIMES)


def key_algorithm_name(public_key) -> str:
    """``ec-p256``, ``rsa-3072``... as profiles name them; WeakKey for anything else."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        try:
            return _CURVES[public_key.curve.name]
        except KeyError:
            raise WeakKey(f"EC curve {public_key.curve.name} is not allowed "
                          "(only P-256, P-384, P-521)") from None
    raise WeakKey(f"key type {type(public_key).__name__} is not allowed (RSA or EC only)")


def good_key(public_key, allowed: tuple[str, ...]) -> str:
    """Raise WeakKey unless the key is acceptable and allowed; return its algorithm name."""
    name = key_algorithm_name(public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        if public_key.key_size < 2048:
            raise WeakKey(f"RSA key of {public_key.key_size} bits is too short (minimum 2048)")
        if numbers.e != 65537:
            raise WeakKey(f"RSA public exponent {numbers.e} is not allowed (only 65537)")
        if math.gcd(numbers.n, _SMALL_PRIMES_PRODUCT) != 1 or numbers.n % 2 == 0:
            raise WeakKey("RSA modulus has a small prime factor")
        if has_roca_fingerprint(numbers.n):
            raise WeakKey("RSA key has the ROCA fingerprint (CVE-2017-15361): "
                          "the token generated a factorable key, replace it")
    if name not in allowed:
        raise WeakKey(f"key algorithm {name} is not allowed by this profile "
                      f"(allowed: {', '.join(allowed)})")
    return name
