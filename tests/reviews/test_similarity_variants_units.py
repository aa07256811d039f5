"""Slot values, tight groups and farthest-point order: pure functions, no database."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reviews.similarity.grouping import farthest_point_order, tight_groups
from reviews.similarity.slots import final_answer, names_in, normalised_number, numbers_in, slots_of
from reviews.similarity.text import NO_BOILERPLATE, Boilerplate, boilerplate_from_template


def slots(
    input_text: str, output_text: str = "", kind: str = "input_output", boilerplate: Boilerplate = NO_BOILERPLATE
):
    return slots_of(input_text=input_text, output_text=output_text, kind=kind, boilerplate=boilerplate)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,000", "1000"),
        ("3.50", "3.5"),
        ("3.0", "3"),
        ("-0", "0"),
        ("007", "7"),
        ("12", "12"),
        ("-4.25", "-4.25"),
    ],
)
def test_numbers_are_normalised(raw, expected):
    assert normalised_number(raw) == expected


def test_numbers_keep_their_order_and_skip_digits_inside_words():
    assert numbers_in("Pay $1,000 for 3.50 kg, then 2-3 more; GPT4 and x_1 are names, 1,2,3 are three.") == (
        "1000",
        "3.5",
        "2",
        "3",
        "1",
        "2",
        "3",
    )


def test_names_are_capitalised_words_that_do_not_open_a_sentence():
    text = "Bruno has 6 apples. At the market, Bruno meets Amara's sister.\nQuestion: How many does Chen keep?"
    assert names_in(text) == ("Bruno", "Amara", "Chen")


@pytest.mark.parametrize(
    ("output", "answer"),
    [
        ("6 + 2 = 8\nAnswer: 8", "8"),
        ("She sold 48/2 = 24 clips.\n#### 72", "72"),
        ("The answer is 1,000.", "1000"),
        ("Final answer: Paris.", "paris"),
        ('{"b": [1, 2], "a": "x"}', '{"a":"x","b":[1,2]}'),
        ("Natalia sold 48/2 = 24 clips in May.\nShe sold 72 in all.", "72"),
        ("No number here", None),
    ],
)
def test_final_answer_follows_the_format(output, answer):
    assert final_answer(output) == answer


def test_different_numbers_make_variants():
    assert slots("What is 36 + 9?", "36 + 9 = 45").differs(slots("What is 32 + 17?", "32 + 17 = 49"))


def test_the_same_numbers_in_another_order_make_variants():
    first = slots("Bruno has 6 apples. At the market, Bruno gets 2 more apples.", "6 + 2 = 8\nAnswer: 8")
    second = slots("Bruno has 2 apples. At the market, Bruno gets 6 more apples.", "2 + 6 = 8\nAnswer: 8")
    assert sorted(first.numbers) == sorted(second.numbers)
    assert first.differs(second)


def test_a_reworded_problem_with_the_same_values_is_no_variant():
    first = slots("Bruno has 6 apples and, at the market, Bruno gets 2 more. How many now?", "Answer: 8")
    second = slots("Bruno owns 6 apples; at the market, Bruno receives 2 more. How many does he have?", "8")
    assert not first.differs(second)


def test_different_names_or_code_literals_make_variants():
    assert slots("Give the total. Then tell Amara the result.").differs(
        slots("Give the total. Then tell Bruno the result.")
    )
    code_a = slots("Write it", '```python\nprint("hello")\n```')
    code_b = slots("Write it", '```python\nprint("goodbye")\n```')
    assert code_a.literals == ("'hello'", "print") and code_a.differs(code_b)


def test_different_answers_alone_make_variants():
    assert slots("Solve the problem above.", "Answer: 12").differs(slots("Solve the problem above.", "Answer: 13"))


def test_boilerplate_never_counts_as_a_slot():
    # The template's own wording holds a number and a capitalised word; the content is the same.
    template = boilerplate_from_template("Rules for Year 5 pupils, section 3: answer in Markdown.\n{problem}")
    first = slots(
        "Rules for Year 5 pupils, section 3: answer in Markdown.\nAdd two and three.",
        kind="input",
        boilerplate=template,
    )
    assert first.numbers == () and first.names == ()
    assert not first.differs(slots("Add two and three.", kind="input"))


def test_input_only_projects_compare_no_output():
    assert not slots("Add two and three.", "5", kind="input").differs(slots("Add two and three.", "6", kind="input"))


def _arc(count: int, step_cosine: float) -> dict[int, np.ndarray]:
    """Unit vectors along an arc: neighbours at step_cosine, two apart at cos(2θ)."""
    theta = math.acos(step_cosine)
    return {i: np.array([math.cos(i * theta), math.sin(i * theta), 0.0], dtype=np.float32) for i in range(count)}


def test_a_chain_is_split_into_tight_groups_that_keep_every_member():
    vectors = _arc(5, 0.95)  # neighbours 0.95, two apart 0.805: one chain at 0.90
    edges = [(i, i + 1, 0.95) for i in range(4)]
    groups = tight_groups(edges, vectors, 0.90)
    assert sorted(i for group in groups for i in group.members) == [0, 1, 2, 3, 4]
    # Average link pairs neighbours and never puts samples two steps apart alone together.
    assert [group.members for group in groups] == [[2, 3, 4], [0, 1]]
    assert groups[0].joined_through == {4: (3, 0.95)}


def test_a_tight_clique_stays_one_group():
    base = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    vectors = {i: base + np.float32(0.01 * i) * np.array([0, 1, 0], dtype=np.float32) for i in range(4)}
    vectors = {i: v / np.linalg.norm(v) for i, v in vectors.items()}
    edges = [(a, b, float(vectors[a] @ vectors[b])) for a in range(4) for b in range(a + 1, 4)]
    assert [group.members for group in tight_groups(edges, vectors, 0.9)] == [[0, 1, 2, 3]]


def test_farthest_point_order_starts_at_the_first_and_takes_the_farthest_next():
    vectors = np.array([[1, 0], [0.99, 0.141], [0, 1], [-1, 0]], dtype=np.float32)
    assert farthest_point_order(vectors, first=0) == [0, 3, 2, 1]
    assert farthest_point_order(vectors, first=0, limit=2) == [0, 3]


def test_a_sentence_that_starts_with_the_answer_marks_no_answer():
    """Only "The answer is …", "Answer: …" or "#### …" mark an answer; a sentence about the answer does not."""
    from reviews.similarity.slots import final_answer

    assert final_answer("The answer to 'How many legs does a spider have?' is worth a careful thought.") is None
    assert final_answer("The answer is 72.") == final_answer("Answer: 72") == final_answer("#### 72")


def test_an_answer_reworded_around_the_same_prompt_keeps_the_same_slots():
    """The same problem answered in other words is a near-duplicate: the output adds only its final answer."""
    from reviews.similarity.slots import slots_of
    from reviews.similarity.text import Boilerplate

    none = Boilerplate()
    prompt = "Bruno has 6 apples and gets 2 more. How many apples does Bruno have?"
    worked = slots_of(
        input_text=prompt, output_text="6 + 2 = 8, so Bruno has 8 apples.", kind="input_output", boilerplate=none
    )
    reordered = slots_of(
        input_text=prompt, output_text="Adding 2 to 6 gives 8. The answer is 8.", kind="input_output", boilerplate=none
    )
    assert not worked.differs(reordered)
    # A table answered with other figures is another answer.
    table = slots_of(input_text=prompt, output_text="mango, 5, 500, 2500", kind="input_output", boilerplate=none)
    shorter = slots_of(input_text=prompt, output_text="mango, 5, 2500", kind="input_output", boilerplate=none)
    assert table.differs(shorter)
    terse = slots_of(input_text=prompt, output_text="He has 8.", kind="input_output", boilerplate=none)
    swapped = slots_of(
        input_text="Bruno has 2 apples and gets 6 more. How many apples does Bruno have?",
        output_text="He has 8.",
        kind="input_output",
        boilerplate=none,
    )
    assert swapped.differs(terse)
    assert terse.answer == worked.answer == "8"
