"""The json check: the output parses as JSON and matches the template's output schema."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import SchemaError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from generation.checks.base import CheckContext, Flag, SampleInput

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
    # An empty registry: references resolve inside the schema or not at all, never over
    # the network or from disk (a schema saved before external refs were refused).
    validator = validator_class(schema, registry=Registry())
    try:
        mismatch = best_match(validator.iter_errors(document))
    except Unresolvable as unresolved:
        return Flag(
            "json",
            f"the template's output schema refers to {unresolved.ref}, which is not resolved: "
            f"only references inside the schema (#…) are followed",
        )
    if mismatch is None:
        return None
    return Flag("json", f"does not match the output schema at {json_path(mismatch.absolute_path)}: {mismatch.message}")
