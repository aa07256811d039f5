"""Arithmetic word problems in several framings, with computed answers.

Parameters:
  error_rate: share of items whose final answer is made wrong on purpose (0..1);
  variety: "high" draws from every scenario and wide number ranges, "low" from
           one scenario and a narrow range, the way a collapsed generator repeats itself;
  edge_case_rate: share of items that are edge cases on purpose (0..1), named in
           metadata["edge_case"] (absent on ordinary items): see EDGE_CASES.

Edge cases come from a random stream of their own, so an ordinary item is the same
whatever the edge-case rate, and a rate of 0 gives exactly the items it always gave.
"""

from __future__ import annotations

import random

from generation.programmatic.base import GeneratedItem, ProgrammaticGenerator
from generation.programmatic.grammar import counted, plural
from generation.prompts import render_prompt

NAMES = [
    "Amara",
    "Bruno",
    "Chen",
    "Dalia",
    "Emeka",
    "Freya",
    "Gustavo",
    "Hana",
    "Ivan",
    "Jamila",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
]
# (item, container), both singular: `counted` and `plural` give the forms a count needs.
ITEMS = [
    ("apple", "basket"),
    ("pencil", "box"),
    ("sticker", "sheet"),
    ("egg", "carton"),
    ("marble", "bag"),
    ("cookie", "tray"),
    ("stamp", "album page"),
    ("loaf", "crate"),
]
PLACES = ["the market", "the school fair", "a garage sale", "the corner shop", "the library sale"]
# Each framing is a prompt template in the renderer's own syntax (generation.prompts), so the
# demo stores these texts as its templates and every sample's input is one of them, filled in.
FRAMING_TEMPLATES = {
    "story": "Read the story and solve the problem.\n\n{{ facts }} {{ question }}",
    "direct": "{{ facts }} {{ question }} Show your steps.",
    "quiz": "Question: {{ question }}\nFacts: {{ facts }}\nGive the final answer as a number.",
}
FRAMINGS = tuple(FRAMING_TEMPLATES)
KINDS = ("addition", "subtraction", "multiplication", "division", "change")
# Where careless solvers and careless checkers slip: zeros, identities, one-way
# sharing, thousands separators, and change of nothing.
EDGE_CASES = (
    "zero-quantity",
    "subtraction-to-zero",
    "multiply-by-one",
    "share-with-one",
    "large-numbers",
    "exact-change",
)


