"""Arithmetic word problems in several framings, with computed answers.

Parameters:
  error_rate: share of items whose final answer is made wrong on purpose (0..1);
  variety: "high" draws from every scenario and wide number ranges, "low" from
           one scenario and a narrow range, the way a collapsed generator repeats itself.
"""

from __future__ import annotations

import random

from generation.programmatic.base import GeneratedItem, ProgrammaticGenerator

NAMES = ["Amara", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Gustavo", "Hana", "Ivan", "Jamila",
         "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
ITEMS = [("apples", "basket"), ("pencils", "box"), ("stickers", "sheet"), ("eggs", "carton"),
         ("marbles", "bag"), ("cookies", "tray"), ("stamps", "album page"), ("seedlings", "crate")]
PLACES = ["the market", "the school fair", "a garage sale", "the corner shop", "the library sale"]
FRAMINGS = ("story", "direct", "quiz")
KINDS = ("addition", "subtraction", "multiplication", "division", "change")


class ArithmeticWordProblems(ProgrammaticGenerator):
    name = "arithmetic-word-problems"

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

        facts, question, steps, answer = _problem(rng, kind, name, item, container, place, scale)
        error_rate = float(self.parameters.get("error_rate", 0.0))
        wrong = rng.random() < error_rate
        given = answer
        if wrong:
            given = _plausible_mistake(rng, answer)
            steps = steps[:-1] + [_restate(steps[-1], given)]

        problem = _frame(framing, facts, question)
        solution = "\n".join(steps + [f"Answer: {given}"])
        return GeneratedItem(
            index=index,
            input=problem,
            output=solution,
            label=kind,
            metadata={
                "expected_answer": answer,
                "given_answer": given,
                "deliberately_wrong": wrong,
                "problem_kind": kind,
                "framing": framing,
            },
        )


def _problem(rng: random.Random, kind: str, name: str, item: str, container: str, place: str, scale: int
             ) -> tuple[str, str, list[str], int]:
    a = rng.randint(2, scale)
    b = rng.randint(2, scale)
    if kind == "addition":
        facts = f"{name} has {a} {item}. At {place}, {name} gets {b} more {item}."
        question = f"How many {item} does {name} have now?"
        return facts, question, [f"{name} starts with {a} {item} and gets {b} more.", f"{a} + {b} = {a + b}"], a + b
    if kind == "subtraction":
        total = a + b
        facts = f"{name} brought {total} {item} to {place} and sold {b} of them."
        question = f"How many {item} are left?"
        return facts, question, [f"{name} had {total} and sold {b}.", f"{total} - {b} = {a}"], a
    if kind == "multiplication":
        per = rng.randint(2, 12)
        facts = f"Each {container} holds {per} {item}. {name} buys {a} full {container}s at {place}."
        question = f"How many {item} does {name} buy in total?"
        return facts, question, [f"There are {a} {container}s with {per} {item} each.", f"{a} × {per} = {a * per}"], a * per
    if kind == "division":
        friends = rng.randint(2, 9)
        total = friends * a
        facts = f"{name} shares {total} {item} equally among {friends} friends."
        question = f"How many {item} does each friend get?"
        return facts, question, [f"{total} {item} split {friends} ways.", f"{total} ÷ {friends} = {a}"], a
    price = rng.randint(2, 9)
    count = rng.randint(2, 9)
    paid = (price * count // 10 + 1) * 10
    facts = (f"At {place}, one {container} of {item} costs ${price}. {name} buys {count} {container}s "
             f"and pays with ${paid}.")
    question = f"How much change does {name} get, in dollars?"
    cost = price * count
    steps = [f"{count} {container}s cost {count} × {price} = {cost} dollars.", f"{paid} - {cost} = {paid - cost}"]
    return facts, question, steps, paid - cost


def _plausible_mistake(rng: random.Random, answer: int) -> int:
    # Off by a little, the slips a careless solver makes; never the right answer.
    delta = rng.choice([-10, -2, -1, 1, 2, 10])
    wrong = answer + delta
    return wrong if wrong != answer and wrong >= 0 else answer + 1


def _restate(step: str, given: int) -> str:
    left, _, _ = step.rpartition("=")
    return f"{left}= {given}" if left else step


def _frame(framing: str, facts: str, question: str) -> str:
    if framing == "story":
        return f"Read the story and solve the problem.\n\n{facts} {question}"
    if framing == "direct":
        return f"{facts} {question} Show your steps."
    return f"Question: {question}\nFacts: {facts}\nGive the final answer as a number."
