"""The formula-injection rule every CSV export writes its cells through (synthreview.csv_safety)."""

from __future__ import annotations

import pytest

from synthreview.csv_safety import FORMULA_STARTS, csv_safe_cell

ATTACKS = [
    "=SUM(A1:A9)",
    "+1+2",
    "-3+cmd",
    "@SUM(A1)",
    "\tindented",  # a leading tab or carriage return is escaped whatever follows (OWASP)
    "\rcarriage",
    " =cmd|' /C calc'!A0",
    "   +1",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\r\n@SUM(A1)",
    "\u00a0=1+1",  # no-break space
    "\u3000=1+1",  # ideographic space
    "\u2003-1+1",  # em space
    "\u200b=1+1",  # zero-width space: invisible, and no whitespace to str.isspace
    "\ufeff=1+1",  # byte-order mark
    ";=1+1",
    "|=1+1",
    "; | \n=cmd",
    "＝1+1",  # full-width forms
    "＋1+1",
    "－1+1",
    "＠SUM(A1)",
    " ＝1+1",
    ";＠x",
]


@pytest.mark.parametrize("cell", ATTACKS)
def test_a_cell_that_can_become_a_formula_is_quoted(cell: str) -> None:
    assert csv_safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ATTACKS)
def test_the_fast_column_test_sends_every_attack_to_the_cell_rule(cell: str) -> None:
    # The exports skip the cell-by-cell look for a column none of whose cells starts with one of these.
    assert cell.startswith(FORMULA_STARTS)


@pytest.mark.parametrize(
    "cell",
    [
        "What is 2 = 2?",
        "hello",
        " indented prose",
        "\n\nLeading blank lines, then text",
        "; a note after a semicolon",
        "| a | table | row |",
        "\u00a0non-breaking start",
        "1-2",
        "3 + 4 = 7",
        "email@example.com",
        "'already quoted",
        "",
        "   ",
        "；=1",  # a full-width semicolon is no separator a spreadsheet splits at
    ],
)
def test_ordinary_text_is_unchanged(cell: str) -> None:
    assert csv_safe_cell(cell) == cell


@pytest.mark.parametrize("value", [-3, -0.5, 0, 12, None, True])
def test_numbers_and_other_values_stay_as_they_are(value: object) -> None:
    assert csv_safe_cell(value) is value


def test_a_negative_number_written_as_text_is_quoted_as_before() -> None:
    # A text "-3" is a formula start to a spreadsheet like any other; only real numbers stay numbers.
    assert csv_safe_cell("-3") == "'-3"
    assert csv_safe_cell("-") == "'-"
