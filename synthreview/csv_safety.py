"""CSV cells that a spreadsheet would run as a formula are written as text.

The rule: a text cell is prefixed with a single quote (shown, not evaluated) when
- it starts with a tab or a carriage return (OWASP's list: both are read as a formula start), or
- after any leading run of whitespace of any Unicode kind (spaces, line feeds, U+00A0,
  U+3000, …), invisible format characters, `;` and `|`, the first character is one of
  = + - @ or their full-width forms ＝ ＋ － ＠.
Spreadsheets trim leading spaces, split cells at `;` or `|` when those are taken as the
delimiter, and some fold full-width forms to ASCII, so each of those can put a formula
start in first place (OWASP: CSV injection). Any other text, a negative number written
as a number included, is left as it is.
"""

from __future__ import annotations

import sys

FORMULA_CHARACTERS = frozenset("=+-@＝＋－＠")
# Zero-width and byte-order marks are no whitespace to str.isspace(), yet invisible.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_SEPARATORS = ";|"
_SKIPPED = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()) + _INVISIBLE + _SEPARATORS
_ALWAYS = ("\t", "\r")
# Every first character that can make a cell risky: a column whose cells start with none
# of these needs no cell-by-cell look (the exports check that at C speed).
FORMULA_STARTS = tuple(sorted(FORMULA_CHARACTERS | set(_SKIPPED)))


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read this cell as a formula (the rule in the module's doc)."""
    if text.startswith(_ALWAYS):
        return True
    first = text.lstrip(_SKIPPED)[:1]
    return first != "" and first in FORMULA_CHARACTERS


def csv_safe_cell(value: object) -> object:
    """Prefix a formula-looking text cell with a quote so it is shown, not evaluated; numbers stay numbers."""
    if isinstance(value, str) and starts_like_formula(value):
        return "'" + value
    return value
