"""Certificate serial numbers: random, positive, at most 20 octets (RFC 5280 §4.1.2.2)."""

from __future__ import annotations

import secrets

__all__ = ["new_serial", "serial_hex", "parse_serial"]


def new_serial() -> int:
    """127 random bits, top bit clear so the DER INTEGER stays positive in 16 octets."""
    while True:
        n = secrets.randbits(127)
        if n >> 64:  # at least 64 bits of entropy survive in the value
            return n


def serial_hex(n: int) -> str:
    return format(n, "x")


def parse_serial(text: str) -> str:
    """Canonical lowercase hex of a serial given as hex (colons, ``0x`` and case allowed)."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        n = int(cleaned, 16)
    except ValueError:
        raise ValueError(f"serial {text!r} is not hexadecimal") from None
    if n <= 0 or n.bit_length() > 160:
        raise ValueError(f"serial {text!r} is out of range")
    return serial_hex(n)
