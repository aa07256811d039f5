"""Numbers and ids read from URLs and forms: odd input gives None or a clear refusal, never an exception."""

from __future__ import annotations

import pytest
from django import forms

from synthreview.projects.params import LARGEST_ID, finite_float_or_none, non_negative_int_or_none, sample_ids_parse


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        ("0", 0),
        ("007", 7),
        (str(LARGEST_ID), LARGEST_ID),
        ("0" * 40 + "12", 12),
        # Past 4,300 digits int() refuses the string, however many of them are leading zeros.
        ("0" * 4300 + "1", 1),
        ("0" * 5000, 0),
    ],
)
def test_ascii_digits_are_read_as_a_whole_number(raw, expected):
    assert non_negative_int_or_none(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [None, "", " 7", "7 ", "-1", "+1", "1.5", "1e3", "abc", "²", "٣", str(LARGEST_ID + 1), "9" * 5000],
)
def test_anything_else_is_none(raw):
    assert non_negative_int_or_none(raw) is None


def test_a_caller_may_set_a_lower_maximum():
    assert non_negative_int_or_none("100", maximum=100) == 100
    assert non_negative_int_or_none("101", maximum=100) is None


@pytest.mark.parametrize(("raw", "expected"), [("0.5", 0.5), ("-0.0", 0.0), ("1e-05", 1e-05), ("3", 3.0)])
def test_a_float_is_read_as_repr_writes_it(raw, expected):
    assert finite_float_or_none(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "x", "1e999", "-inf", "nan", "²", "٣.5", "1" * 5000])
def test_anything_but_a_finite_float_is_none(raw):
    assert finite_float_or_none(raw) is None


def test_ids_come_separated_by_commas_semicolons_spaces_or_lines():
    assert sample_ids_parse(" 3, 1;2\n4  5 ", invalid="refuse") == [3, 1, 2, 4, 5]


def test_a_box_a_person_typed_into_refuses_bad_entries_by_name():
    with pytest.raises(forms.ValidationError, match="Not a sample id: x, -2, ²"):
        sample_ids_parse("1, x, -2, ²", invalid="refuse")


def test_ids_in_a_url_drop_the_bad_entries():
    assert sample_ids_parse("1,x,,-2,²,3," + "9" * 30, invalid="skip") == [1, 3]


def test_more_ids_than_the_limit_are_refused():
    assert sample_ids_parse("1 2 3", invalid="refuse", limit=3) == [1, 2, 3]
    with pytest.raises(forms.ValidationError, match="At most 2 ids at once."):
        sample_ids_parse("1 2 3", invalid="refuse", limit=2)


def test_ids_padded_with_thousands_of_zeros_are_read_not_raised():
    assert sample_ids_parse("0" * 5000, invalid="refuse") == [0]
    assert sample_ids_parse("0" * 4300 + "7, 8", invalid="skip") == [7, 8]
