"""Each automated check on hand-made outputs; expected figures worked out by hand."""

from __future__ import annotations

import dataclasses
import shutil
from types import SimpleNamespace

import pytest

from generation.checks import (
    REGISTRY,
    CheckContext,
    LengthAnchors,
    SampleInput,
    checks_for_template,
    default_checks_for,
    run_checks,
)
from generation.checks.length import length_anchors_from

NO_CONTEXT = CheckContext()


def flags(output: str, name: str, context: CheckContext = NO_CONTEXT, **fields: object) -> list[tuple[str, str]]:
    sample = SampleInput(output=output, **fields)  # type: ignore[arg-type]  # **fields is typed object here; each test passes the type its field takes
    return [(flag.check_name, flag.reason) for flag in run_checks(sample, [name], context)]


def reason(output: str, name: str, context: CheckContext = NO_CONTEXT, **fields: object) -> str | None:
    found = flags(output, name, context, **fields)
    return found[0][1] if found else None


# --- registry ----------------------------------------------------------------


def test_registry_holds_the_eight_named_checks() -> None:
    assert sorted(REGISTRY) == sorted(
        ["empty", "truncated", "refusal", "repetition", "length-outlier", "json", "math-answer", "code-syntax"]
    )


def test_defaults_per_output_format() -> None:
    assert default_checks_for("text") == ["empty", "truncated", "refusal", "repetition", "length-outlier"]
    assert default_checks_for("json") == ["empty", "refusal", "json", "length-outlier"]
    assert default_checks_for("math") == ["empty", "truncated", "refusal", "repetition", "math-answer"]
    assert default_checks_for("code") == ["empty", "refusal", "code-syntax"]
    assert default_checks_for("unheard-of") == default_checks_for("text")


def test_template_checks_setting_wins_over_the_defaults() -> None:
    chosen = SimpleNamespace(checks=["math-answer", "empty"], output_format="text")
    unset = SimpleNamespace(checks=[], output_format="code")
    assert checks_for_template(chosen) == ["math-answer", "empty"]
    assert checks_for_template(unset) == ["empty", "refusal", "code-syntax"]
    assert checks_for_template(None) == ["empty", "truncated", "refusal", "repetition", "length-outlier"]


# --- empty -------------------------------------------------------------------


@pytest.mark.parametrize("output", ["", " ", "\n\t \r\n", "\u00a0\u3000", "\u200b\ufeff"])
def test_empty_flags_nothing_but_whitespace(output: str) -> None:
    assert [name for name, _ in flags(output, "empty")] == ["empty"]


@pytest.mark.parametrize("output", [".", "0", " a ", "🙂", "漢"])
def test_empty_leaves_any_visible_character(output: str) -> None:
    assert flags(output, "empty") == []


# --- truncated ---------------------------------------------------------------

CUT_PROSE = (
    "The committee met on Tuesday to review the budget. After a long discussion about travel costs, "
    "the members agreed that the next meeting would focus on the"
)


def test_finish_reason_length_flags_even_a_short_output() -> None:
    assert reason("Yes", "truncated", metadata={"finish_reason": "length"}) == (
        'the generator stopped at its length limit (finish reason "length")'
    )


def test_finish_reason_stop_on_a_complete_sentence_is_not_flagged() -> None:
    assert flags(CUT_PROSE + " agenda.", "truncated", metadata={"finish_reason": "stop"}) == []


def test_prose_cut_mid_sentence_is_flagged_with_its_tail() -> None:
    assert reason(CUT_PROSE, "truncated") == "the text ends mid-sentence: “…that the next meeting would focus on the”"


def test_prose_cut_after_a_comma_is_flagged() -> None:
    assert flags(CUT_PROSE + " agenda, the minutes,", "truncated") != []


def test_cyrillic_prose_cut_mid_word_is_flagged() -> None:
    text = (
        "Комитет собрался во вторник, чтобы обсудить бюджет. После долгого обсуждения расходов члены "
        "комитета согласились, что следующее заседание будет посвящено вопросам транспорта и расп"
    )
    assert flags(text, "truncated") != []


@pytest.mark.parametrize(
    "ending",
    [
        " agenda.",
        " agenda!",
        " agenda?",
        " agenda…",
        " (agenda)",
        " “agenda”",
        " agenda 2025",
        " agenda. #planning #budget",
    ],
)
def test_a_terminal_mark_digit_or_hashtag_ends_the_text(ending: str) -> None:
    assert flags(CUT_PROSE + ending, "truncated") == []


