"""The members page's forms: add someone, change a member's role."""

from __future__ import annotations

from django import forms

from synthreview.projects.models import Role


class MemberAddForm(forms.Form):
    user = forms.CharField(
        max_length=254,
        label="Username or email",
        help_text="Someone without an account yet is invited by email and chooses a password with a one-time link.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EXPERT)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
