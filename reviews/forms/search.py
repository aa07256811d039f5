from __future__ import annotations

from django import forms

from reviews.services.similarity_search import K_MAX, QUERY_MAX_CHARS
from synthreview.projects.params import IdField

K_CHOICES = [(10, "10"), (20, "20"), (50, "50"), (100, "100")]


class SearchForm(forms.Form):
    """What to search for: typed words, or a sample (by id) whose neighbours to list."""

    query = forms.CharField(
        required=False,
        max_length=QUERY_MAX_CHARS,
        label="Query",
        widget=forms.TextInput(attrs={"placeholder": "e.g. a refund request written angrily", "autofocus": True}),
    )
    anchor = IdField(required=False, widget=forms.HiddenInput)
    k = forms.TypedChoiceField(choices=K_CHOICES, coerce=int, initial=20, label="Results")

    def clean_k(self) -> int:
        value = self.cleaned_data["k"]
        return min(max(int(value), 1), K_MAX)

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if not (data.get("query") or "").strip() and not data.get("anchor"):
            raise forms.ValidationError("Type what to search for.")
        return data
