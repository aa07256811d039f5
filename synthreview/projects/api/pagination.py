"""Cursor pages: every list the API gives is read by keyset, never by offset, so the thousandth
page of a 1M-sample project costs what the first does, and no page counts the whole table."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Generic, TypeVar

from ninja import Schema

from synthreview.projects.api.errors import ApiError

T = TypeVar("T")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
# Cursor values are ids and timestamps' parts; anything longer was not made by us.
MAX_CURSOR_LENGTH = 200


class CursorPage(Schema, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def cursor_encode(values: list[int | str | float | None]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str | None, *, shape: tuple[type, ...] = (int,)) -> list | None:
    """The values a cursor holds, checked against `shape`; a 422 naming `cursor` for anything
    this server did not hand out."""
    if cursor is None or cursor == "":
        return None
    refused = ApiError(
        422, "invalid", "The cursor is not one this server gave; start again without it.", field="cursor"
    )
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise refused from None
    if not isinstance(values, list) or len(values) != len(shape):
        raise refused
    for value, kind in zip(values, shape):
        if kind is int and (type(value) is not int or not 0 <= value < 2**63):
            raise refused
        if kind is str and not isinstance(value, str):
            raise refused
        if kind is float and (type(value) not in (int, float) or value != value):
            raise refused
    return values
