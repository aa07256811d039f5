"""Forms of the governance pages: exports, downstream results and the eval set."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from generation.models import Generator
from reviews.models import EvalSetVersion, ExportFormat, ExportSplit
from synthreview.projects.models import Project
from synthreview.projects.params import IdMultipleChoiceField, sample_ids_parse

MAX_IDS = 5000


class EvalSetVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: EvalSetVersion) -> str:
        return f"v{obj.version} · {obj.member_count:,} samples"


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
    eval_set_version = EvalSetVersionChoiceField(
        queryset=EvalSetVersion.objects.none(),
        required=False,
        empty_label="None",
        label="Eval-set version",
        help_text="Train-side samples too close to it are held back.",
    )
    excluded_generators = IdMultipleChoiceField(
        queryset=Generator.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Leave out generators",
    )
    audit_override_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        label="Audit override (leads and admins)",
        help_text="Only if you must export synthetic samples without a passing audit: why. "
        "It goes into the manifest and the audit log.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = EvalSetVersion.objects.filter(project=project).order_by("-version")
        eval_set_version = cast(EvalSetVersionChoiceField, self.fields["eval_set_version"])
        eval_set_version.queryset = versions
        eval_set_version.initial = versions.first()
        cast(forms.ModelMultipleChoiceField, self.fields["excluded_generators"]).queryset = Generator.objects.filter(
            project=project
        ).order_by("name")
        self.fields["max_generation_depth"].initial = project.max_generation_depth


class DownstreamResultForm(forms.Form):
    model_name = forms.CharField(max_length=200, label="Model")
    metric = forms.CharField(max_length=100)
    value = forms.FloatField()
    higher_is_better = forms.BooleanField(required=False, initial=True, label="Higher is better")
    note = forms.CharField(required=False, max_length=2000)


class EvalIdsForm(forms.Form):
    sample_ids = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Sample ids",
        help_text="Separated by commas, spaces or new lines.",
    )

    def clean_sample_ids(self) -> list[int]:
        ids = sample_ids_parse(self.cleaned_data["sample_ids"], invalid="refuse", limit=MAX_IDS)
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
