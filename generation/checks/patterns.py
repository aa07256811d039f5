"""Regular expressions that users supply (a template's output-schema `pattern` and
`patternProperties`) run on re2, whose matching time is linear in the text.

Python's re backtracks: `^(a+)+$` against 24 a's and a "!" takes about a second, and three
times longer with every two characters more. re2 has no backtracking, so it also has no
backreferences or lookaround; a pattern it cannot compile is refused where the schema is
saved, and flagged (never run on re) where an older schema still holds one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import re2

# Keywords whose values are instance data, not schemas: a "pattern" key inside them is no pattern.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
# Keywords whose values map names to schemas: a property may be called "pattern" or "enum".
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)


class UnsupportedPattern(ValueError):
    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"{pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


def _options() -> re2.Options:
    options = re2.Options()
    # A refused pattern is reported to the user; re2's own log line on stderr would only be noise.
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=256)
def user_pattern(pattern: str) -> Any:
    """The compiled re2 pattern; UnsupportedPattern when re2 cannot compile it."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0] if error.args else "not supported"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UnsupportedPattern(pattern, str(reason)) from None


def user_pattern_search(pattern: str, text: str) -> bool:
    """Whether the pattern matches anywhere in the text (JSON schema's `pattern` semantics)."""
    compiled = user_pattern(pattern)
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows "\ud800") has no UTF-8 form, and re2 matches UTF-8.
        return compiled.search(text.encode("utf-8", "replace").decode("utf-8")) is not None


@dataclass(frozen=True)
class PatternProblem:
    path: str
    pattern: str
    reason: str


def _pointer(parts: list[str]) -> str:
    """A JSON pointer (RFC 6901) into the schema, "#/properties/code/pattern"."""
    return "#" + "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def schema_pattern_problems(schema: Any) -> list[PatternProblem]:
    """Every `pattern` value and `patternProperties` key in the schema that re2 cannot compile,
    with where it is."""
    problems = []
    unevaluated: list[str] = []
    has_pattern_properties = False
    # (node, where it is, whether it is a name-to-schema map rather than a schema)
    stack: list[tuple[Any, list[str], bool]] = [(schema, [], False)]
    while stack:
        node, parts, is_map = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                here = [*parts, str(key)]
                if is_map:
                    stack.append((value, here, False))
                    continue
                if key in _DATA_KEYWORDS:
                    continue
                if key == "pattern" and isinstance(value, str):
                    problems.extend(_problem(value, _pointer(here)))
                elif key == "unevaluatedProperties":
                    unevaluated.append(_pointer(here))
                elif key == "patternProperties" and isinstance(value, dict):
                    has_pattern_properties = has_pattern_properties or bool(value)
                    for pattern in value:
                        problems.extend(_problem(str(pattern), _pointer([*here, str(pattern)])))
                stack.append((value, here, key in _SCHEMA_MAPS))
        elif isinstance(node, list):
            stack.extend((item, [*parts, str(index)], False) for index, item in enumerate(node))
    if has_pattern_properties:
        # jsonschema tells which properties are unevaluated by matching the patternProperties keys
        # with Python's backtracking re, out of the reach of re2 and the time budget.
        problems.extend(
            PatternProblem(path=path, pattern="", reason="unevaluatedProperties cannot be used with patternProperties")
            for path in unevaluated
        )
    return sorted(problems, key=lambda problem: problem.path)


def _problem(pattern: str, path: str) -> list[PatternProblem]:
    try:
        user_pattern(pattern)
    except UnsupportedPattern as error:
        return [PatternProblem(path=path, pattern=pattern, reason=error.reason)]
    return []


def unsupported_patterns_message(problems: list[PatternProblem]) -> str:
    """One sentence naming where each refused pattern is and why, for a form or an API error."""
    shown = "; ".join(
        f"{problem.path} ({problem.pattern!r}: {problem.reason})"
        if problem.pattern
        else f"{problem.path} ({problem.reason})"
        for problem in problems[:3]
    )
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return (
        f"The schema has a pattern that cannot be checked in linear time at {shown}{more}. Patterns run "
        f"on re2, which has no backreferences (\\1) or lookaround ((?=…), (?!…), (?<=…), (?<!…))."
    )
