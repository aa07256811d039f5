"""Prompt rendering: placeholders take their values verbatim, and missing ones are named."""

from __future__ import annotations

import pytest

from generation.prompts import PromptRenderError, render_prompt, template_variables


def test_placeholders_are_found_in_order_once_each_with_or_without_spaces():
    text = "{{facts}} then {{ question }}, again {{  facts  }}; {{ examples }} {{ 2nd }} {{ a-b }} { single }"
    assert template_variables(text) == ["facts", "question", "examples"]


def test_values_replace_their_placeholders():
    text = "Facts: {{ facts }}\nQuestion: {{question}}"
    assert render_prompt(text, {"facts": "Ann has 3 pens.", "question": "How many?"}) == (
        "Facts: Ann has 3 pens.\nQuestion: How many?"
    )


def test_missing_variables_are_named():
    with pytest.raises(PromptRenderError) as caught:
        render_prompt("{{ a }} {{ b }} {{ c }} {{ b }}", {"b": "x"})
    assert caught.value.missing == ["a", "c"]
    assert "a, c" in str(caught.value)


def test_template_syntax_inside_a_value_stays_literal():
    values = {"facts": "{{ question }} {% if x %}boom{% endif %} \\1 \\g<0>", "question": "Why?"}
    rendered = render_prompt("{{ facts }} | {{ question }}", values)
    assert rendered == "{{ question }} {% if x %}boom{% endif %} \\1 \\g<0> | Why?"


def test_extra_values_are_ignored_and_text_without_placeholders_is_unchanged():
    assert render_prompt("No placeholders {here}.", {"unused": "x"}) == "No placeholders {here}."