def test_short_texts_are_never_called_cut() -> None:
    assert flags("The meeting would focus on the", "truncated") == []


@pytest.mark.parametrize(
    "last_line",
    [
        "- buy more apples and pears for the long winter ahead",
        "3. buy more apples and pears for the long winter ahead",
        "4- buy more apples and pears for the long winter ahead",
        "| apples | pears | plums | cherries | grapes | figs | dates |",
        "Best regards",
        "apples, pears, plums, cherries, grapes, figs, dates, limes",
    ],
)
def test_lists_tables_signoffs_and_enumerations_are_not_cut(last_line: str) -> None:
    assert flags(CUT_PROSE + ".\n" + last_line, "truncated") == []


def test_an_open_code_fence_is_not_called_cut() -> None:
    assert flags("Here is the function:\n```python\n" + CUT_PROSE, "truncated") == []


# --- refusal -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "phrase"),
    [
        ("As an AI language model, I cannot browse the web.", "As an AI language model"),
        ("Sorry. As a large language model I have no body.", "As a large language model"),
        ("I’m sorry, but I can’t help with that request.", "I’m sorry, but I can’t"),
        ("i cannot assist with that.", "i cannot assist with"),
        ("I apologize, but I cannot write that.", "I apologize, but I cannot"),
    ],
)
def test_refusals_are_flagged_with_the_phrase_as_written(output: str, phrase: str) -> None:
    assert reason(output, "refusal") == f"refusal or assistant boilerplate: “{phrase}”"


@pytest.mark.parametrize(
    "output",
    [
        "As an AI researcher, I study how models learn.",
        "I'm sorry to hear that your flight was cancelled.",
        "The language model predicts the next token.",
        "",
    ],
)
def test_ordinary_text_is_not_a_refusal(output: str) -> None:
    assert flags(output, "refusal") == []


# --- repetition --------------------------------------------------------------


def test_a_looping_phrase_reports_its_share_of_repeated_four_grams() -> None:
    # 60 words with a period of 6: 57 four-grams, 6 distinct, so 51/57 = 89% repeat.
    assert reason("the cat sat on the mat " * 10, "repetition") == "89% of 4-word sequences repeat"


def test_a_repeated_sentence_is_named_with_its_count() -> None:
    # 84 words with a period of 6: 81 four-grams, 6 distinct, so 75/81 = 93% repeat.
    assert reason("I like green apples a lot. " * 14, "repetition") == (
        "93% of 4-word sequences repeat (the sentence “I like green apples a lot.” appears 14 times)"
    )


def test_cyrillic_loops_are_counted_by_words() -> None:
    # 48 words with a period of 4: 45 four-grams, 4 distinct, so 41/45 = 91% repeat.
    assert reason("кошка сидит на ковре " * 12, "repetition") == "91% of 4-word sequences repeat"


def test_counting_loops_repeat_once_digits_inside_words_are_masked() -> None:
    # item_1 … item_60 all read item_0: 57 four-grams, 1 distinct, so 56/57 = 98%.
    assert reason(" ".join(f"item_{n}" for n in range(1, 61)), "repetition") == "98% of 4-word sequences repeat"


def test_a_table_of_plain_numbers_is_not_repetition() -> None:
    assert flags(" ".join(str(n) for n in range(1, 61)), "repetition") == []


def test_short_repetitive_text_is_below_the_minimum_length() -> None:
    assert flags("no " * 39, "repetition") == []


FILLER = (
    "Morning light crossed the valley while farmers gathered tools, children chased geese near "
    "the river, merchants counted coins beside wooden stalls, and travellers from distant towns "
    "traded stories about storms, harvests, weddings, quarrels, bridges, horses and strange lights."
)


def test_a_sentence_five_times_in_varied_text_is_flagged() -> None:
    text = (
        FILLER
        + " "
        + " ".join(
            f"Hold the plank for thirty seconds. Step {word} follows."
            for word in ["one", "two", "three", "four", "five"]
        )
    )
    assert reason(text, "repetition").endswith("(the sentence “Hold the plank for thirty seconds.” appears 5 times)")


def test_a_sentence_four_times_in_varied_text_is_not_flagged() -> None:
    text = (
        FILLER
        + " "
        + " ".join(
            f"Hold the plank for thirty seconds. Step {word} follows." for word in ["one", "two", "three", "four"]
        )
    )
    assert flags(text, "repetition") == []


def test_varied_prose_is_not_repetition() -> None:
    assert flags(FILLER + " " + FILLER.replace("Morning", "Evening").upper()[:60], "repetition") == []


