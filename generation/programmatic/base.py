from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GeneratedItem:
    index: int
    input: str
    output: str
    label: str | None = None
    metadata: dict = field(default_factory=dict)


class ProgrammaticGenerator:
    name: str = ""

    def __init__(self, *, seed: int, parameters: dict | None = None) -> None:
        self.seed = seed
        self.parameters = parameters or {}

    def generate(self, index: int, *, framing: str) -> GeneratedItem:
        raise NotImplementedError
