"""Numbers and ids typed into URLs and forms, read without ever raising on what a user sends."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from django import forms

# The largest value a database integer column holds (a BIGINT, as every id is).
# A larger one can match no row, and some drivers raise OverflowError on it.
LARGEST_ID = 2**63 - 1
# The largest an IntegerField or PositiveIntegerField column holds on PostgreSQL (an INTEGER);
# SQLite would store more, but a value is refused alike on both databases.
LARGEST_INTEGER = 2**31 - 1

_ID_SEPARATORS = re.compile(r"[\s,;]+")


def non_negative_int_or_none(raw: str | None, *, maximum: int = LARGEST_ID) -> int | None:
    """The whole number that `raw` spells in ASCII digits, or None for anything else:
    missing, empty, signed, decimal, non-ASCII digits ("²" passes str.isdigit but not int())
    or above `maximum`."""
    if not raw or not raw.isascii() or not raw.isdigit():
        return None
    # Leading zeros go before the length check and int(): int() refuses a string of more than
    # 4,300 digits with ValueError even when all but the last are zeros.
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return None
    value = int(digits)
    return value if value <= maximum else None


def finite_float_or_none(raw: str | None) -> float | None:
    """The finite number that `raw` spells as repr(float) writes it (a sign, a point, an
    exponent), or None for anything else: missing, non-ASCII, not a number, inf or nan."""
    if not raw or not raw.isascii():
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def sample_ids_parse(text: str, *, invalid: Literal["refuse", "skip"], limit: int | None = None) -> list[int]:
    """Sample ids separated by commas, semicolons, spaces or new lines.

    An entry that is not an id either refuses the whole list (`invalid="refuse"`: a
    ValidationError naming the first five such entries, for a box a person typed into),
    or is dropped (`invalid="skip"`: for ids carried in a URL, where a stray entry should
    not cost the page). More than `limit` ids are refused.
    """
    tokens = [token for token in _ID_SEPARATORS.split(text.strip()) if token]
    parsed = [(token, non_negative_int_or_none(token)) for token in tokens]
    if invalid == "refuse":
        bad = [token for token, value in parsed if value is None]
        if bad:
            raise forms.ValidationError(f"Not a sample id: {', '.join(bad[:5])}")
    ids = [value for _, value in parsed if value is not None]
    if limit is not None and len(ids) > limit:
        raise forms.ValidationError(f"At most {limit:,} ids at once.")
    return ids


class IdField(forms.IntegerField):
    """An object's id typed into a form or a URL: ASCII digits from 1 to LARGEST_ID, read by
    non_negative_int_or_none as every other id is (Django's IntegerField takes "١٢٣" as 123)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", LARGEST_ID)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        parsed = non_negative_int_or_none(str(value).strip())
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField by id that refuses an id no column holds as an invalid choice:
    Django looks the chosen ids up with `pk__in`, and SQLite cannot bind an integer past 64 bits."""

    def clean(self, value: Any) -> Any:
        for pk in value if isinstance(value, (list, tuple)) else []:
            if non_negative_int_or_none(str(pk)) is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super().clean(value)
