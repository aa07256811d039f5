"""The rule-based arithmetic generator: answers it calls right are right, and
the ones it gets wrong on purpose are wrong, checked by our own arithmetic."""

from __future__ import annotations

import re

import pytest

from generation.programmatic import get_programmatic

OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "×": lambda a, b: a * b, "÷": lambda a, b: a // b}


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]


def _recompute(problem: str, kind: str) -> int:
    """Solve the word problem from its text alone, the way a checker would."""
    numbers = _numbers(problem.split("\n", 2)[-1] if problem.startswith("Read") else problem)
    if kind == "addition":
        return numbers[0] + numbers[1]
    if kind == "subtraction":
        return numbers[0] - numbers[1]
    if kind == "multiplication":
        per, count = (numbers[0], numbers[1])
        return per * count
    if kind == "division":
        return numbers[0] // numbers[1]
    price, count, paid = numbers[0], numbers[1], numbers[2]
    return paid - price * count


@pytest.mark.parametrize("framing", ["story", "direct"])
def test_answers_match_an_independent_solution(framing):
    generator = get_programmatic("arithmetic-word-problems")(seed=5, parameters={"error_rate": 0.3})
    wrong_seen = right_seen = 0
    for index in range(200):
        item = generator.generate(index, framing=framing)
        stated = int(re.search(r"Answer: (\d+)$", item.output).group(1))
        truth = _recompute(item.input, item.label)
        if item.metadata["deliberately_wrong"]:
            wrong_seen += 1
            assert stated != truth, item
        else:
            right_seen += 1
            assert stated == truth, item
    # About 30% wrong: far from none and far from all.
    assert 30 <= wrong_seen <= 90 and right_seen > 100


def test_same_seed_gives_the_same_items_and_another_seed_does_not():
    make = get_programmatic("arithmetic-word-problems")
    first = [make(seed=1).generate(i, framing="quiz") for i in range(20)]
    again = [make(seed=1).generate(i, framing="quiz") for i in range(20)]
    other = [make(seed=2).generate(i, framing="quiz") for i in range(20)]
    assert first == again
    assert [item.input for item in first] != [item.input for item in other]


def test_low_variety_repeats_itself():
    make = get_programmatic("arithmetic-word-problems")
    low = {make(seed=3, parameters={"variety": "low"}).generate(i, framing="story").input for i in range(300)}
    high = {make(seed=3).generate(i, framing="story").input for i in range(300)}
    assert len(low) < 250 < len(high)


def test_unknown_generator_and_framing_are_named():
    with pytest.raises(KeyError, match="no programmatic generator named 'nope'"):
        get_programmatic("nope")
    with pytest.raises(ValueError, match="framing must be one of"):
        get_programmatic("arithmetic-word-problems")(seed=1).generate(0, framing="haiku")
