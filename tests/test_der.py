"""ca/der.py's frames against asn1crypto's encoder, at every length-form boundary."""

from __future__ import annotations

import pytest
from asn1crypto import core, parser

from ca import der

_LENGTHS = [0, 1, 127, 128, 255, 256, 65535, 65536]


@pytest.mark.parametrize("n", _LENGTHS)
def test_frames_are_asn1cryptos(n):
    body = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    assert der.sequence(body) == parser.emit(0, 1, 16, body)
    assert der.sequence(body[:n // 2], body[n // 2:]) == parser.emit(0, 1, 16, body)
    assert der.set_of(body) == parser.emit(0, 1, 17, body)
    assert der.context(3, body) == parser.emit(2, 1, 3, body)
    assert der.octet_string(body) == core.OctetString(body).dump()
    assert der.bit_string(body) == core.OctetBitString(body).dump()


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 256, 2**63, 2**127 - 1, 2**159 + 5,
                                   -1, -127, -128, -129, -256, -(2**64)])
def test_integers_are_asn1cryptos(value):
    assert der.integer(value) == core.Integer(value).dump()


def test_context_refuses_a_high_tag_number():
    with pytest.raises(ValueError, match="high-tag-number"):
        der.context(31, b"")
