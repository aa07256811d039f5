"""Forms of the governance pages: exports, downstream results and the eval set."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from generation.models import Generator
from reviews.models import EvalSetVersion, ExportFormat, ExportSplit
from synthreview.projects.models import Project

MAX_IDS = 5000


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.JSONL)
    split = forms.ChoiceField(choices=ExportSplit.choices, initial=ExportSplit.TRAIN)
    target_model = forms.CharField(
        required=False,
        max_length=200,
        label="Model to be trained",
        help_text="Samples from generators related to it are refused (no recursion). "
        "Leave empty to check against every model the policy declares; a "
        "model named here must be declared there.",
    )
    max_generation_depth = forms.IntegerField(
        min_value=0,
        max_value=20,
        label="Largest generation depth",
        help_text="0 takes only samples generated from real seeds.",
    )
    eval_set_version = forms.ModelChoiceField(
        queryset=EvalSetVersion.objects.none(),
        required=False,
        empty_label="None",
        label="Eval-set version",
        help_text="Train-side samples too close to it are held back.",
    )
    excluded_generators = forms.ModelMultipleChoiceField(
        queryset=Generator.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Leave out generators",
    )
    audit_override_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        label="Audit override (leads)",
        help_text="Only if you must export synthetic samples without a passing audit: why. "
        "It goes into the manifest and the audit log.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = EvalSetVersion.objects.filter(project=project).order_by("-version")
        self.fields["eval_set_version"].queryset = versions
        self.fields["eval_set_version"].label_from_instance = lambda v: f"v{v.version} · {v.member_count:,} samples"
        self.fields["eval_set_version"].initial = versions.first()
        self.fields["excluded_generators"].queryset = Generator.objects.filter(project=project).order_by("name")
        self.fields["max_generation_depth"].initial = project.max_generation_depth


class DownstreamResultForm(forms.Form):
    model_name = forms.CharField(max_length=200, label="Model")
    metric = forms.CharField(max_length=100)
    value = forms.FloatField()
    higher_is_better = forms.BooleanField(required=False, initial=True, label="Higher is better")
    note = forms.CharField(required=False, max_length=2000)


def parse_ids(text: str) -> list[int]:
    """Sample ids separated by commas, spaces or lines."""
    tokens = [token for token in re.split(r"[\s,;]+", text.strip()) if token]
    bad = [token for token in tokens if not token.isdigit()]
    if bad:
        raise forms.ValidationError(f"Not a sample id: {', '.join(bad[:5])}")
    if len(tokens) > MAX_IDS:
        raise forms.ValidationError(f"At most {MAX_IDS:,} ids at once.")
    return [int(token) for token in tokens]


class EvalIdsForm(forms.Form):
    sample_ids = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Sample ids",
        help_text="Separated by commas, spaces or new lines.",
    )

    def clean_sample_ids(self) -> list[int]:
        ids = parse_ids(self.cleaned_data["sample_ids"])
        if not ids:
            raise forms.ValidationError("Name at least one sample.")
        return ids


class EvalDrawForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=100_000, label="How many")
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**62,
        help_text="Leave empty for a random seed (recorded in the audit log).",
    )


class EvalFreezeForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=2000, label="Note", help_text="What changed, for whoever reads the manifest later."
    )
