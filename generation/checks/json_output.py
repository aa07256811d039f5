"""The json check: the output parses as JSON and matches the template's output schema."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from jsonschema import SchemaError, ValidationError
from jsonschema._utils import equal, extras_msg, uniq
from jsonschema.exceptions import best_match
from jsonschema.validators import extend, validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from generation.checks.base import CheckContext, Flag, SampleInput
from generation.checks.budget import deadline_check
from generation.checks.patterns import (
    PatternProblem,
    UnsupportedPattern,
    schema_pattern_problems,
    user_pattern_search,
)

# One surrounding Markdown fence is tolerated: models add it even when told not to.
_FENCE = re.compile(r"\A```[ \t]*(?:json)?[ \t]*\n(?P<body>.*?)\n?```\Z", re.DOTALL | re.IGNORECASE)


def json_text(output: str) -> str:
    text = output.strip()
    fenced = _FENCE.match(text)
    return fenced.group("body") if fenced else text


def json_path(parts: Any) -> str:
    """`$.items[2].name` from jsonschema's deque of keys and indexes."""
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def external_refs(schema: Any) -> list[str]:
    """Every `$ref`/`$dynamicRef` in the schema that does not point inside it (`#…`).
    jsonschema's default registry would fetch such a reference with urlopen, which
    reads local files and follows redirects: a lead's schema must not make the
    worker fetch anything, so these are refused where the schema is saved."""
    found = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                    found.append(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


# --- a validator that cannot stall -------------------------------------------
# jsonschema's own `pattern`, `patternProperties` and `additionalProperties` run Python's
# backtracking re on the schema's patterns, and its `uniqueItems` compares unsortable items pairwise; these replace them, and every keyword
# checks the time budget first, so nested anyOf/$ref over a deep document stops too.


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if validator.is_type(instance, "string") and not user_pattern_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, pattern_properties: dict, instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            deadline_check()
            if user_pattern_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Any:
    # jsonschema's own matches the patternProperties keys on Python's re to tell which
    # properties are additional; this is its logic with the patterns on re2.
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = set()
    for key in instance:
        deadline_check()
        if key not in properties and not any(user_pattern_search(pattern, key) for pattern in patterns):
            extras.add(key)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            shown = ", ".join(repr(each) for each in sorted(patterns))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {shown}")
        else:
            listed, verb = extras_msg(sorted(extras, key=str))
            yield ValidationError(f"Additional properties are not allowed ({listed} {verb} unexpected)")


_SCALARS = (str, int, float, type(None))


def _unique_items(validator: Any, unique: bool, instance: Any, schema: Any) -> Any:
    if not (unique and validator.is_type(instance, "array")):
        return
    if all(isinstance(item, _SCALARS) for item in instance):
        duplicate = not uniq(instance)  # sorted, so n log n
    else:
        seen: list[Any] = []
        duplicate = False
        for item in instance:
            deadline_check()
            # jsonschema's `equal`: true is not 1, and 1 is 1.0, inside arrays and objects too.
            if any(equal(other, item) for other in seen):
                duplicate = True
                break
            seen.append(item)
    if duplicate:
        yield ValidationError(f"{instance!r} has non-unique elements")


def _within_budget(keyword: Any) -> Any:
    def checked(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        deadline_check()
        yield from keyword(validator, value, instance, schema) or ()

    return checked


@functools.cache
def bounded_validator(validator_class: Any) -> Any:
    """The draft's validator class with linear patterns and a time budget on every keyword."""
    replaced = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "uniqueItems": _unique_items,
    }
    keywords = {
        name: _within_budget(replaced.get(name, keyword)) for name, keyword in validator_class.VALIDATORS.items()
    }
    return extend(validator_class, keywords)


@functools.lru_cache(maxsize=64)
def _unchecked_pairing(schema_text: str) -> PatternProblem | None:
    """The schema's first keyword that only a backtracking engine could check, once per schema
    rather than once per sample (a run's samples share their template's schema)."""
    problems = [problem for problem in schema_pattern_problems(json.loads(schema_text)) if not problem.pattern]
    return problems[0] if problems else None


def check_json(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Applies only to templates whose output format is "json"."""
    if sample.output_format != "json":
        return None
    try:
        document = json.loads(json_text(sample.output))
    except json.JSONDecodeError as error:
        return Flag("json", f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}")
    except RecursionError:
        return Flag("json", "nested too deeply to parse")
    if not sample.output_schema:
        return None
    schema = dict(sample.output_schema)
    try:
        validator_class = validator_for(schema)
        validator_class.check_schema(schema)
    except SchemaError as error:
        return Flag("json", f"the template's output schema is itself invalid: {error.message}")
    if unchecked := _unchecked_pairing(json.dumps(schema, sort_keys=True)):
        # A schema saved before this pairing was refused: never run on a backtracking engine.
        return Flag(
            "json",
            f"the template's output schema cannot be checked in linear time ({unchecked.path}: "
            f"{unchecked.reason}); save a version without it",
        )
    # An empty registry: references resolve inside the schema or not at all, never over
    # the network or from disk (a schema saved before external refs were refused).
    validator = bounded_validator(validator_class)(schema, registry=Registry())
    try:
        mismatch = best_match(validator.iter_errors(document))
    except Unresolvable as unresolved:
        return Flag(
            "json",
            f"the template's output schema refers to {unresolved.ref}, which is not resolved: "
            f"only references inside the schema (#…) are followed",
        )
    except UnsupportedPattern as unsupported:
        # A schema saved before such patterns were refused: never run on a backtracking engine.
        return Flag(
            "json",
            f"the template's output schema has a pattern that cannot be checked in linear time "
            f"({unsupported.pattern!r}: {unsupported.reason}); save a version without it",
        )
    if mismatch is None:
        return None
    return Flag("json", f"does not match the output schema at {json_path(mismatch.absolute_path)}: {mismatch.message}")
