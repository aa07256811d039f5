"""The math-answer check: a final number is present and, where known, right."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from generation.checks.base import CheckContext, Flag, SampleInput

# A number: optional minus (ASCII or U+2212) and dollar sign, digits with optional
# thousands commas, optional decimals. It may not follow a letter, digit or point,
# so "3-4" reads as 3 and 4, and "x2" or "1.5"'s "5" are not numbers of their own.
_NUMBER = r"(?<![\w.])(?P<sign>[-−])?\$?(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?!\d)"
_NUMBER_RE = re.compile(_NUMBER)
# Markers of a final answer, most explicit first; the last occurrence of the first marker found wins.
_MARKERS = [
    ("####", re.compile(r"####\s*" + _NUMBER)),
    ("\\boxed", re.compile(r"\\boxed\{\s*" + _NUMBER + r"\s*\}")),
    # "Answer:" only opens a line ("points/answer = 48" is arithmetic), and the number
    # must be the line's last ("the answer is 15 gallons * 8 = 120 pints" answers 120).
    (
        "answer",
        re.compile(
            # The line's own whitespace ([^\S\n]), not \s: \s would run from every line start across
            # all the blank lines below it, quadratic in an output of many empty lines.
            r"(?:\bthe\s+(?:final\s+)?answer\s+is|^(?:[^\S\n]|[*#])*(?:final\s+)?answer\s*[:=])\s*"
            + _NUMBER
            + r"(?=[^\d\n]*$)",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
]


def parse_number(sign: str | None, digits: str) -> Decimal:
    value = Decimal(digits.replace(",", ""))
    return -value if sign else value


def final_answer(text: str) -> tuple[Decimal, str] | None:
    """The final number of a solution and how it was found, or None.

    In order: the last "#### N" (GSM8K); the last "\\boxed{N}"; the last "the answer
    is N" or "the final answer is N", or "Answer: N" / "Final answer = N" at the start
    of a line, where N is the last number on its line; else the last number on the
    last non-empty line (none there: no final number). Commas and a $ are stripped;
    a leading - or − is a sign.
    """
    for marker, pattern in _MARKERS:
        matches = list(pattern.finditer(text))
        if matches:
            last = matches[-1]
            return parse_number(last.group("sign"), last.group("digits")), marker
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    numbers = list(_NUMBER_RE.finditer(lines[-1]))
    if not numbers:
        return None
    last = numbers[-1]
    return parse_number(last.group("sign"), last.group("digits")), "last line"


def known_answer(value: object) -> Decimal | None:
    """The expected answer as a number, or None when it is not one ("1/2", "x = 3")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    # Stripped first: two \s* side by side backtrack quadratically over a long run of spaces.
    match = re.fullmatch(_NUMBER + r"\s*\.?", str(value).strip())
    if match is None:
        return None
    return parse_number(match.group("sign"), match.group("digits"))


def _format(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def check_math_answer(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Flag a solution with no final number (see `final_answer`), or one unequal to
    `metadata["expected_answer"]` (programmatic generators) or else `metadata["reference_answer"]`."""
    found = final_answer(sample.output)
    if found is None:
        return Flag(
            "math-answer",
            "no final number found (looked for ####, \\boxed{}, “the answer is”, “Answer:” and the last line)",
        )
    answer, marker = found
    expected_raw = sample.metadata.get("expected_answer", sample.metadata.get("reference_answer"))
    try:
        expected = known_answer(expected_raw)
    except InvalidOperation:
        expected = None
    if expected is None or answer == expected:
        return None
    return Flag(
        "math-answer", f"final answer {_format(answer)} (from {marker}) differs from the expected {_format(expected)}"
    )
