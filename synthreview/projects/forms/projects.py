"""The form with which a site operator makes a project."""

from __future__ import annotations

from django import forms

from synthreview.projects.models import Project


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=64,
        help_text="The project's part of every address (/p/<slug>/): letters, digits, hyphens and underscores.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Project.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"A project with the slug {slug!r} exists already.")
        return slug
