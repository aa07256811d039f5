"""The pure planning of a run: grid, constraints, variable tables, prompts, keys."""

from __future__ import annotations

from collections import Counter

import pytest

from generation.runs.plan import (
    ConstraintMix,
    PlanError,
    check_rows_fill_template,
    grid_cells,
    idempotency_key,
    item_prompt,
    parse_number_list,
    read_variable_table,
)


def test_a_two_two_one_length_mix_over_ten_rows_gives_four_four_and_two():
    mix = ConstraintMix.parse("length: short=2, medium=2, long=1")
    assigned = mix.assign(10, seed=7)
    assert Counter(row["length"] for row in assigned) == {"short": 4, "medium": 4, "long": 2}


def test_remainders_go_to_the_largest_fractions_first():
    # 7 rows at 1:1:1 → 2⅓ each; the one row left over goes to the first-written value.
    mix = ConstraintMix.parse("style: formal, casual, simple")
    counts = Counter(row["style"] for row in mix.assign(7, seed=1))
    assert sorted(counts.values()) == [2, 2, 3] and sum(counts.values()) == 7


def test_each_dimension_is_assigned_independently_and_the_seed_fixes_the_order():
    mix = ConstraintMix.parse("length: short, long\nformat: list=3, paragraph=1")
    first, again, other = mix.assign(8, seed=3), mix.assign(8, seed=3), mix.assign(8, seed=4)
    assert first == again
    assert first != other
    assert Counter(r["format"] for r in first) == {"list": 6, "paragraph": 2}


def test_constraint_lines_with_errors_are_named_by_line():
    with pytest.raises(PlanError) as raised:
        ConstraintMix.parse("length: short=2\n\nstyle formal\nformat: list=-1")
    assert raised.value.errors == [
        "line 3: expected 'dimension: value=weight, …', got 'style formal'",
        "line 4: the weight of 'list' must be above 0",
    ]


def test_the_constraint_goes_where_the_template_asks_or_at_the_end():
    constraint = {"length": "short", "style": "pirate"}
    placed = item_prompt("Topic: {{ topic }}. {{ constraint }} Go.", {"topic": "tea"}, constraint)
    assert placed == "Topic: tea. Keep the answer under 50 words. Style: pirate. Go."
    appended = item_prompt("Topic: {{ topic }}.", {"topic": "tea"}, {"length": "long"})
    assert appended == "Topic: tea.\n\nAnswer in 150 to 400 words."


def test_a_value_that_looks_like_a_placeholder_is_sent_as_written():
    prompt = item_prompt("About {{ topic }}", {"topic": "{{ secret }} <script>"}, {})
    assert prompt == "About {{ secret }} <script>"


def test_the_grid_is_the_product_of_its_axes():
    cells = grid_cells(
        parse_number_list("0.2, 0.7 1.0", float, "t"),
        parse_number_list("", float, "p"),
        parse_number_list("1,2", int, "s"),
    )
    assert len(cells) == 3 * 1 * 2
    assert {(c.temperature, c.seed) for c in cells} == {(t, s) for t in (0.2, 0.7, 1.0) for s in (1, 2)}
    assert all(c.top_p is None for c in cells)


def test_grid_values_out_of_range_are_refused():
    with pytest.raises(PlanError, match="temperature 2.5 is outside 0–2"):
        grid_cells([2.5], [None], [None])
    with pytest.raises(PlanError, match="top_p 0.0 is outside"):
        grid_cells([None], [0.0], [None])
    with pytest.raises(PlanError, match="'x' is not a whole number"):
        parse_number_list("1, x", int, "seeds")


def test_a_csv_table_with_bad_lines_is_refused_whole_with_line_numbers():
    data = b'topic,tone\ntea,calm\n"coffee",strong,extra\n\nwater\n'
    with pytest.raises(PlanError) as raised:
        read_variable_table(data, "vars.csv", max_rows=100)
    assert raised.value.errors == ["line 3: 3 cells, the header has 2", "line 5: 1 cells, the header has 2"]


def test_a_jsonl_table_reads_objects_and_names_bad_lines():
    rows = read_variable_table(b'{"topic": "tea", "n": 3}\n\n{"topic": "milk"}\n', "v.jsonl", max_rows=10)
    assert rows == [{"topic": "tea", "n": "3"}, {"topic": "milk"}]
    with pytest.raises(PlanError) as raised:
        read_variable_table(b'{"topic": "tea"}\n[1]\n{oops\n', "v.jsonl", max_rows=10)
    assert [e.split(":")[0] for e in raised.value.errors] == ["line 2", "line 3"]


def test_a_table_over_the_row_limit_or_in_another_format_is_refused():
    with pytest.raises(PlanError, match="3 rows; a run takes at most 2"):
        read_variable_table(b"topic\na\nb\nc\n", "v.csv", max_rows=2)
    with pytest.raises(PlanError, match="must be .csv or .jsonl"):
        read_variable_table(b"topic\na\n", "v.xlsx", max_rows=2)


def test_rows_missing_a_template_variable_are_named():
    with pytest.raises(PlanError) as raised:
        check_rows_fill_template(
            "{{ topic }} for {{ audience }} {{ examples }}", [{"topic": "a", "audience": "b"}, {"topic": "c"}, {}]
        )
    assert raised.value.errors == ["row 2: no value for audience", "row 3: no value for topic, audience"]


def test_the_idempotency_key_names_the_work_and_nothing_else():
    key = idempotency_key(5, 3, 9, {"temperature": 0.7, "top_p": None, "seed": 1})
    assert key == idempotency_key(5, 3, 9, {"seed": 1, "top_p": None, "temperature": 0.7})
    others = {
        idempotency_key(6, 3, 9, {"temperature": 0.7}),
        idempotency_key(5, 4, 9, {"temperature": 0.7}),
        idempotency_key(5, 3, 8, {"temperature": 0.7}),
        idempotency_key(5, 3, 9, {"temperature": 0.2}),
    }
    assert len(others) == 4 and key not in others
