"""Propositional-logic problems: is this formula true, given the statements' truth values?

Formulas use and, or, not, implies and iff over 2 to 4 statements named P, Q, R, S.
Every binary part inside a larger formula is parenthesised, so the text reads one way only.
The solution evaluates each part in turn and ends "Answer: true" or "Answer: false".

Parameters:
  error_rate: share of items whose final answer is flipped on purpose (0..1);
  edge_case_rate: share of items that are edge cases on purpose (0..1), named in
           metadata["edge_case"] (absent on ordinary items): see EDGE_CASES.
"""

from __future__ import annotations

import random
from typing import Literal, TypeAlias

from generation.programmatic.arithmetic import NAMES
from generation.programmatic.base import GeneratedItem, ProgrammaticGenerator
from generation.prompts import render_prompt

# Each framing is a prompt template in the renderer's own syntax (generation.prompts).
FRAMING_TEMPLATES = {
    "story": (
        "Read the story and decide whether the claim holds.\n\nThis morning in the harbour town, {{ scene }}. "
        "Write {{ legend }}. {{ speaker }} claims: {{ formula }}. Is the claim true or false?"
    ),
    "direct": (
        "Statements have these truth values: {{ facts }}. Is the formula {{ formula }} true or false? Show your steps."
    ),
    "quiz": "Question: Is the formula {{ formula }} true or false?\nFacts: {{ facts }}\nGive the final answer as true or false.",
}
FRAMINGS = tuple(FRAMING_TEMPLATES)
LETTERS = ("P", "Q", "R", "S")
Connective = Literal["and", "or", "implies", "iff"]
BINARY: tuple[Connective, ...] = ("and", "or", "implies", "iff")
# The traps of propositional logic: answers fixed by form alone, a "not" that cancels,
# and an implication that holds because its premise fails.
EDGE_CASES = ("tautology", "contradiction", "double-negation", "vacuous-implication")
# (holds, fails): the failing form never contains the holding one, so a reader can tell them apart.
STATEMENTS = [
    ("the lighthouse is lit", "the lighthouse is not lit"),
    ("the ferry has left", "the ferry has not left"),
    ("the market is open", "the market is not open"),
    ("the bridge is raised", "the bridge is not raised"),
    ("the tide is high", "the tide is not high"),
    ("the bakery has bread", "the bakery has no bread"),
    ("the bell has rung", "the bell has not rung"),
    ("the road is flooded", "the road is not flooded"),
]

# ("var", "P") | ("not", node) | (connective, left, right)
Node: TypeAlias = tuple[Literal["var"], str] | tuple[Literal["not"], "Node"] | tuple[Connective, "Node", "Node"]


def evaluate(node: Node, values: dict[str, bool]) -> bool:
    if node[0] == "var":
        return values[node[1]]
    if node[0] == "not":
        return not evaluate(node[1], values)
    kind = node[0]
    left, right = evaluate(node[1], values), evaluate(node[2], values)
    if kind == "and":
        return left and right
    if kind == "or":
        return left or right
    if kind == "implies":
        return (not left) or right
    return left == right


def render(node: Node, *, top: bool = True) -> str:
    if node[0] == "var":
        return node[1]
    if node[0] == "not":
        return f"not {render(node[1], top=False)}"
    text = f"{render(node[1], top=False)} {node[0]} {render(node[2], top=False)}"
    return text if top else f"({text})"


def _word(value: bool) -> str:
    return "true" if value else "false"


def worked_steps(node: Node, values: dict[str, bool]) -> list[str]:
    """One line per compound part, innermost first: "P and not Q = true and true = true"."""
    steps: list[str] = []

    def visit(part: Node) -> None:
        if part[0] == "var":
            return
        for child in part[1:]:
            visit(child)
        if part[0] == "not":
            shown = f"not {_word(evaluate(part[1], values))}"
        else:
            shown = f"{_word(evaluate(part[1], values))} {part[0]} {_word(evaluate(part[2], values))}"
        line = f"{render(part)} = {shown} = {_word(evaluate(part, values))}"
        if line not in steps:
            steps.append(line)

    visit(node)
    return steps


