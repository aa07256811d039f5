"""The form that makes an API token on the tokens page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone

from synthreview.projects.models import Project, Role
from synthreview.projects.selectors.api_tokens import token_project_choices

# A token lives at most ten years: long enough for any pipeline, short enough to be a decision.
MAX_EXPIRY_DAYS = 3650


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What will hold it: a pipeline, a notebook, a CI job.",
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        required=False,
        to_field_name="slug",
        empty_label="Every project I belong to",
        label="Project limit",
    )
    role_cap = forms.ChoiceField(
        choices=[("", "My role in each project"), *Role.choices],
        required=False,
        label="Role cap",
        help_text="The token acts with the lesser of this and your role.",
    )
    expires_days = forms.IntegerField(
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        required=False,
        label="Expires after (days)",
        help_text=f"1 to {MAX_EXPIRY_DAYS}; empty: never expires.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        project_field = self.fields["project"]
        assert isinstance(project_field, forms.ModelChoiceField)  # declared just above
        project_field.queryset = token_project_choices(user)

    def values(self) -> dict[str, Any]:
        """The arguments of api_token_create."""
        data = self.cleaned_data
        days = data.get("expires_days")
        expires_at: datetime | None = timezone.now() + timedelta(days=days) if days else None
        return {
            "name": data["name"],
            "project": data.get("project"),
            "role_cap": data.get("role_cap") or "",
            "expires_at": expires_at,
        }
