from __future__ import annotations

from typing import Any, cast

from django import forms

from generation.checks import REGISTRY as CHECKS
from generation.models import GenerationRun, Generator, Origin, PromptTemplate, SampleStatus, Split
from reviews.models import ErrorCategory, VerdictValue
from synthreview.projects.models import Project
from synthreview.projects.params import LARGEST_ID, LARGEST_INTEGER, IdField, sample_ids_parse

MAX_TIME_SPENT_MS = 86_400_000


class VerdictForm(forms.Form):
    value = forms.ChoiceField(choices=VerdictValue.choices)
    error_category = forms.ChoiceField(choices=[("", "—"), *ErrorCategory.choices], required=False)
    note = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    # Sample.revision and Verdict.time_spent_ms are PositiveIntegerFields (an INTEGER on PostgreSQL).
    revision = forms.IntegerField(min_value=0, max_value=LARGEST_INTEGER)
    # An unknown order falls back to the default, as on the queue page itself.
    order = forms.CharField(required=False, max_length=16)
    # A day, as the API allows: a longer "time spent" is a tab left open, not a measurement.
    time_spent_ms = forms.IntegerField(min_value=0, max_value=MAX_TIME_SPENT_MS, required=False)


VERDICT_FILTER_CHOICES = [("", "Any"), *VerdictValue.choices, ("none", "No verdict yet")]

# The automated checks' names, the governance check's "eval-leak" (spelled out here:
# reviews.services.eval_leaks pulls in FAISS), and "any" flag at all.
FLAG_FILTER_CHOICES = [
    ("", "Any or none"),
    ("any", "Any flag"),
    *((check.name, check.label) for check in CHECKS.values()),
    ("eval-leak", "Eval leak"),
]


class SampleFilterForm(forms.Form):
    """The sample browser's filters; every choice is scoped to the project."""

    q = forms.CharField(required=False, max_length=200, label="Text")
    origin = forms.ChoiceField(choices=[("", "Any"), *Origin.choices], required=False)
    status = forms.ChoiceField(choices=[("", "Any"), *SampleStatus.choices], required=False)
    split = forms.ChoiceField(choices=[("", "Any"), ("train", "Train"), ("eval", "Eval")], required=False)
    generator = forms.ModelChoiceField(queryset=Generator.objects.none(), required=False, empty_label="Any")
    template = forms.ModelChoiceField(queryset=PromptTemplate.objects.none(), required=False, empty_label="Any")
    run = forms.ModelChoiceField(queryset=GenerationRun.objects.none(), required=False, empty_label="Any")
    verdict = forms.ChoiceField(choices=VERDICT_FILTER_CHOICES, required=False)
    flag = forms.ChoiceField(choices=FLAG_FILTER_CHOICES, required=False, label="Check flag")
    novelty_min = forms.FloatField(required=False, min_value=0.0, max_value=1.0, label="Novelty from")
    novelty_max = forms.FloatField(required=False, min_value=0.0, max_value=1.0, label="to")
    cluster = IdField(required=False, widget=forms.HiddenInput)
    group = IdField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["generator"]).queryset = Generator.objects.filter(
            project=project
        ).order_by("name")
        cast(forms.ModelChoiceField, self.fields["template"]).queryset = PromptTemplate.objects.filter(
            project=project
        ).order_by("name")
        cast(forms.ModelChoiceField, self.fields["run"]).queryset = GenerationRun.objects.filter(
            project=project
        ).order_by("-created_at")
        cast(forms.ChoiceField, self.fields["split"]).choices = [
            ("", "Any"),
            *((value, label) for value, label in Split.choices if value),
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        low, high = data.get("novelty_min"), data.get("novelty_max")
        if low is not None and high is not None and low > high:
            raise forms.ValidationError("The novelty range is empty: “from” is above “to”.")
        return data

    def filters(self) -> dict[str, Any]:
        """Cleaned filters as plain values (model choices become ids)."""
        data = dict(self.cleaned_data)
        for key in ("generator", "template", "run"):
            data[key] = data[key].pk if data.get(key) else None
        return data

    def description(self) -> dict[str, Any]:
        """The filter as the audit log records it: only what is set, in plain words and ids."""
        return {key: value for key, value in self.filters().items() if value not in (None, "")}


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")])
    expected_count = forms.IntegerField(min_value=0, max_value=LARGEST_ID)
    ids = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_ids(self) -> list[int]:
        return sample_ids_parse(self.cleaned_data.get("ids") or "", invalid="refuse")
