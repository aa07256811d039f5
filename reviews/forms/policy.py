"""The governance policy form. Shares are typed in percent, as on the alert
settings page, and handed to the service as shares of 1."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms

from generation.models import Generator
from reviews.governance.target_models import TargetModelsError, target_models_parse, target_models_text
from reviews.services.policy import MAX_GENERATION_DEPTH, MAX_HIDDEN_METADATA_KEYS, MAX_METADATA_KEY_CHARS
from synthreview.projects.models import Phase, Project, QualityCheckSchedule

PERCENT_ERRORS = {
    "min_value": "Enter a percentage from 0 to 100.",
    "max_value": "Enter a percentage from 0 to 100.",
    "invalid": "Enter a percentage from 0 to 100.",
}


def _percent(share: float | None) -> float | None:
    """0.8 → 80.0, without the float dust of 0.8 * 100 ever showing."""
    return None if share is None else float(f"{share * 100:.10g}")


def _share(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 8)


class PolicyForm(forms.Form):
    phase = forms.TypedChoiceField(
        choices=Phase.choices,
        coerce=int,
        label="Phase",
        help_text="Sets the minimum real share of a training export: the practice's 100/0 → 50/50 → 80/20 → 95/5.",
    )
    min_real_share = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Custom minimum real share (%)",
        help_text="When set, replaces the phase's minimum; leave empty to follow the phase.",
        error_messages=PERCENT_ERRORS,
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "none"}),
    )
    noise_floor_limit = forms.FloatField(
        min_value=0,
        max_value=100,
        label="Noise-floor limit (%)",
        help_text="Audit gate: a run's synthetic samples leave only when its closed audit's 95% upper bound on the "
        "share marked wrong is at most this.",
        error_messages=PERCENT_ERRORS,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    eval_leak_threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        label="Eval leak threshold (cosine)",
        help_text="A train-side sample at least this similar to an eval sample, in its prompt alone or in prompt and "
        "answer together, is a leak, kept out of training exports; so is an eval prompt reused word for "
        "word, whatever the answer.",
        error_messages={"min_value": "Enter a similarity from 0 to 1.", "max_value": "Enter a similarity from 0 to 1."},
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    max_generation_depth = forms.IntegerField(
        min_value=0,
        max_value=MAX_GENERATION_DEPTH,
        label="Deepest generation exported",
        help_text="Recursion guard: samples generated from synthetic seeds deeper than this stay out "
        "(0: only samples made from real seeds).",
    )
    target_models = forms.CharField(
        required=False,
        label="Models being trained",
        help_text='One model per line, then what it is derived from, nearest first, each step written "<-": '
        "acme-7b <- llama-3-8b-instruct <- llama-3-8b. A model trained from scratch is its name alone. "
        "A training export is checked against every model listed here, and refused when it names a "
        "model that is not listed, or when nothing is listed.",
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "cols": 48,
                "spellcheck": "false",
                "placeholder": "acme-7b <- llama-3-8b-instruct <- llama-3-8b",
            }
        ),
    )
    hidden_metadata_keys = forms.CharField(
        required=False,
        label="Metadata hidden from reviewers",
        help_text="Metadata keys, separated by commas or new lines, that reviewers never see while they audit "
        "(answer keys). Leads see them.",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 48, "spellcheck": "false"}),
    )
    quality_check_schedule = forms.ChoiceField(
        choices=QualityCheckSchedule.choices,
        label="Scheduled quality check",
        help_text="How often a worker recomputes the quality figures and drift and raises alerts, with nobody asking.",
    )

    SECTIONS = (
        ("Mix-in rule", ("phase", "min_real_share")),
        (
            "Audit gate, leak check and recursion guard",
            ("noise_floor_limit", "eval_leak_threshold", "max_generation_depth", "target_models"),
        ),
        ("Blind audits and scheduled checks", ("hidden_metadata_keys", "quality_check_schedule")),
    )

    def __init__(
        self, data: Mapping[str, Any] | None = None, *, project: Project, generators: list[Generator], **kwargs: Any
    ) -> None:
        caps = project.generator_caps or {}
        initial = {
            "phase": project.phase,
            "min_real_share": _percent(project.min_real_share),
            "noise_floor_limit": _percent(project.noise_floor_limit),
            "eval_leak_threshold": project.eval_leak_threshold,
            "max_generation_depth": project.max_generation_depth,
            "target_models": target_models_text(project.target_models or []),
            "hidden_metadata_keys": ", ".join(project.hidden_metadata_keys or []),
            "quality_check_schedule": project.quality_check_schedule,
        }
        self.generators = generators
        for generator in generators:
            initial[self.cap_field(generator)] = _percent(caps.get(generator.name))
        super().__init__(data, initial=initial, **kwargs)
        for generator in generators:
            # Named by id: a generator's name is free text and never becomes a field name.
            self.fields[self.cap_field(generator)] = forms.FloatField(
                required=False,
                min_value=0,
                max_value=100,
                label=f"Cap for {generator.name} (%)",
                error_messages=PERCENT_ERRORS,
                widget=forms.NumberInput(
                    attrs={"step": "any", "placeholder": "none", "aria-label": f"Cap for {generator.name} (%)"}
                ),
            )

    @staticmethod
    def cap_field(generator: Generator) -> str:
        return f"cap_{generator.pk}"

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def cap_rows(self) -> list[tuple[Generator, forms.BoundField]]:
        return [(generator, self[self.cap_field(generator)]) for generator in self.generators]

    def clean_target_models(self) -> list[dict]:
        try:
            return target_models_parse(self.cleaned_data["target_models"])
        except TargetModelsError as error:
            raise forms.ValidationError(str(error)) from error

    def clean_hidden_metadata_keys(self) -> list[str]:
        typed = re.split(r"[,\n]", self.cleaned_data["hidden_metadata_keys"])
        keys = list(dict.fromkeys(key.strip() for key in typed if key.strip()))
        too_long = [key for key in keys if len(key) > MAX_METADATA_KEY_CHARS]
        if too_long:
            raise forms.ValidationError(
                f"A metadata key is at most {MAX_METADATA_KEY_CHARS} characters: {too_long[0][:40]}… is longer."
            )
        if len(keys) > MAX_HIDDEN_METADATA_KEYS:
            raise forms.ValidationError(f"Hide at most {MAX_HIDDEN_METADATA_KEYS} keys.")
        return keys

    def changes(self) -> dict[str, Any]:
        """The whole policy as the service takes it (it records only what moved)."""
        data = self.cleaned_data
        caps = {
            generator.name: _share(data[self.cap_field(generator)])
            for generator in self.generators
            if data.get(self.cap_field(generator)) is not None
        }
        return {
            "phase": data["phase"],
            "min_real_share": _share(data["min_real_share"]),
            "noise_floor_limit": _share(data["noise_floor_limit"]),
            "eval_leak_threshold": data["eval_leak_threshold"],
            "max_generation_depth": data["max_generation_depth"],
            "generator_caps": caps,
            "target_models": data["target_models"],
            "hidden_metadata_keys": data["hidden_metadata_keys"],
            "quality_check_schedule": data["quality_check_schedule"],
        }

    def disable(self) -> None:
        for field in self.fields.values():
            field.disabled = True
