"""Prompt templates as plain text with `{{ variable }}` placeholders.

Substitution is one pass of a regular expression, never a template language:
the values are data (seed rows, few-shot examples, sample text), so a `{{` or
`{%` inside a value is copied as it is and never evaluated.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

# Filled by the run engine, not by the template's author.
RESERVED_VARIABLES: dict[str, str] = {
    "examples": "the few-shot examples block",
    "constraint": "the constraint injected for diversity",
}


class PromptRenderError(ValueError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"the prompt needs values for: {', '.join(missing)}")


def template_variables(text: str) -> list[str]:
    """The placeholders' names, in order of first appearance, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def render_prompt(text: str, variables: dict[str, str]) -> str:
    missing = [name for name in template_variables(text) if name not in variables]
    if missing:
        raise PromptRenderError(missing)
    # A function replacement: re.sub would otherwise read backslashes in the value as escapes.
    return PLACEHOLDER.sub(lambda match: str(variables[match.group(1)]), text)