class ArithmeticWordProblems(ProgrammaticGenerator):
    name = "arithmetic-word-problems"
    framing_templates = FRAMING_TEMPLATES

    def generate(self, index: int, *, framing: str) -> GeneratedItem:
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
        rng = random.Random(f"{self.seed}:{index}")
        low_variety = self.parameters.get("variety", "high") == "low"
        kind = "addition" if low_variety else rng.choice(KINDS)
        name = rng.choice(NAMES[:3] if low_variety else NAMES)
        item, container = ITEMS[0] if low_variety else rng.choice(ITEMS)
        place = PLACES[0] if low_variety else rng.choice(PLACES)
        scale = 9 if low_variety else 60

        edge = self._edge_case(index)
        if edge is None:
            facts, question, steps, answer = _problem(rng, kind, name, item, container, place, scale)
        else:
            edge_rng = random.Random(f"{self.seed}:{index}:edge-problem")
            kind, facts, question, steps, answer = _edge_problem(edge_rng, edge, name, item, container, place)
        shown = _thousands if edge == "large-numbers" else str
        error_rate = float(self.parameters.get("error_rate", 0.0))
        wrong = rng.random() < error_rate
        given = answer
        if wrong:
            given = _plausible_mistake(rng, answer)
            steps = steps[:-1] + [_restate(steps[-1], shown(given))]

        problem = _frame(framing, facts, question)
        solution = "\n".join(steps + [f"Answer: {shown(given)}"])
        metadata = {
            "expected_answer": answer,
            "given_answer": given,
            "deliberately_wrong": wrong,
            "problem_kind": kind,
            "framing": framing,
        }
        if edge is not None:
            metadata["edge_case"] = edge
        return GeneratedItem(index=index, input=problem, output=solution, label=kind, metadata=metadata)

    def _edge_case(self, index: int) -> str | None:
        rate = float(self.parameters.get("edge_case_rate", 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"edge_case_rate must be between 0 and 1, got {rate}")
        if rate == 0.0:
            return None
        edge_rng = random.Random(f"{self.seed}:{index}:edge")
        return edge_rng.choice(EDGE_CASES) if edge_rng.random() < rate else None


def _problem(
    rng: random.Random, kind: str, name: str, item: str, container: str, place: str, scale: int
) -> tuple[str, str, list[str], int]:
    a = rng.randint(2, scale)
    b = rng.randint(2, scale)
    items = plural(item)
    if kind == "addition":
        facts = f"{name} has {counted(a, item)}. At {place}, {name} gets {b} more {items}."
        question = f"How many {items} does {name} have now?"
        return (
            facts,
            question,
            [f"{name} starts with {counted(a, item)} and gets {b} more.", f"{a} + {b} = {a + b}"],
            a + b,
        )
    if kind == "subtraction":
        total = a + b
        facts = f"{name} brought {counted(total, item)} to {place} and sold {b} of them."
        question = f"How many {items} are left?"
        return facts, question, [f"{name} had {total} and sold {b}.", f"{total} - {b} = {a}"], a
    if kind == "multiplication":
        per = rng.randint(2, 12)
        facts = f"Each {container} holds {counted(per, item)}. {name} buys {a} full {plural(container)} at {place}."
        question = f"How many {items} does {name} buy in total?"
        return (
            facts,
            question,
            [f"There are {counted(a, container)} with {counted(per, item)} each.", f"{a} × {per} = {a * per}"],
            a * per,
        )
    if kind == "division":
        friends = rng.randint(2, 9)
        total = friends * a
        facts = f"{name} shares {counted(total, item)} equally among {counted(friends, 'friend')}."
        question = f"How many {items} does each friend get?"
        return facts, question, [f"{counted(total, item)} split {friends} ways.", f"{total} ÷ {friends} = {a}"], a
    price = rng.randint(2, 9)
    count = rng.randint(2, 9)
    paid = (price * count // 10 + 1) * 10
    facts = (
        f"At {place}, one {container} of {items} costs ${price}. "
        f"{name} buys {counted(count, container)} and pays with ${paid}."
    )
    question = f"How much change does {name} get, in dollars?"
    cost = price * count
    steps = [
        f"{counted(count, container)} cost {count} × {price} = {cost} dollars.",
        f"{paid} - {cost} = {paid - cost}",
    ]
    return facts, question, steps, paid - cost


def _edge_problem(
    rng: random.Random, edge: str, name: str, item: str, container: str, place: str
) -> tuple[str, str, str, list[str], int]:
    """An edge case on purpose: (kind, facts, question, steps, answer)."""
    items = plural(item)
    if edge == "zero-quantity":
        b = rng.randint(2, 60)
        facts = f"{name} has {counted(0, item)}. At {place}, {name} gets {b} more {items}."
        question = f"How many {items} does {name} have now?"
        steps = [f"{name} starts with {counted(0, item)} and gets {b} more.", f"0 + {b} = {b}"]
        return "addition", facts, question, steps, b
    if edge == "subtraction-to-zero":
        total = rng.randint(2, 60)
        facts = f"{name} brought {counted(total, item)} to {place} and sold {total} of them."
        question = f"How many {items} are left?"
        return "subtraction", facts, question, [f"{name} had {total} and sold {total}.", f"{total} - {total} = 0"], 0
    if edge == "multiply-by-one":
        per = rng.randint(2, 12)
        facts = f"Each {container} holds {counted(per, item)}. {name} buys 1 full {container} at {place}."
        question = f"How many {items} does {name} buy in total?"
        steps = [f"There is {counted(1, container)} with {counted(per, item)}.", f"1 × {per} = {per}"]
        return "multiplication", facts, question, steps, per
    if edge == "share-with-one":
        total = rng.randint(2, 60)
        facts = f"{name} shares {counted(total, item)} equally among {counted(1, 'friend')}."
        question = f"How many {items} does each friend get?"
        steps = [f"{counted(total, item)} split 1 way.", f"{total} ÷ 1 = {total}"]
        return "division", facts, question, steps, total
    if edge == "large-numbers":
        a = rng.randint(1_000, 99_999)
        b = rng.randint(1_000, 99_999)
        facts = f"{name} has {counted(f'{a:,}', item)}. At {place}, {name} gets {b:,} more {items}."
        question = f"How many {items} does {name} have now?"
        steps = [f"{name} starts with {counted(f'{a:,}', item)} and gets {b:,} more.", f"{a:,} + {b:,} = {a + b:,}"]
        return "addition", facts, question, steps, a + b
    if edge != "exact-change":
        raise ValueError(f"unknown edge case {edge!r}")
    price = rng.randint(2, 9)
    count = rng.randint(2, 9)
    cost = price * count
    facts = (
        f"At {place}, one {container} of {items} costs ${price}. "
        f"{name} buys {counted(count, container)} and pays with ${cost}."
    )
    question = f"How much change does {name} get, in dollars?"
    steps = [f"{counted(count, container)} cost {count} × {price} = {cost} dollars.", f"{cost} - {cost} = 0"]
    return "change", facts, question, steps, 0


def _thousands(number: int) -> str:
    return f"{number:,}"


def _plausible_mistake(rng: random.Random, answer: int) -> int:
    # Off by a little, the slips a careless solver makes; never the right answer.
    delta = rng.choice([-10, -2, -1, 1, 2, 10])
    wrong = answer + delta
    return wrong if wrong != answer and wrong >= 0 else answer + 1


def _restate(step: str, given: int | str) -> str:
    left, _, _ = step.rpartition("=")
    return f"{left}= {given}" if left else step


def _frame(framing: str, facts: str, question: str) -> str:
    return render_prompt(FRAMING_TEMPLATES[framing], {"facts": facts, "question": question})
