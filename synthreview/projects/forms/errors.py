"""What every app's views share about forms."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


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


def form_add_service_errors(
    form: forms.BaseForm, error: ValidationError, *, renamed: dict[str, str] | None = None
) -> None:
    """A service's refusal on the form that asked for it: each error beside the field it names
    (`renamed` maps the service's argument to the form's field where they differ), the rest, and
    those naming a field the form lacks, above the fields."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, problems in error.message_dict.items():
        field = (renamed or {}).get(name, name)
        form.add_error(field if field in form.fields and not form.fields[field].disabled else None, problems)
