"""The form a lead defines a run with: template × generators × grid × table × constraints."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings

from generation.models import Generator, GeneratorKind, PromptTemplateVersion
from generation.runs.plan import ConstraintMix, PlanError, grid_cells, parse_number_list, read_variable_table
from generation.services.runs import RunSpec
from synthreview.projects.models import Project
from synthreview.projects.params import LARGEST_ID, IdMultipleChoiceField

MAX_TABLE_BYTES = 50 * 1024 * 1024


class TemplateVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PromptTemplateVersion) -> str:
        return f"{obj.template.name} v{obj.version} ({obj.output_format})"


class GeneratorChoiceField(IdMultipleChoiceField):
    def label_from_instance(self, obj: Generator) -> str:
        return f"{obj.name} — {obj.model_name or obj.programmatic_name} ({obj.get_kind_display()})"


class RunForm(forms.Form):
    name = forms.CharField(max_length=200)
    template_version = TemplateVersionChoiceField(
        queryset=PromptTemplateVersion.objects.none(), label="Template version"
    )
    generators = GeneratorChoiceField(
        queryset=Generator.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Mix generators: different models or sampling strategies.",
    )
    temperatures = forms.CharField(required=False, help_text="e.g. 0.2, 0.7, 1.0 — empty: each generator's own.")
    top_ps = forms.CharField(
        required=False, label="top_p values", help_text="e.g. 0.9, 1.0 — empty: the generator's own."
    )
    seeds = forms.CharField(required=False, help_text="Whole numbers, e.g. 1, 2, 3 — empty: the generator's own.")
    variables_file = forms.FileField(
        required=False, label="Variable table", help_text="CSV with a header row, or JSONL objects: one row per prompt."
    )
    fewshot_per_item = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=20,
        initial=0,
        label="Few-shot examples per item",
        help_text="Drawn from the project's real samples into {{ examples }}.",
    )
    fewshot_items = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=200_000,
        initial=0,
        label="Items (without a table)",
        help_text="Prompts to make without a table: few-shot draws, or a template "
        "without variables (rule-based generators).",
    )
    fewshot_allow_synthetic = forms.BooleanField(
        required=False,
        label="Allow synthetic seeds",
        help_text="Synthetic seeds raise the samples' generation depth, which exports cap.",
    )
    constraints = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "length: short=2, medium=2, long=1\nstyle: formal, casual"}
        ),
        help_text="One dimension a line, values with weights (length, format, style are known; others pass through).",
    )
    # Kept in the run's parameters and handed to random.Random and the generators' seed (a BIGINT).
    seed = forms.IntegerField(
        initial=0, min_value=0, max_value=LARGEST_ID, help_text="Fixes the few-shot draws and the constraint order."
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        cast(TemplateVersionChoiceField, self.fields["template_version"]).queryset = (
            PromptTemplateVersion.objects.filter(template__project=project)
            .exclude(text="")
            .select_related("template")
            .order_by("template__name", "-version")
        )
        cast(GeneratorChoiceField, self.fields["generators"]).queryset = Generator.objects.filter(
            project=project, kind__in=(GeneratorKind.OPENAI_COMPATIBLE, GeneratorKind.PROGRAMMATIC)
        ).order_by("name")

    SECTIONS = [
        ("What to generate", ["name", "template_version", "generators"]),
        ("Parameter grid", ["temperatures", "top_ps", "seeds"]),
        (
            "Variables and few-shot seeds",
            ["variables_file", "fewshot_per_item", "fewshot_items", "fewshot_allow_synthetic"],
        ),
        ("Constraints", ["constraints", "seed"]),
    ]

    def sections(self) -> list[tuple[str, list]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        errors: list[str] = []
        try:
            cleaned["cells"] = grid_cells(
                parse_number_list(cleaned.get("temperatures", ""), float, "temperatures"),
                parse_number_list(cleaned.get("top_ps", ""), float, "top_p"),
                parse_number_list(cleaned.get("seeds", ""), int, "seeds"),
            )
        except PlanError as error:
            errors += error.errors
        try:
            cleaned["constraint_mix"] = ConstraintMix.parse(cleaned.get("constraints", ""))
        except PlanError as error:
            self.add_error("constraints", error.errors)
        upload = cleaned.get("variables_file")
        cleaned["table_rows"] = []
        if upload is not None:
            if upload.size > MAX_TABLE_BYTES:
                self.add_error("variables_file", f"The table is larger than {MAX_TABLE_BYTES // 1024**2} MiB.")
            else:
                try:
                    cleaned["table_rows"] = read_variable_table(
                        upload.read(), upload.name, max_rows=settings.GENERATION_MAX_TABLE_ROWS
                    )
                except PlanError as error:
                    self.add_error("variables_file", error.errors)
                upload.seek(0)
        if errors:
            raise forms.ValidationError(errors)
        return cleaned

    def spec(self) -> RunSpec:
        data = self.cleaned_data
        return RunSpec(
            project=self.project,
            name=data["name"].strip(),
            template_version=data["template_version"],
            generators=list(data["generators"]),
            cells=data["cells"],
            table_rows=data["table_rows"],
            fewshot_per_item=data.get("fewshot_per_item") or 0,
            fewshot_items=data.get("fewshot_items") or 0,
            fewshot_allow_synthetic=bool(data.get("fewshot_allow_synthetic")),
            constraints=data["constraint_mix"],
            seed=data.get("seed") or 0,
        )
