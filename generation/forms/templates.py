"""The form for a new prompt-template version: text, output format and the checks that apply."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from jsonschema import SchemaError
from jsonschema.validators import validator_for

from generation.checks import REGISTRY, default_checks_for
from generation.checks.json_output import external_refs
from generation.checks.patterns import schema_pattern_problems, unsupported_patterns_message
from generation.models import OutputFormat, PromptTemplateVersion
from generation.prompts import placeholder_problems, template_variables

CODE_LANGUAGES = [("", "—"), ("python", "Python"), ("javascript", "JavaScript")]


class TemplateVersionForm(forms.Form):
    # The form's metaclass takes declared fields off the class, so BaseForm's own `template_name` is untouched.
    template_name = forms.CharField(  # type: ignore[assignment]  # a field, not BaseForm's template name (see above)
        max_length=200,
        label="Template",
        widget=forms.TextInput(attrs={"list": "template-names"}),
        help_text="An existing template's name makes its next version; a new name starts a template.",
    )
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        help_text="Placeholders look like {{ facts }}: two braces around one name. {{ examples }} takes the "
        "few-shot block and {{ constraint }} the injected constraint.",
    )
    output_format = forms.ChoiceField(choices=OutputFormat.choices, initial=OutputFormat.TEXT)
    output_schema = forms.CharField(
        required=False,
        label="Output schema (JSON outputs)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "placeholder": '{"type": "object"}'}),
        help_text="A JSON schema every output must match; only for the JSON format.",
    )
    code_language = forms.ChoiceField(
        required=False,
        choices=CODE_LANGUAGES,
        label="Code language (code outputs)",
        help_text="The language whose syntax the code check parses; only for the code format.",
    )
    checks = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(check.name, f"{check.label}: {check.description}") for check in REGISTRY.values()],
        help_text="None ticked: the output format's defaults.",
    )

    def clean_template_name(self) -> str:
        name = self.cleaned_data["template_name"].strip()
        if not name:
            raise forms.ValidationError("Name the template.")
        return name

    def clean_output_schema(self) -> dict | None:
        raw = self.cleaned_data["output_schema"].strip()
        if not raw:
            return None
        try:
            schema = json.loads(raw)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"The schema is not valid JSON: {error.msg} (line {error.lineno}).") from None
        if not isinstance(schema, dict):
            raise forms.ValidationError('The schema must be a JSON object, such as {"type": "object"}.')
        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as error:
            raise forms.ValidationError(f"The schema is not a valid JSON schema: {error.message}") from None
        refs = external_refs(schema)
        if refs:
            raise forms.ValidationError(
                f"The schema refers outside itself ({', '.join(refs[:3])}): only "
                f"references inside it, such as #/$defs/item, are allowed."
            )
        if problems := schema_pattern_problems(schema):
            raise forms.ValidationError(unsupported_patterns_message(problems))
        return schema

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        output_format = cleaned.get("output_format")
        if cleaned.get("output_schema") is not None and output_format != OutputFormat.JSON:
            self.add_error("output_schema", "An output schema applies only to the JSON format.")
        if cleaned.get("code_language") and output_format != OutputFormat.CODE:
            self.add_error("code_language", "A code language applies only to the code format.")
        if "text" in cleaned and (problems := placeholder_problems(cleaned["text"], output_format=output_format or "")):
            self.add_error("text", problems)
        if "text" in cleaned:
            cleaned["variables"] = template_variables(cleaned["text"])
        return cleaned

    @classmethod
    def initial_from(cls, version: PromptTemplateVersion) -> dict:
        return {
            "template_name": version.template.name,
            "text": version.text,
            "output_format": version.output_format,
            "output_schema": json.dumps(version.output_schema, indent=2) if version.output_schema else "",
            "code_language": version.code_language,
            "checks": list(version.checks),
        }


def format_defaults() -> list[tuple[str, list[str]]]:
    """Each output format's label and its default checks' labels, for the form's note."""
    return [
        (label, [REGISTRY[name].label for name in default_checks_for(value)]) for value, label in OutputFormat.choices
    ]
