"""The json check: the output parses as JSON and matches the template's output schema."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import SchemaError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

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


def check_json(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Applies only to templates whose output format is "json"."""
    if sample.output_format != "json":
        return None
    try:
        document = json.loads(json_text(sample.output))
    except json.JSONDecodeError as error:
        return Flag("json", f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}")
    if not sample.output_schema:
        return None
    schema = dict(sample.output_schema)
    try:
        validator_class = validator_for(schema)
        validator_class.check_schema(schema)
    except SchemaError as error:
        return Flag("json", f"the template's output schema is itself invalid: {error.message}")
    error = best_match(validator_class(schema).iter_errors(document))
    if error is None:
        return None
    return Flag("json", f"does not match the output schema at {json_path(error.absolute_path)}: {error.message}")
