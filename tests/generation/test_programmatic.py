"""The rule-based arithmetic generator: answers it calls right are right, and
the ones it gets wrong on purpose are wrong, checked by our own arithmetic."""

from __future__ import annotations

import re

import pytest

from generation.programmatic import get_programmatic

OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "×": lambda a, b: a * b, "÷": lambda a, b: a // b}


def _numbers(text: str) -> list[int]:
    """Every number in the text; thousands commas ("12,345") are read as one number."""
    return [int(n.replace(",", "")) for n in re.findall(r"\d{1,3}(?:,\d{3})+|\d+", text)]


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


def _stated(output: str) -> int:
    return int(re.search(r"Answer: ([\d,]+)$", output).group(1).replace(",", ""))


@pytest.mark.parametrize("framing", ["story", "direct", "quiz"])
def test_edge_cases_are_solved_right_and_are_what_they_say(framing):
    generator = get_programmatic("arithmetic-word-problems")(
        seed=9, parameters={"edge_case_rate": 1.0, "error_rate": 0.2}
    )
    seen = set()
    for index in range(300):
        item = generator.generate(index, framing=framing)
        edge = item.metadata["edge_case"]
        seen.add(edge)
        numbers = _numbers(item.input)
        truth = _recompute(item.input, item.label)
        assert item.metadata["expected_answer"] == truth
        assert (_stated(item.output) != truth) is item.metadata["deliberately_wrong"], item
        if edge == "zero-quantity":
            assert 0 in numbers and item.label == "addition"
        elif edge in ("subtraction-to-zero", "exact-change"):
            assert truth == 0
        elif edge in ("multiply-by-one", "share-with-one"):
            assert 1 in numbers and item.label in ("multiplication", "division")
        else:
            assert edge == "large-numbers"
            assert min(numbers) >= 1000 and re.search(r"\d,\d{3}", item.input)
    assert seen == {
        "zero-quantity",
        "subtraction-to-zero",
        "multiply-by-one",
        "share-with-one",
        "large-numbers",
        "exact-change",
    }


def test_edge_case_rate_is_kept_and_ordinary_items_do_not_change():
    make = get_programmatic("arithmetic-word-problems")
    plain = make(seed=4, parameters={"error_rate": 0.1})
    with_edges = make(seed=4, parameters={"error_rate": 0.1, "edge_case_rate": 0.25})
    edges = 0
    for index in range(400):
        item = with_edges.generate(index, framing="direct")
        if "edge_case" in item.metadata:
            edges += 1
        else:
            assert item == plain.generate(index, framing="direct")
    assert all("edge_case" not in plain.generate(i, framing="direct").metadata for i in range(400))
    # Binomial(400, 0.25): mean 100, sd 8.7; these bounds are 4.5 sd wide.
    assert 61 <= edges <= 139


def test_edge_case_rate_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="edge_case_rate must be between 0 and 1"):
        get_programmatic("arithmetic-word-problems")(seed=1, parameters={"edge_case_rate": -0.1}).generate(
            0, framing="quiz"
        )
