from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import RegexValidator

from generation.models import Generator, GeneratorKind
from generation.programmatic import REGISTRY
from generation.services.generators import GENERATOR_EDITABLE, IMPORTED_EDITABLE
from synthreview.outbound import OutboundURLValidator

# Taken from the model as they are (its validators and help texts come along).
MODEL_FIELDS = [
    "name",
    "model_name",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "sampling_strategy",
    "concurrency",
    "rate_limit_per_minute",
    "request_timeout_s",
    "cost_per_million_input_tokens",
    "cost_per_million_output_tokens",
]
# The page shows every editable field, with the kind (fixed once made) after the name.
ORDER = [GENERATOR_EDITABLE[0], "kind", *GENERATOR_EDITABLE[1:]]


class GeneratorForm(forms.Form):
    """New generators are OpenAI-compatible or programmatic; imported ones come
    from imports, and only their model and lineage can be edited here."""

    kind = forms.ChoiceField(choices=[(k, label) for k, label in GeneratorKind.choices if k != GeneratorKind.IMPORTED])
    endpoint = forms.CharField(
        label="Base URL",
        max_length=500,
        required=False,
        validators=[OutboundURLValidator()],
        help_text="e.g. https://api.example.com/v1 (…/chat/completions is added). Not for programmatic generators.",
    )
    api_key_env = forms.CharField(
        label="API key variable",
        max_length=100,
        required=False,
        validators=[
            RegexValidator(
                r"^[A-Z_][A-Z0-9_]*\Z",
                "Name an environment variable: capital letters, digits and underscores, not starting with a digit.",
            )
        ],
        help_text="The name of the server's environment variable that holds the key (it must start with the "
        "operator's GENERATOR_API_KEY_ENV_PREFIX, SYNTHREVIEW_KEY_ by default); the key is never stored here.",
    )
    derived_from = forms.CharField(
        label="Derived from",
        max_length=1000,
        required=False,
        help_text="The model's ancestors, nearest first, separated by commas: e.g. llama-3-8b-instruct, llama-3-8b.",
    )
    parameters = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Further request parameters as a JSON object, e.g. {"frequency_penalty": 0.2}.',
    )
    programmatic_name = forms.ChoiceField(
        label="Programmatic generator",
        required=False,
        choices=[("", "—")] + [(name, name) for name in sorted(REGISTRY)],
    )

    def __init__(self, data: Any = None, *, generator: Generator | None = None) -> None:
        super().__init__(data, initial=_initial(generator) if generator else None)
        self.generator = generator
        self.fields.update(forms.fields_for_model(Generator, fields=MODEL_FIELDS))
        self.fields["model_name"].help_text = "The model name sent to the endpoint."
        if generator is not None:
            # The kind is fixed once made: samples and runs already point at it.
            self.fields["kind"].disabled = True
            cast(forms.ChoiceField, self.fields["kind"]).choices = GeneratorKind.choices
            editable = IMPORTED_EDITABLE if generator.kind == GeneratorKind.IMPORTED else GENERATOR_EDITABLE
            for name in list(self.fields):
                if name != "kind" and name not in editable:
                    del self.fields[name]
        self.order_fields(ORDER)

    def clean_derived_from(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["derived_from"].split(",") if name.strip()]

    def clean_parameters(self) -> dict:
        value = self.cleaned_data["parameters"]
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Enter a JSON object, e.g. {"frequency_penalty": 0.2}.')
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = cleaned.get("kind")
        if kind == GeneratorKind.OPENAI_COMPATIBLE:
            if "endpoint" in self.fields and not cleaned.get("endpoint") and "endpoint" not in self.errors:
                self.add_error("endpoint", "An OpenAI-compatible generator needs a base URL.")
            if "model_name" in self.fields and not cleaned.get("model_name"):
                self.add_error("model_name", "An OpenAI-compatible generator needs a model name.")
        if (
            kind == GeneratorKind.PROGRAMMATIC
            and "programmatic_name" in self.fields
            and not cleaned.get("programmatic_name")
        ):
            self.add_error("programmatic_name", "Choose the programmatic generator to run.")
        return cleaned

    def values(self) -> dict[str, Any]:
        """The service's keyword arguments: the fields this form edits."""
        return {name: self.cleaned_data[name] for name in self.fields if not self.fields[name].disabled}


def _initial(generator: Generator) -> dict[str, Any]:
    initial = {name: getattr(generator, name) for name in ORDER if name not in ("kind", "derived_from")}
    initial["kind"] = generator.kind
    initial["derived_from"] = ", ".join(generator.derived_from or [])
    return initial
