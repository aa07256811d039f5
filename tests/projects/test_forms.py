"""A form's errors on one line, for messages and plain-text answers."""

from __future__ import annotations

from typing import Any

from django import forms

from synthreview.projects.forms.errors import form_errors_text


class RangeForm(forms.Form):
    low = forms.IntegerField(label="From")
    high_value = forms.IntegerField()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("low") is not None and data.get("high_value") is not None and data["low"] > data["high_value"]:
            raise forms.ValidationError("The range is empty.")
        return data


def test_each_field_speaks_under_its_label_and_the_form_as_itself():
    assert (
        form_errors_text(RangeForm({"low": "x"})) == "From: Enter a whole number.; High value: This field is required."
    )
    assert form_errors_text(RangeForm({"low": "5", "high_value": "1"})) == "The range is empty."


def test_a_valid_form_has_nothing_to_say():
    assert form_errors_text(RangeForm({"low": "1", "high_value": "5"})) == ""