# --- length-outlier ----------------------------------------------------------


def words(n: int) -> str:
    return " ".join(["word"] * n)


def test_anchor_statistics_need_twenty_real_anchors() -> None:
    assert length_anchors_from([99] * 19) is None
    anchors = length_anchors_from([9] * 10 + [99] * 10)
    # Median of log(1+n) is halfway between log 10 and log 100; every deviation is half of log 10.
    assert anchors.count == 20
    assert anchors.median_log_words == pytest.approx(1.5 * 2.302585, abs=1e-5)
    assert anchors.mad_log_words == pytest.approx(0.5 * 2.302585, abs=1e-5)


# Twenty anchors of 99 words: median log 100, MAD 0 (floored to 0.1), so the modified
# z-score 0.6745·(log(1+n) − log 100)/0.1 passes ±3.5 just above 167 and just below 59 words.
IDENTICAL_ANCHORS = CheckContext(length_anchors=length_anchors_from([99] * 20))


@pytest.mark.parametrize(("count", "flagged"), [(167, False), (168, True), (59, False), (58, True), (99, False)])
def test_length_outlier_bounds(count: int, flagged: bool) -> None:
    assert bool(flags(words(count), "length-outlier", IDENTICAL_ANCHORS)) is flagged


def test_length_outlier_reason_gives_the_figures() -> None:
    # z = 0.6745 · log(169/100) / 0.1 = 3.54
    assert reason(words(168), "length-outlier", IDENTICAL_ANCHORS) == (
        "168 words, far longer than the 20 real anchors (median 99 words; modified z-score +3.5, limit ±3.5)"
    )


def test_length_outlier_is_skipped_without_anchors_or_output() -> None:
    assert flags(words(5000), "length-outlier", CheckContext(length_anchors=None)) == []
    assert flags("  ", "length-outlier", IDENTICAL_ANCHORS) == []


def test_unicode_words_are_counted() -> None:
    anchors = CheckContext(length_anchors=LengthAnchors(count=20, median_log_words=2.302585, mad_log_words=0.1))
    assert flags("слово " * 9, "length-outlier", anchors) == []  # 9 words: log 10, z = 0


# --- json --------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "items": {"type": "array", "items": {"type": "integer"}}},
}


def json_reason(output: str, schema: dict | None = SCHEMA) -> str | None:
    return reason(output, "json", output_format="json", output_schema=schema)


def test_valid_json_matching_the_schema_passes() -> None:
    assert json_reason('{"name": "x", "items": [1, 2]}') is None


def test_one_json_fence_is_allowed() -> None:
    assert json_reason('```json\n{"name": "x"}\n```') is None
    assert json_reason('```\n{"name": "x"}\n```') is None


def test_invalid_json_names_the_parser_message_and_place() -> None:
    assert json_reason("{'name': 'x'}") == (
        "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"
    )
    assert json_reason('Here you go: {"name": "x"}') == "not valid JSON: Expecting value at line 1 column 1"


def test_schema_mismatch_names_the_path() -> None:
    assert json_reason('{"name": "x", "items": [1, 2, "three"]}') == (
        "does not match the output schema at $.items[2]: 'three' is not of type 'integer'"
    )
    assert json_reason('{"items": []}') == "does not match the output schema at $: 'name' is a required property"


def test_json_without_schema_checks_syntax_only() -> None:
    assert json_reason("[1, 2]", schema=None) is None


def test_json_check_skips_text_templates() -> None:
    assert flags("not json", "json", output_format="text") == []


def test_a_schema_reference_outside_the_schema_is_never_fetched(tmp_path) -> None:
    # A schema saved before such references were refused: were the file read, the
    # string would fail "type": "integer" instead.
    referenced = tmp_path / "integer.json"
    referenced.write_text('{"type": "integer"}')
    schema = {"$ref": referenced.as_uri()}
    assert json_reason('"a string"', schema=schema) == (
        f"the template's output schema refers to {referenced.as_uri()}, which is not resolved: "
        "only references inside the schema (#…) are followed"
    )


def test_references_inside_the_schema_are_followed() -> None:
    schema = {"type": "object", "properties": {"n": {"$ref": "#/$defs/count"}}, "$defs": {"count": {"type": "integer"}}}
    assert json_reason('{"n": 3}', schema=schema) is None
    assert json_reason('{"n": "three"}', schema=schema) == (
        "does not match the output schema at $.n: 'three' is not of type 'integer'"
    )


def test_json_nested_past_the_parsers_depth_is_flagged_not_raised() -> None:
    assert json_reason("[" * 100_000 + "]" * 100_000, schema=None) == "nested too deeply to parse"


