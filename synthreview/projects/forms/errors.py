"""What every app's views share about forms."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS


def form_errors_text(form: forms.BaseForm) -> str:
    """A bound form's errors on one line, for a message or a plain-text answer: each field's
    errors after its label ("Value: Enter a number."), the whole form's errors as they are,
    separated by semicolons."""
    parts = []
    for name, errors in form.errors.items():
        text = " ".join(str(error) for error in errors)
        if name == NON_FIELD_ERRORS or name not in form.fields:
            parts.append(text)
        else:
            parts.append(f"{form[name].label}: {text}")
    return "; ".join(parts)
