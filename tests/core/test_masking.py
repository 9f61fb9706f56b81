"""Masking and normalisation of personal data (R5.2.2). Pure functions: no database."""

from __future__ import annotations

import random

import pytest

from anju.core.masking import mask_id_number, mask_phone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812341234", "13812341234"),
        ("138 1234 1234", "13812341234"),
        ("138-1234-1234", "13812341234"),
        ("+86 138 1234 1234", "13812341234"),
        ("+8613812341234", "13812341234"),
        ("8613812341234", "13812341234"),
        ("0086 13812341234", "13812341234"),
        ("0086-138-1234-1234", "13812341234"),
        ("(+86) 138.1234.1234", "13812341234"),
        ("  13812341234\n", "13812341234"),
        # A number that merely starts with 86 is not a country prefix.
        ("86123456", "86123456"),
        ("861234567890", "861234567890"),
        ("010-12345678", "01012345678"),
        ("", ""),
        (None, ""),
        ("no digits", ""),
    ],
)
def test_normalise_phone(raw, expected):
    assert normalise_phone(raw) == expected


def test_normalise_phone_turns_full_width_digits_into_ascii():
    assert normalise_phone("１３８１２３４１２３４") == "13812341234"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812341234", "138****1234"),
        ("+86 138 1234 1234", "138****1234"),
        ("0086-13812341234", "138****1234"),
        ("8613812341234", "138****1234"),
        ("01012345678", "010****5678"),
        ("87654321", "876*4321"),
        ("123456", "****56"),
        ("12", "12"),
        ("1", "1"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(raw, expected):
    assert mask_phone(raw) == expected


def test_mask_phone_always_hides_something_for_seven_digits():
    assert mask_phone("1234567") != "1234567"


def test_mask_phone_hides_the_middle_of_any_mainland_mobile():
    rng = random.Random(20260101)
    for _ in range(500):
        number = f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}"
        for written in (number, f"+86 {number}", f"0086{number}", f"{number[:3]}-{number[3:7]}-{number[7:]}"):
            masked = mask_phone(written)
            assert masked == f"{number[:3]}****{number[7:]}"
            assert number[3:7] not in masked[3:7]


def test_masking_a_masked_phone_keeps_it_masked():
    assert mask_phone(mask_phone("13812341234")) == "138****1234"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("110101199003071234", "110***********1234"),
        ("11010119900307123X", "110***********123X"),
        (" 110101199003071234 ", "110***********1234"),
        ("110101900307123", "110********7123"),  # old 15-digit card
        ("E12345678", "E12**5678"),  # passport
        ("12345678", "123*5678"),
        ("1234567", "*******"),
        ("123", "***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_id_number(raw, expected):
    assert mask_id_number(raw) == expected


def test_mask_id_number_never_shows_the_birth_date():
    masked = mask_id_number("110101199003071234")
    assert "19900307" not in masked
    assert len(masked) == 18
