"""Identifier checks: each refusal names the field."""

from __future__ import annotations

import pytest

from ca.errors import InvalidSubject
from ca.identity import (
    mask_pesel,
    parse_subscriber,
    validate_email,
    validate_nip,
    validate_pesel,
    validate_regon,
    validate_teryt,
)


def test_valid_pesel_is_accepted():
    assert validate_pesel("02270803624") == "02270803624"


@pytest.mark.parametrize("pesel", ["02270803625", "0227080362", "abcdefghijk",
                                   "02330803620"])  # check digit, length, digits, month 33
def test_bad_pesel_is_refused_naming_the_field(pesel):
    with pytest.raises(InvalidSubject) as info:
        validate_pesel(pesel)
    assert info.value.field == "pesel"


def test_pesel_with_right_check_digit_but_impossible_date_is_refused():
    # 99023112345 style: February 31st; build one whose check digit is right.
    from stdnum.pl.pesel import calc_check_digit
    body = "9902310000"
    with pytest.raises(InvalidSubject, match="pesel"):
        validate_pesel(body + calc_check_digit(body))


def test_nip_and_both_regon_lengths():
    assert validate_nip("9291004928") == "9291004928"
    assert validate_regon("970000003") == "970000003"
    from stdnum.pl.regon import calc_check_digit
    body = "9700000030000"
    assert validate_regon(body + calc_check_digit(body)) == body + calc_check_digit(body)
    with pytest.raises(InvalidSubject, match="nip"):
        validate_nip("9291004929")
    with pytest.raises(InvalidSubject, match="regon"):
        validate_regon("970000004")


@pytest.mark.parametrize("code", ["0862011", "0809052", "0809000", "0800000", "1465018"])
def test_teryt_terc_codes_are_accepted(code):
    assert validate_teryt(code) == code


@pytest.mark.parametrize("code", ["086201", "0162011", "3462011", "0862016", "0800011",
                                  "0800100", "08620a1"])
def test_malformed_teryt_is_refused(code):
    with pytest.raises(InvalidSubject, match="teryt"):
        validate_teryt(code)


@pytest.mark.parametrize("email", ["a@b", "no-at-sign", "x@-bad.pl", "spaces in@x.pl"])
def test_malformed_email_is_refused(email):
    with pytest.raises(InvalidSubject, match="email"):
        validate_email(email)


def test_unknown_subject_field_is_refused():
    with pytest.raises(InvalidSubject, match="nickname"):
        parse_subscriber({"given_name": "Jan", "nickname": "Janek"})


def test_identity_document_number_is_checked():
    with pytest.raises(InvalidSubject, match="identity_document.number"):
        parse_subscriber({"identity_document": {"type": "IDC", "number": "12"}})
    sub = parse_subscriber({"identity_document": {"type": "pas", "number": "ab1234567"}})
    assert sub.semantics_identifier() == "PASPL-AB1234567"


def test_pesel_is_masked_for_lists():
    assert mask_pesel("02270803624") == "02*******24"
