"""Checks that cannot stall a worker: user patterns on re2, linear built-in patterns, a time budget."""

from __future__ import annotations

import json
import time

import pytest

from generation.checks import CheckContext, SampleInput, run_checks
from generation.checks.code import MAX_PARSED_CHARS, code_blocks
from generation.checks.math_answer import final_answer, known_answer
from generation.checks.patterns import schema_pattern_problems
from generation.services.checks import check_context_for_project

# Only a guard against a hang: each of these takes milliseconds when linear, and minutes
# to hours when it backtracks. The assertions that matter are on the results.
GUARD_SECONDS = 2.0
NESTED = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}


def json_flags(document: object, schema: dict, context: CheckContext | None = None) -> list[str]:
    sample = SampleInput(output=json.dumps(document), output_format="json", output_schema=schema)
    return [flag.reason for flag in run_checks(sample, ["json"], context or CheckContext())]


def test_a_nested_quantifier_pattern_refuses_a_crafted_output_at_once() -> None:
    started = time.monotonic()
    reasons = json_flags({"code": "a" * 40 + "!"}, NESTED)
    assert time.monotonic() - started < GUARD_SECONDS
    assert reasons == [f"does not match the output schema at $.code: '{'a' * 40}!' does not match '^(a+)+$'"]


def test_a_nested_quantifier_pattern_still_passes_a_matching_output() -> None:
    assert json_flags({"code": "a" * 40}, NESTED) == []


def test_pattern_properties_run_on_re2_too() -> None:
    schema = {"type": "object", "patternProperties": {"^(a+)+$": {"type": "integer"}}}
    started = time.monotonic()
    assert json_flags({"a" * 40 + "!": "not checked", "aaa": 1}, schema) == []
    assert time.monotonic() - started < GUARD_SECONDS
    assert json_flags({"aaa": "x"}, schema) == [
        "does not match the output schema at $.aaa: 'x' is not of type 'integer'"
    ]


def test_additional_properties_match_pattern_properties_on_re2() -> None:
    schema = {"type": "object", "patternProperties": {"^(a+)+$": {"type": "integer"}}, "additionalProperties": False}
    started = time.monotonic()
    reasons = json_flags({"a" * 40 + "!": 1, "aaa": 1}, schema)
    assert time.monotonic() - started < GUARD_SECONDS
    assert reasons == [
        f"does not match the output schema at $: '{'a' * 40}!' does not match any of the regexes: '^(a+)+$'"
    ]
    assert json_flags({"aaa": 1}, schema) == []
    assert json_flags({"b": 1}, {"type": "object", "properties": {"a": {}}, "additionalProperties": False}) == [
        "does not match the output schema at $: Additional properties are not allowed ('b' was unexpected)"
    ]


def test_unique_items_keeps_json_equality() -> None:
    schema = {"type": "array", "uniqueItems": True}
    assert json_flags([{"a": 1}, {"a": 1.0}], schema) != []  # 1 and 1.0 are one JSON number
    assert json_flags([1, True, [1], [True]], schema) == []  # true is not 1
    assert json_flags(["x", "y", "x"], schema) != []


def test_a_backreference_saved_before_the_refusal_is_flagged_never_run() -> None:
    schema = {"properties": {"code": {"pattern": "(a)\\1"}}}
    [reason] = json_flags({"code": "aa"}, schema)
    assert reason.startswith("the template's output schema has a pattern that cannot be checked in linear time")
    assert "(a)\\\\1" in reason


def test_pattern_problems_name_json_pointers_and_skip_instance_data() -> None:
    schema = {
        "properties": {"pattern": {"type": "string"}, "enum": {"pattern": "(?=x)"}},
        "enum": [{"pattern": "(a)\\1"}],  # data an output may equal, not a pattern
        "$defs": {"a/b": {"pattern": "ok+"}},
    }
    assert [(problem.path, problem.pattern) for problem in schema_pattern_problems(schema)] == [
        ("#/properties/enum/pattern", "(?=x)")
    ]


def test_a_check_past_its_budget_is_flagged_as_timed_out() -> None:
    # anyOf whose branches both recurse and both fail at the bottom (1 is no array): 2^30 paths.
    branch = {"type": "array", "items": {"$ref": "#/$defs/node"}}
    schema = {"$defs": {"node": {"anyOf": [branch, {**branch, "minItems": 1}]}}, "$ref": "#/$defs/node"}
    document = json.loads("[" * 30 + "1" + "]" * 30)
    started = time.monotonic()
    reasons = json_flags(document, schema, CheckContext(time_budget_ms=50))
    assert time.monotonic() - started < GUARD_SECONDS
    assert reasons == ["timed out (not checked within the 50 ms budget); review it by hand"]


