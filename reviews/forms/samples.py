from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django import forms

from generation.checks import REGISTRY as CHECKS
from generation.models import GenerationRun, Generator, Origin, PromptTemplate, SampleStatus, Split
from reviews.models import Cluster, DuplicateGroup, ErrorCategory, VerdictValue
from reviews.selectors.browser_sort import NEWEST, ORDER_CHOICES, ORDERS, SampleOrder
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
        self.project = project
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

    def active_filters(self) -> list[ActiveFilter]:
        """Each filter that is set, in the words and names the user sees on the pages it came from:
        a generator's name, not its id; a cluster's number as the similarity page shows it."""
        data = self.cleaned_data
        shown: list[ActiveFilter] = []
        for name, field in self.fields.items():
            value = data.get(name)
            if value in (None, ""):
                continue
            if name == "q":
                text = f"“{value}”"
            elif name in ("generator", "run"):
                text = value.name
            elif name == "template":
                versions = sorted(value.versions.values_list("version", flat=True))
                text = f"{value.name} (v{', v'.join(map(str, versions))})" if versions else value.name
            elif isinstance(field, forms.ChoiceField):
                text = str(dict(cast(list[tuple[str, str]], field.choices)).get(value, value))
            elif name == "novelty_min":
                text = f"≥ {value:g}"
            elif name == "novelty_max":
                text = f"≤ {value:g}"
            elif name == "cluster":
                number = Cluster.objects.filter(project=self.project, pk=value).values_list("number", flat=True).first()
                shown.append(ActiveFilter(name, "Cluster", f"#{number}" if number is not None else "(refitted since)"))
                continue
            elif name == "group":
                group = DuplicateGroup.objects.filter(project=self.project, pk=value).first()
                label = f"{group.get_kind_display()} group" if group else "Duplicate group"
                shown.append(ActiveFilter(name, label, f"#{value}"))
                continue
            else:
                text = str(value)
            label = {"novelty_min": "Novelty", "novelty_max": "Novelty"}.get(
                name, str(field.label or name.capitalize())
            )
            shown.append(ActiveFilter(name, label, text))
        return shown


@dataclass(frozen=True)
class ActiveFilter:
    """One set filter as a chip shows it: `name` is its query parameter."""

    name: str
    label: str
    text: str


class SampleOrderForm(forms.Form):
    """The sample browser's order; an unknown one falls back to newest first."""

    sort = forms.ChoiceField(choices=ORDER_CHOICES, required=False, label="Order")

    def order(self) -> SampleOrder:
        if self.is_valid() and self.cleaned_data.get("sort"):
            return ORDERS[self.cleaned_data["sort"]]
        return ORDERS[NEWEST]


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")])
    expected_count = forms.IntegerField(min_value=0, max_value=LARGEST_ID)
    ids = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_ids(self) -> list[int]:
        return sample_ids_parse(self.cleaned_data.get("ids") or "", invalid="refuse")