class PropositionalLogic(ProgrammaticGenerator):
    name = "propositional-logic"
    framing_templates = FRAMING_TEMPLATES

    def generate(self, index: int, *, framing: str) -> GeneratedItem:
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
        rng = random.Random(f"{self.seed}:{index}")
        letters = list(LETTERS[: rng.randint(2, 4)])
        values = {letter: rng.random() < 0.5 for letter in letters}
        edge = self._edge_case(index)
        formula = _random_formula(rng, letters) if edge is None else _edge_formula(rng, edge, letters, values)
        answer = evaluate(formula, values)

        wrong = rng.random() < float(self.parameters.get("error_rate", 0.0))
        given = (not answer) if wrong else answer
        steps = worked_steps(formula, values)
        if wrong:
            left, _, _ = steps[-1].rpartition("= ")
            steps[-1] = f"{left}= {_word(given)}"
        facts = ", ".join(f"{letter} is {_word(values[letter])}" for letter in letters)
        solution = "\n".join([f"{facts}."] + steps + [f"Answer: {_word(given)}"])

        problem = _frame(rng, framing, render(formula), letters, values)
        metadata = {
            "expected_answer": _word(answer),
            "given_answer": _word(given),
            "deliberately_wrong": wrong,
            "problem_kind": formula[0],
            "formula": render(formula),
            "truth_values": {letter: values[letter] for letter in letters},
            "framing": framing,
        }
        if edge is not None:
            metadata["edge_case"] = edge
        return GeneratedItem(index=index, input=problem, output=solution, label=formula[0], metadata=metadata)

    def _edge_case(self, index: int) -> str | None:
        rate = float(self.parameters.get("edge_case_rate", 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"edge_case_rate must be between 0 and 1, got {rate}")
        edge_rng = random.Random(f"{self.seed}:{index}:edge")
        return edge_rng.choice(EDGE_CASES) if edge_rng.random() < rate else None


def _random_formula(rng: random.Random, letters: list[str]) -> Node:
    """Every letter at least once (one may repeat), joined pairwise in random order."""
    leaves = rng.sample(letters, len(letters)) + ([rng.choice(letters)] if rng.random() < 0.3 else [])
    nodes: list[Node] = [("not", ("var", x)) if rng.random() < 0.25 else ("var", x) for x in leaves]
    while len(nodes) > 1:
        at = rng.randrange(len(nodes) - 1)
        merged: Node = (rng.choice(BINARY), nodes[at], nodes[at + 1])
        if len(nodes) > 2 and rng.random() < 0.2:
            merged = ("not", merged)
        nodes[at : at + 2] = [merged]
    return nodes[0]


def _small_formula(rng: random.Random, letters: list[str]) -> Node:
    return _random_formula(rng, rng.sample(letters, rng.randint(1, 2)))


def _edge_formula(rng: random.Random, edge: str, letters: list[str], values: dict[str, bool]) -> Node:
    x, y = _small_formula(rng, letters), _small_formula(rng, letters)
    if edge == "tautology":
        tautologies: list[Node] = [("or", x, ("not", x)), ("implies", ("and", x, y), x), ("implies", x, ("or", x, y))]
        return rng.choice(tautologies)
    if edge == "contradiction":
        contradictions: list[Node] = [("and", x, ("not", x)), ("iff", x, ("not", x)), ("not", ("implies", x, x))]
        return rng.choice(contradictions)
    if edge == "double-negation":
        return ("not", ("not", x))
    if edge != "vacuous-implication":
        raise ValueError(f"unknown edge case {edge!r}")
    # A false premise and a false conclusion: the trap is answering "false".
    premise: Node = x if not evaluate(x, values) else ("not", x)
    conclusion: Node = y if not evaluate(y, values) else ("not", y)
    return ("implies", premise, conclusion)


def _frame(rng: random.Random, framing: str, formula: str, letters: list[str], values: dict[str, bool]) -> str:
    if framing == "direct":
        facts = ", ".join(f"{letter} is {_word(values[letter])}" for letter in letters)
        return render_prompt(FRAMING_TEMPLATES[framing], {"facts": facts, "formula": formula})
    if framing == "quiz":
        facts = ", ".join(f"{letter} = {_word(values[letter])}" for letter in letters)
        return render_prompt(FRAMING_TEMPLATES[framing], {"facts": facts, "formula": formula})
    statements = rng.sample(STATEMENTS, len(letters))
    clauses = [holds if values[letter] else fails for letter, (holds, fails) in zip(letters, statements)]
    scene = ", ".join(clauses[:-1]) + f" and {clauses[-1]}"
    legend = ", ".join(f"{letter} for “{holds}”" for letter, (holds, _) in zip(letters, statements))
    speaker = rng.choice(NAMES)
    return render_prompt(
        FRAMING_TEMPLATES["story"], {"scene": scene, "legend": legend, "speaker": speaker, "formula": formula}
    )
