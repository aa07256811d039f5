"""Forms of the audit pages: creating an audit, closing it, adjudicating, gold samples."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from generation.models import GenerationRun, Generator, PromptTemplateVersion
from reviews.models import Audit, AuditScope, ErrorCategory, VerdictValue
from reviews.quality.audit_sampling import MAX_AUDIT_SIZE, MIN_AUDIT_SIZE
from reviews.services.audits import MAX_OVERLAP, audit_close_refusal, audit_create
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import Project
from synthreview.projects.params import IdField


class TemplateVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PromptTemplateVersion) -> str:
        return f"{obj.template.name} v{obj.version}"


class AuditForm(forms.Form):
    name = forms.CharField(required=False, max_length=200, help_text="Leave empty for a name from the scope and date.")
    scope = forms.ChoiceField(choices=AuditScope.choices, initial=AuditScope.PROJECT)
    run = forms.ModelChoiceField(queryset=GenerationRun.objects.none(), required=False)
    generator = forms.ModelChoiceField(queryset=Generator.objects.none(), required=False)
    template_version = TemplateVersionChoiceField(queryset=PromptTemplateVersion.objects.none(), required=False)
    sample_size = forms.IntegerField(
        min_value=MIN_AUDIT_SIZE,
        max_value=MAX_AUDIT_SIZE,
        initial=60,
        label="Items (n)",
        help_text="50 to 100 is usual.",
    )
    expected_error_rate = forms.IntegerField(
        min_value=1,
        max_value=50,
        initial=10,
        label="Expected error rate (%)",
        help_text="Only for the planner: the width n gives at this rate.",
    )
    overlap = forms.IntegerField(
        min_value=1,
        max_value=MAX_OVERLAP,
        initial=1,
        label="Reviewers per item",
        help_text="2 or more gives agreement figures.",
    )
    gold_items = forms.IntegerField(
        min_value=0,
        max_value=50,
        initial=0,
        label="Gold items",
        help_text="Real samples with a known verdict, mixed in blind.",
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**62,
        help_text="Leave empty for a random seed; a past audit's seed draws it again.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["run"]).queryset = GenerationRun.objects.filter(
            project=project
        ).order_by("-created_at")
        cast(forms.ModelChoiceField, self.fields["generator"]).queryset = Generator.objects.filter(
            project=project
        ).order_by("name")
        cast(TemplateVersionChoiceField, self.fields["template_version"]).queryset = (
            PromptTemplateVersion.objects.filter(template__project=project)
            .select_related("template")
            .order_by("template__name", "version")
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        scope = data.get("scope")
        if scope in ("run", "generator", "template_version") and not data.get(scope):
            self.add_error(scope, "Pick what to audit.")
        return data

    def scope_object_id(self) -> int | None:
        scope = self.cleaned_data["scope"]
        chosen = self.cleaned_data.get(scope) if scope != AuditScope.PROJECT else None
        return chosen.pk if chosen else None

    def audit_draw(self, access: ProjectAccess) -> Audit:
        """Draw the audit the valid form describes (the page and the API alike); the service's
        refusals are ValidationErrors."""
        data = self.cleaned_data
        return audit_create(
            access,
            scope=data["scope"],
            object_id=self.scope_object_id(),
            sample_size=data["sample_size"],
            overlap=data["overlap"],
            gold_items=data["gold_items"],
            expected_error_rate=data["expected_error_rate"] / 100,
            name=data["name"],
            seed=data["seed"],
        )


class AuditPlanForm(forms.Form):
    sample_size = forms.IntegerField(min_value=MIN_AUDIT_SIZE, max_value=MAX_AUDIT_SIZE, required=False)
    expected_error_rate = forms.IntegerField(min_value=1, max_value=50, required=False)


class AuditCloseForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, figures: dict | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.figures = figures

    def clean_reason(self) -> str:
        reason = self.cleaned_data.get("reason") or ""
        refusal = audit_close_refusal(self.figures, reason) if self.figures is not None else ""
        if refusal:
            raise forms.ValidationError(refusal)
        return reason.strip()


class AdjudicationForm(forms.Form):
    sample = IdField()
    # No default: a lead who presses Decide without choosing is asked to choose, never recorded as "correct".
    value = forms.ChoiceField(
        choices=VerdictValue.choices,
        label="Decision",
        error_messages={
            "required": "Choose a decision: correct, wrong or unsure.",
            "invalid_choice": "Choose a decision: correct, wrong or unsure.",
        },
    )
    error_category = forms.ChoiceField(choices=[("", "—"), *ErrorCategory.choices], required=False)
    note = forms.CharField(required=False, max_length=2000)


class GoldForm(forms.Form):
    expected_value = forms.ChoiceField(choices=[("correct", "Correct"), ("wrong", "Wrong"), ("remove", "Not gold")])
    expected_error_category = forms.ChoiceField(choices=[("", "—"), *ErrorCategory.choices], required=False)
    note = forms.CharField(required=False, max_length=2000)
