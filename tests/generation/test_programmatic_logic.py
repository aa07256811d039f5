"""The propositional-logic generator: every answer it calls right is right by our own
reading of the problem text, the wrong ones are wrong, and its edge cases are what they say."""

from __future__ import annotations

import itertools
import re

import pytest

from generation.programmatic import get_programmatic
from generation.programmatic.logic import evaluate, render, worked_steps

TOKEN = re.compile(r"\(|\)|\b(?:and|or|not|implies|iff)\b|\b[PQRS]\b")
# Our own semantics, with Python's operators; the generator's evaluate() is not used.
OPERATORS = {
    "and": lambda a, b: a and b,
    "or": lambda a, b: a or b,
    "implies": lambda a, b: (not a) or b,
    "iff": lambda a, b: a is b,
}


def parse(text: str):
    """A formula's text into nested tuples; a binary part inside another must be parenthesised."""
    tokens = TOKEN.findall(text)
    assert "".join(tokens) == text.replace(" ", ""), f"stray characters in {text!r}"
    position = 0

    def unary():
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "not":
            return ("not", unary())
        if token == "(":
            inner = binary()
            assert tokens[position] == ")"
            position += 1
            return inner
        assert re.fullmatch(r"[PQRS]", token), token
        return ("var", token)

    def binary():
        nonlocal position
        left = unary()
        if position < len(tokens) and tokens[position] in OPERATORS:
            op = tokens[position]
            position += 1
            return (op, left, unary())
        return left

    tree = binary()
    assert position == len(tokens), f"unparsed tail in {text!r}"
    return tree


def truth(tree, values: dict[str, bool]) -> bool:
    if tree[0] == "var":
        return values[tree[1]]
    if tree[0] == "not":
        return not truth(tree[1], values)
    return OPERATORS[tree[0]](truth(tree[1], values), truth(tree[2], values))


def letters_in(tree) -> set[str]:
    return {tree[1]} if tree[0] == "var" else set().union(*(letters_in(child) for child in tree[1:]))


def read_problem(problem: str, framing: str) -> tuple[str, dict[str, bool]]:
    """The formula and the truth values, read from the problem text alone."""
    if framing == "direct":
        formula = re.search(r"Is the formula (.+) true or false\?", problem).group(1)
        values = {k: v == "true" for k, v in re.findall(r"\b([PQRS]) is (true|false)", problem)}
    elif framing == "quiz":
        formula = re.search(r"^Question: Is the formula (.+) true or false\?$", problem, re.M).group(1)
        facts = re.search(r"^Facts: (.+)$", problem, re.M).group(1)
        values = {k: v == "true" for k, v in re.findall(r"([PQRS]) = (true|false)", facts)}
    else:
        formula = re.search(r"claims: (.+)\. Is the claim", problem).group(1)
        scene = re.search(r"harbour town, (.+?)\. Write", problem).group(1)
        clauses = re.split(r", | and (?=the )", scene)
        legend = dict(re.findall(r"([PQRS]) for “([^”]+)”", problem))
        values = {letter: statement in clauses for letter, statement in legend.items()}
    return formula, values


def stated_answer(output: str) -> bool:
    return re.search(r"\nAnswer: (true|false)$", output).group(1) == "true"


@pytest.mark.parametrize("framing", ["story", "direct", "quiz"])
def test_answers_match_an_independent_evaluation_and_wrong_ones_are_wrong(framing):
    generator = get_programmatic("propositional-logic")(seed=7, parameters={"error_rate": 0.25, "edge_case_rate": 0.3})
    wrong_seen = 0
    for index in range(300):
        item = generator.generate(index, framing=framing)
        formula, values = read_problem(item.input, framing)
        tree = parse(formula)
        assert 2 <= len(values) <= 4 and letters_in(tree) <= set(values)
        right = truth(tree, values)
        assert item.metadata["expected_answer"] == ("true" if right else "false")
        if item.metadata["deliberately_wrong"]:
            wrong_seen += 1
            assert stated_answer(item.output) is (not right), item
        else:
            assert stated_answer(item.output) is right, item
    # Binomial(300, 0.25): mean 75, sd 7.5; these bounds are 4.5 sd wide.
    assert 41 <= wrong_seen <= 109