def test_a_check_that_fails_flags_the_sample_under_its_name(monkeypatch) -> None:
    def broken(sample, context):
        raise RuntimeError("a bug")

    monkeypatch.setitem(REGISTRY, "empty", dataclasses.replace(REGISTRY["empty"], function=broken))
    assert flags("fine", "empty") == [("empty", "could not be checked (RuntimeError); review it by hand")]


# --- math-answer -------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("3 boxes of 411 is 1,233 and one more.\n#### 1,234", "1234"),
        ("So x = \\boxed{-3.5}", -3.5),
        ("Adding up, the answer is $1,000.", "1,000"),
        ("Answer: 0.5", ".5"),
        ("She has 5 - 8 = -3 apples.", -3),
        ("The temperature fell to −7 degrees.", "-7"),
        ("She earns $12.50 an hour, so in 4 hours she earns $50.", 50),
    ],
)
def test_final_number_equal_to_the_expected_answer_passes(output: str, expected: object) -> None:
    assert flags(output, "math-answer", metadata={"expected_answer": expected}) == []


def test_wrong_final_number_is_flagged_with_both_values() -> None:
    assert reason("#### 1,234", "math-answer", metadata={"expected_answer": 1235}) == (
        "final answer 1234 (from ####) differs from the expected 1235"
    )
    assert reason("Pages 3-4 were read, so 7 in all.", "math-answer", metadata={"reference_answer": "-7"}) == (
        "final answer 7 (from last line) differs from the expected -7"
    )


def test_answer_marker_must_end_its_line() -> None:
    # "the answer is 15 gallons * 8 pints = 120 pints": the marker's number is not the line's last.
    output = "the final answer is 15 gallons * 8 pints / gallon = 120 pints"
    assert reason(output, "math-answer", metadata={"expected_answer": 15}) == (
        "final answer 120 (from last line) differs from the expected 15"
    )


def test_points_per_answer_is_not_an_answer_marker() -> None:
    output = "He earned 24 correct answers * 2 points/answer = 48 points.\nIn total he scored 48 + 16 = 64 points."
    assert flags(output, "math-answer", metadata={"expected_answer": 64}) == []


def test_no_final_number_is_flagged() -> None:
    assert reason("I think it is about half.", "math-answer") == (
        "no final number found (looked for ####, \\boxed{}, “the answer is”, “Answer:” and the last line)"
    )
    assert flags("", "math-answer") != []


def test_a_non_numeric_expected_answer_only_asks_for_a_number() -> None:
    assert flags("The fraction is 3", "math-answer", metadata={"expected_answer": "1/2"}) == []


# --- code-syntax -------------------------------------------------------------


def test_valid_python_in_a_fence_passes() -> None:
    assert (
        flags("Here:\n```python\ndef add(a, b):\n    return a + b\n```\nDone.", "code-syntax", code_language="python")
        == []
    )


def test_broken_python_reports_its_line() -> None:
    found = reason("```py\nx = 1\nprint(x\n```", "code-syntax", code_language="Python")
    assert found is not None and found.startswith("Python does not parse: line 3: ")


def test_python_nested_past_the_parsers_limits_is_flagged_not_raised() -> None:
    # A chain of unary minus signs exhausts the parser (MemoryError), not a syntax error.
    assert reason("x = " + "-" * 10_000 + "1", "code-syntax", code_language="python") == (
        "Python does not parse: nested too deeply to parse"
    )


def test_unfenced_python_is_parsed_whole() -> None:
    assert flags("for i in range(3):\n    print(i)\n", "code-syntax", code_language="python") == []
    assert flags("def f(:\n    pass", "code-syntax", code_language="python") != []


def test_fences_of_another_language_are_ignored() -> None:
    assert flags("```bash\nls -la |\n```\n```python\nprint(1)\n```", "code-syntax", code_language="python") == []


def test_other_languages_are_not_checked() -> None:
    assert flags("this is { not ruby", "code-syntax", code_language="ruby") == []
    assert flags("def f(:", "code-syntax", code_language="") == []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH: JavaScript is not checked")
def test_javascript_is_checked_with_node() -> None:
    assert flags("```js\nconst add = (a, b) => a + b;\n```", "code-syntax", code_language="javascript") == []
    found = reason(
        "Try this:\n```javascript\nconst ok = 1;\nlet let = 2;\n```", "code-syntax", code_language="javascript"
    )
    assert found is not None and found.startswith("JavaScript does not parse: line 4: SyntaxError")
