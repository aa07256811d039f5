from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from generation.prompts import template_variables


@dataclass(frozen=True)
class GeneratedItem:
    index: int
    input: str
    output: str
    label: str | None = None
    metadata: dict = field(default_factory=dict)


class ProgrammaticGenerator:
    name: str = ""
    # Framing name → the prompt template the generator fills in for it, in the renderer's
    # `{{ name }}` syntax: a template with one of these texts is the generator's real prompt.
    framing_templates: ClassVar[dict[str, str]] = {}

    def __init__(self, *, seed: int, parameters: dict | None = None) -> None:
        self.seed = seed
        self.parameters = parameters or {}

    def generate(self, index: int, *, framing: str) -> GeneratedItem:
        raise NotImplementedError

    @classmethod
    def filled_variables(cls) -> set[str]:
        """The placeholders the generator writes itself, whatever the framing."""
        return {name for text in cls.framing_templates.values() for name in template_variables(text)}

    @classmethod
    def framing_of(cls, template_text: str) -> str | None:
        """The framing whose template this text is, or None for a text of the project's own."""
        return next((name for name, text in cls.framing_templates.items() if text == template_text), None)