def test_an_ordinary_formula_names_every_statement():
    generator = get_programmatic("propositional-logic")(seed=3)
    sizes = set()
    for index in range(200):
        item = generator.generate(index, framing="direct")
        formula, values = read_problem(item.input, "direct")
        assert letters_in(parse(formula)) == set(values)
        assert "edge_case" not in item.metadata
        sizes.add(len(values))
    assert sizes == {2, 3, 4}


def test_edge_cases_are_what_they_say():
    generator = get_programmatic("propositional-logic")(seed=11, parameters={"edge_case_rate": 1.0})
    seen = set()
    for index in range(200):
        item = generator.generate(index, framing="quiz")
        formula, values = read_problem(item.input, "quiz")
        tree = parse(formula)
        names = sorted(values)
        assignments = [dict(zip(names, bits)) for bits in itertools.product([False, True], repeat=len(names))]
        edge = item.metadata["edge_case"]
        seen.add(edge)
        if edge == "tautology":
            assert all(truth(tree, a) for a in assignments), formula
        elif edge == "contradiction":
            assert not any(truth(tree, a) for a in assignments), formula
        elif edge == "double-negation":
            assert tree[0] == "not" and tree[1][0] == "not", formula
            assert truth(tree, values) is truth(tree[1][1], values)
        else:
            assert edge == "vacuous-implication"
            assert tree[0] == "implies" and not truth(tree[1], values) and not truth(tree[2], values), formula
            assert item.metadata["expected_answer"] == "true"
    assert seen == {"tautology", "contradiction", "double-negation", "vacuous-implication"}


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5])
def test_edge_case_rate_is_kept_within_binomial_bounds(rate):
    generator = get_programmatic("propositional-logic")(seed=21, parameters={"edge_case_rate": rate})
    edges = sum("edge_case" in generator.generate(i, framing="direct").metadata for i in range(500))
    if rate == 0.0:
        assert edges == 0
    else:
        # Binomial(500, rate) within 4.5 standard deviations of its mean.
        sd = (500 * rate * (1 - rate)) ** 0.5
        assert abs(edges - 500 * rate) <= 4.5 * sd


def test_hand_worked_formula():
    p, q, r = ("var", "P"), ("var", "Q"), ("var", "R")
    formula = ("implies", ("and", p, ("not", q)), ("iff", r, ("not", ("not", p))))
    assert render(formula) == "(P and not Q) implies (R iff not not P)"
    # P true, Q false, R false: P and not Q is true; R iff P is false; true implies false is false.
    values = {"P": True, "Q": False, "R": False}
    assert evaluate(formula, values) is False
    assert worked_steps(formula, values) == [
        "not Q = not false = true",
        "P and not Q = true and true = true",
        "not P = not true = false",
        "not not P = not false = true",
        "R iff not not P = false iff true = false",
        "(P and not Q) implies (R iff not not P) = true implies false = false",
    ]
    # With Q true the premise fails, so the implication holds whatever R is.
    assert evaluate(formula, {"P": True, "Q": True, "R": False}) is True


def test_same_seed_gives_the_same_items_and_another_seed_does_not():
    make = get_programmatic("propositional-logic")
    params = {"edge_case_rate": 0.3, "error_rate": 0.1}
    first = [make(seed=1, parameters=params).generate(i, framing="story") for i in range(30)]
    again = [make(seed=1, parameters=params).generate(i, framing="story") for i in range(30)]
    other = [make(seed=2, parameters=params).generate(i, framing="story") for i in range(30)]
    assert first == again
    assert [item.input for item in first] != [item.input for item in other]


def test_bad_framing_and_edge_case_rate_are_refused():
    make = get_programmatic("propositional-logic")
    with pytest.raises(ValueError, match="framing must be one of"):
        make(seed=1).generate(0, framing="limerick")
    with pytest.raises(ValueError, match="edge_case_rate must be between 0 and 1"):
        make(seed=1, parameters={"edge_case_rate": 1.5}).generate(0, framing="quiz")
