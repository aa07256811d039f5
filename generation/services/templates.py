"""Writes of prompt templates: each save is a new, immutable version."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from generation.checks.json_output import external_refs
from generation.checks.patterns import schema_pattern_problems, unsupported_patterns_message
from generation.models import (
    OutputFormat,
    PromptTemplate,
    PromptTemplateVersion,
)
from generation.prompts import placeholder_problems, template_variables
from synthreview.projects.access import ProjectAccess, signed_in_account
from synthreview.projects.services import audit_log_record


def template_version_create(
    access: ProjectAccess,
    *,
    template_name: str,
    text: str,
    variables: list[str] | None = None,
    output_format: str = "text",
    output_schema: dict | None = None,
    code_language: str = "",
    checks: list[str] | None = None,
) -> PromptTemplateVersion:
    """Versions are immutable; each change of text makes the next version.
    An empty `checks` means the output format's defaults (generation.checks)."""
    if misread := placeholder_problems(text, output_format=output_format):
        raise ValidationError(f"The template's text has placeholders the renderer does not read: {'; '.join(misread)}.")
    if output_format not in OutputFormat.values:
        raise ValidationError(f"output format must be one of {', '.join(OutputFormat.values)}, got {output_format!r}")
    if output_schema and (refs := external_refs(output_schema)):
        raise ValidationError(
            f"the output schema refers outside itself ({', '.join(refs[:3])}); only references "
            f"inside it (#…) are allowed"
        )
    if output_schema and (problems := schema_pattern_problems(output_schema)):
        raise ValidationError(unsupported_patterns_message(problems))
    with transaction.atomic():
        template, _ = PromptTemplate.objects.get_or_create(project=access.project, name=template_name)
        latest = (
            PromptTemplateVersion.objects.select_for_update().filter(template=template).order_by("-version").first()
        )
        version = PromptTemplateVersion.objects.create(
            template=template,
            version=(latest.version + 1) if latest else 1,
            text=text,
            variables=variables if variables is not None else template_variables(text),
            output_format=output_format,
            output_schema=output_schema,
            code_language=code_language,
            checks=checks or [],
            created_by=signed_in_account(access.actor),
        )
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="template.version",
            obj=version,
            details={"template": template.name, "version": version.version, "output_format": output_format},
        )
    return version
