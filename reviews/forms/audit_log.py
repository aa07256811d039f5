"""The audit-log page's filters; every choice is scoped to the project."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms

from reviews.selectors.audit_log import OBJECT_TYPES, action_choices, actor_choices
from synthreview.projects.models import Project

# "sample 123" typed into the id box picks the type too.
_TYPED_ID = re.compile(r"^\s*([a-z][a-z -]*?)\s*#?\s*(\d+)\s*$", re.IGNORECASE)
_TYPE_BY_WORD = {label.lower(): object_type for object_type, (label, _, _) in OBJECT_TYPES.items()}


class AuditLogFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    actor = forms.ChoiceField(required=False)
    object_type = forms.ChoiceField(required=False, label="Object")
    object_id = forms.CharField(
        required=False,
        max_length=64,
        label="Object id",
        widget=forms.TextInput(attrs={"placeholder": "e.g. 123 or sample 123"}),
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["action"]).choices = action_choices(project)
        cast(forms.ChoiceField, self.fields["actor"]).choices = actor_choices(project)
        cast(forms.ChoiceField, self.fields["object_type"]).choices = [
            ("", "Any type"),
            *((key, label) for key, (label, _, _) in OBJECT_TYPES.items()),
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        object_id = (data.get("object_id") or "").strip().lstrip("#")
        typed = _TYPED_ID.match(object_id)
        if typed and typed.group(1).lower() in _TYPE_BY_WORD:
            data["object_type"] = _TYPE_BY_WORD[typed.group(1).lower()]
            object_id = typed.group(2)
        elif typed:
            self.add_error(
                "object_id", f"“{typed.group(1)}” is not a kind of object the log records; pick the type from the list."
            )
        data["object_id"] = object_id
        # An id means nothing without its type (sample 12 and audit 12 are different things).
        if object_id and not data.get("object_type"):
            self.add_error("object_type", "Choose the object's type to look an id up.")
        low, high = data.get("date_from"), data.get("date_to")
        if low and high and low > high:
            self.add_error("date_to", "The date range is empty: “From” is after “To”.")
        return data

    def filters(self) -> dict[str, Any]:
        return dict(self.cleaned_data) if self.is_bound else {}
