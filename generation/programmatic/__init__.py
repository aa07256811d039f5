"""Rule-based generators, registered by name.

A programmatic generator computes the right answer of every item it makes, so
its mistakes are known: some generators make them on purpose, at a set rate, to
give audits and checks a ground truth.
"""

from __future__ import annotations

from generation.programmatic.arithmetic import ArithmeticWordProblems
from generation.programmatic.base import GeneratedItem, ProgrammaticGenerator
from generation.programmatic.logic import PropositionalLogic

REGISTRY: dict[str, type[ProgrammaticGenerator]] = {
    ArithmeticWordProblems.name: ArithmeticWordProblems,
    PropositionalLogic.name: PropositionalLogic,
}


def get_programmatic(name: str) -> type[ProgrammaticGenerator]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no programmatic generator named {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


__all__ = ["REGISTRY", "GeneratedItem", "ProgrammaticGenerator", "get_programmatic"]
