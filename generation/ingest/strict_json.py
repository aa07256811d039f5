"""JSON decoding that refuses what a sample cannot hold, with a reason a user can act on.

Python's json module accepts more than JSON (RFC 8259) does, and some of it breaks
later, far from the line that caused it: NaN and Infinity (no database stores them
in a JSON column), a key given twice (silently last-wins), nesting deep enough to
exhaust the stack, and integers past Python's 4,300-digit conversion limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# Far deeper than any real sample's metadata, far below the depth at which the
# decoder (or SQLite's JSON functions, at 1,000) gives up.
MAX_DEPTH = 100
# A key or value quoted in an error is cut to this many characters: a reason must stay readable.
SHOWN_CHARS = 60

_DEPTH_TOKENS = re.compile(r'[][{}"\\]')


class JsonRefused(ValueError):
    """A JSON text that decodes (or would) but must not be imported."""


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[: SHOWN_CHARS - 5]}...{text[-1]}"


def nested_too_deeply(text: str, start: int = 0, end: int | None = None) -> bool:
    """Whether the JSON text nests arrays and objects more than MAX_DEPTH deep, found
    without decoding it: a few C-speed counts, and a scan only when they cannot rule it out."""
    end = len(text) if end is None else end
    if text.count("[", start, end) + text.count("{", start, end) <= MAX_DEPTH:
        return False
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _DEPTH_TOKENS.finditer(text, start, end):
        pos = match.start()
        if pos == escaped_at:
            continue
        char = text[pos]
        if in_string:
            if char == "\\":
                escaped_at = pos + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


class _Constant:
    """What NaN, Infinity and -Infinity decode to: a marker, found and refused by name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _constant_in(value: object) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Constant):
            return item.name
        if isinstance(item, list):
            stack.extend(item)
    return None


class StrictJson:
    """One per file: decodes its rows one at a time (not thread-safe)."""

    def __init__(self) -> None:
        self._problem: str | None = None
        self._constant: str | None = None
        self._decoder = json.JSONDecoder(object_pairs_hook=self._object, parse_constant=self._constant_found)

    def _decoded(self, decode: Callable[..., Any], *args: object) -> Any:
        """decode(*args) with this file's problems reset; what json cannot take becomes JsonRefused,
        bad syntax stays a JSONDecodeError."""
        self._reset()
        try:
            return decode(*args)
        except json.JSONDecodeError:
            raise
        except RecursionError:
            raise JsonRefused(f"nested more than {MAX_DEPTH} levels deep") from None
        except ValueError as error:
            raise JsonRefused(_number_problem(error)) from None

    def loads(self, text: str) -> object:
        """The decoded text; JsonRefused for what must not be imported, JSONDecodeError for bad syntax."""
        if nested_too_deeply(text):
            raise JsonRefused(f"nested more than {MAX_DEPTH} levels deep")
        value = self._decoded(self._decoder.decode, text)
        self._raise_problem()
        return value

    def raw_decode(self, text: str, pos: int) -> tuple[object, int, str | None]:
        """One value from text at pos: (value, end, problem), where a problem refuses the value
        but the text after `end` can still be read. JsonRefused when it cannot: reading must stop."""
        value, end = self._decoded(self._decoder.raw_decode, text, pos)
        if nested_too_deeply(text, pos, end):
            return value, end, f"nested more than {MAX_DEPTH} levels deep"
        try:
            self._raise_problem()
        except JsonRefused as refused:
            return value, end, str(refused)
        return value, end, None

    def _reset(self) -> None:
        self._problem = None
        self._constant = None

    def _raise_problem(self) -> None:
        if self._problem is not None:
            raise JsonRefused(self._problem)
        if self._constant is not None:
            # Only where no object held it (an array's element): there is no field to name.
            raise JsonRefused(f"{self._constant} is not a number JSON allows")

    def _constant_found(self, name: str) -> _Constant:
        self._constant = name
        return _Constant(name)

    def _object(self, pairs: list[tuple[str, object]]) -> dict[str, object]:
        data = dict(pairs)
        if self._problem is not None:
            return data
        if len(data) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self._problem = f"the key {shown(key)} appears more than once in one object"
                    return data
                seen.add(key)
        if self._constant is not None:
            for key, value in pairs:
                name = _constant_in(value)
                if name is not None:
                    self._problem = f"field {shown(key)} is {name}, which is not a number JSON allows"
                    return data
        return data


def _number_problem(error: ValueError) -> str:
    if "digits" in str(error):
        # Python's own limit on int(str) (sys.get_int_max_str_digits), met while decoding.
        return "a number has more than 4,300 digits"
    return f"invalid JSON ({error})"