def test_other_checks_still_run_after_one_times_out() -> None:
    sample = SampleInput(output="x = 1\n" * (MAX_PARSED_CHARS // 6 + 1), code_language="python")
    flags = run_checks(sample, ["code-syntax", "empty"], CheckContext())
    assert [(flag.check_name, flag.reason) for flag in flags] == [
        (
            "code-syntax",
            f"timed out (a code block of {len(sample.output):,} characters, over the {MAX_PARSED_CHARS:,} parsed); "
            "review it by hand",
        )
    ]


@pytest.mark.django_db
def test_the_services_give_checks_the_configured_budget(project, settings) -> None:
    settings.CHECK_TIME_BUDGET_MS = 7
    assert check_context_for_project(project_id=project.pk).time_budget_ms == 7


# --- the checks' own patterns are linear on crafted outputs ------------------------------


def test_many_blank_lines_before_an_answer_are_read_at_once() -> None:
    started = time.monotonic()
    assert final_answer("\n" * 200_000 + "Answer: 5") == (5, "answer")
    assert final_answer("\n" * 200_000) is None
    assert time.monotonic() - started < GUARD_SECONDS


def test_a_known_answer_padded_with_spaces_is_read_at_once() -> None:
    started = time.monotonic()
    assert known_answer("1" + " " * 200_000 + "x") is None
    assert known_answer("  42 .  ") == 42
    assert time.monotonic() - started < GUARD_SECONDS


def test_long_and_unclosed_fences_are_read_at_once() -> None:
    started = time.monotonic()
    assert code_blocks("```" + "a" * 200_000, {"python"}) == []
    assert len(code_blocks("```\n" * 200_000, {"python"})) == 100_000
    assert time.monotonic() - started < GUARD_SECONDS
    # The lines before each block are counted from the start of the output.
    assert code_blocks("intro\n```py\nx = 1\n```\ntext\n```\ny\n```", {"py"}) == [(2, "x = 1\n"), (6, "y\n")]


def test_a_refusal_after_non_ascii_text_is_quoted_as_written() -> None:
    sample = SampleInput(output="Привет! As an AI language model, I can’t say.")
    [flag] = run_checks(sample, ["refusal"], CheckContext())
    assert flag.reason == "refusal or assistant boilerplate: “As an AI language model”"


def test_repetition_in_a_long_output_is_read_from_its_start() -> None:
    output = "the same loop again and again. " * 20_000
    [flag] = run_checks(SampleInput(output=output), ["repetition"], CheckContext(time_budget_ms=5_000))
    assert flag.reason.startswith("100% of 4-word sequences repeat in its first 100,000 characters")


def test_a_refusal_beside_a_lone_surrogate_is_still_flagged() -> None:
    sample = SampleInput(output="ok \ud800 As an AI language model, I cannot")
    [flag] = run_checks(sample, ["refusal"], CheckContext())
    assert flag.reason == "refusal or assistant boilerplate: “As an AI language model”"


UNEVALUATED = {
    "type": "object",
    "patternProperties": {"^(a+)+$": {"type": "integer"}},
    "unevaluatedProperties": False,
}


def test_unevaluated_properties_beside_pattern_properties_is_flagged_never_run() -> None:
    # jsonschema matches the patternProperties keys for unevaluatedProperties on Python's re:
    # 30 a's and a "!" would take minutes there.
    started = time.monotonic()
    [reason] = json_flags({"a" * 30 + "!": 1}, UNEVALUATED)
    assert time.monotonic() - started < GUARD_SECONDS
    assert reason.startswith("the template's output schema cannot be checked in linear time")
    assert "#/unevaluatedProperties" in reason
    assert [problem.path for problem in schema_pattern_problems(UNEVALUATED)] == ["#/unevaluatedProperties"]


def test_unevaluated_properties_alone_is_checked() -> None:
    schema = {"type": "object", "properties": {"a": {}}, "unevaluatedProperties": False}
    assert schema_pattern_problems(schema) == []
    assert json_flags({"a": 1}, schema) == []
    assert len(json_flags({"b": 1}, schema)) == 1
