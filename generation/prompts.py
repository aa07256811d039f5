"""Prompt templates as plain text with `{{ variable }}` placeholders.

Substitution is one pass of a regular expression, never a template language:
the values are data (seed rows, few-shot examples, sample text), so a `{{` or
`{%` inside a value is copied as it is and never evaluated. A template's own
text is checked when it is saved: anything that looks like a placeholder in
another syntax (`{facts}`, `{{ 2nd }}`, `{% if %}`) would reach the model as
it is, so it is refused by name.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_DOUBLE_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_TAG = re.compile(r"\{%.*?%\}", re.DOTALL)
# str.format's and the shell's syntax, {facts} and ${facts}. Not after a letter, a backslash,
# ^, _ or a closing brace, so LaTeX in a prompt (\frac{a}{b}, x_{i}) is left alone.
_SINGLE_BRACES = re.compile(r"(?<![\w\\}^{])\$?\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}(?!\})")
_SHOWN = 40

# Filled by the run engine, not by the template's author.
RESERVED_VARIABLES: dict[str, str] = {
    "examples": "the few-shot examples block",
    "constraint": "the constraint injected for diversity",
}


class PromptRenderError(ValueError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"the prompt needs values for: {', '.join(missing)}")


def _shown(fragment: str) -> str:
    return fragment if len(fragment) <= _SHOWN else f"{fragment[: _SHOWN - 1]}…"


def placeholder_problems(text: str, *, output_format: str = "") -> list[str]:
    """What in a template's text looks like a placeholder but is not one, each named, in order.
    A prompt for code is left alone: braces are the language's own there (`const { id } = user`,
    f-strings, `${x}`, a Jinja example), and the renderer fills only exact {{ name }} placeholders."""
    if output_format == "code":
        return []
    problems: list[str] = []
    for match in _DOUBLE_BRACES.finditer(text):
        if not PLACEHOLDER.fullmatch(match.group()):
            problems.append(
                f"{_shown(match.group())} is not a placeholder: a placeholder holds one name (letters, digits "
                "and _, not starting with a digit) and nothing else, such as {{ facts }}"
            )
    rest = _DOUBLE_BRACES.sub(lambda match: " " * len(match.group()), text)
    for match in _TAG.finditer(rest):
        problems.append(
            f"{_shown(match.group())} is a template tag, which prompts do not run: use {{{{ name }}}} placeholders only"
        )
    rest = _TAG.sub(lambda match: " " * len(match.group()), rest)
    for match in _SINGLE_BRACES.finditer(rest):
        problems.append(f"{match.group()} is not a placeholder here: write {{{{ {match.group(1)} }}}}")
    if (start := rest.find("{{")) != -1:
        problems.append(f"{_shown(rest[start:].splitlines()[0])} opens a placeholder that is never closed with }}}}")
    return problems


def template_variables(text: str) -> list[str]:
    """The placeholders' names, in order of first appearance, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def render_prompt(text: str, variables: dict[str, str]) -> str:
    missing = [name for name in template_variables(text) if name not in variables]
    if missing:
        raise PromptRenderError(missing)
    # A function replacement: re.sub would otherwise read backslashes in the value as escapes.
    return PLACEHOLDER.sub(lambda match: str(variables[match.group(1)]), text)
