"""Writes of generators: created and edited by leads, endpoints by admins only, checked on save."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from generation.models import (
    Generator,
    GeneratorKind,
)
from generation.programmatic import REGISTRY
from synthreview.outbound import validate_outbound_url
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import Project
from synthreview.projects.services import audit_log_record


def generator_create(
    access: ProjectAccess,
    *,
    name: str,
    kind: str,
    model_name: str = "",
    derived_from: list[str] | None = None,
    programmatic_name: str = "",
    temperature: float | None = None,
    seed: int | None = None,
    sampling_strategy: str = "",
    parameters: dict | None = None,
    endpoint: str = "",
    api_key_env: str = "",
    top_p: float | None = None,
    max_tokens: int | None = None,
    concurrency: int = 4,
    rate_limit_per_minute: int | None = None,
    request_timeout_s: float = 60.0,
    cost_per_million_input_tokens: Decimal | None = None,
    cost_per_million_output_tokens: Decimal | None = None,
) -> Generator:
    if kind not in GeneratorKind.values:
        raise ValidationError(f"unknown generator kind {kind!r}")
    with transaction.atomic():
        generator = Generator(
            project=access.project,
            name=name,
            kind=kind,
            model_name=model_name or name,
            derived_from=derived_from or [],
            programmatic_name=programmatic_name,
            temperature=temperature,
            seed=seed,
            sampling_strategy=sampling_strategy,
            parameters=parameters or {},
            endpoint=endpoint,
            api_key_env=api_key_env,
            top_p=top_p,
            max_tokens=max_tokens,
            concurrency=concurrency,
            rate_limit_per_minute=rate_limit_per_minute,
            request_timeout_s=request_timeout_s,
            cost_per_million_input_tokens=cost_per_million_input_tokens,
            cost_per_million_output_tokens=cost_per_million_output_tokens,
        )
        generator_check(generator, check_endpoint=True)
        generator.save()
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="generator.create",
            obj=generator,
            details={"name": name, "kind": kind, "model": generator.model_name},
        )
    return generator


# What an admin may change. The kind is fixed once made; an imported generator
# was configured elsewhere, so only what is known of its model may be corrected.
GENERATOR_EDITABLE = (
    "name",
    "model_name",
    "endpoint",
    "api_key_env",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "sampling_strategy",
    "parameters",
    "derived_from",
    "programmatic_name",
    "concurrency",
    "rate_limit_per_minute",
    "request_timeout_s",
    "cost_per_million_input_tokens",
    "cost_per_million_output_tokens",
)
IMPORTED_EDITABLE = ("model_name", "derived_from")
API_KEY_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def generator_update(access: ProjectAccess, *, generator: Generator, **fields: Any) -> Generator:
    """Change the given fields; the audit log names the fields that changed, never their values."""
    if generator.project_id != access.project.pk:
        raise ValueError(f"{generator.name} is not a generator of this project")
    allowed = IMPORTED_EDITABLE if generator.kind == GeneratorKind.IMPORTED else GENERATOR_EDITABLE
    refused = sorted(set(fields) - set(allowed))
    if refused:
        raise ValidationError(f"these fields of a {generator.kind} generator cannot be changed: {', '.join(refused)}")
    with transaction.atomic():
        generator = Generator.objects.select_for_update().get(pk=generator.pk)
        old_name = generator.name
        changed = sorted(field for field, value in fields.items() if getattr(generator, field) != value)
        if not changed:
            return generator
        for field in changed:
            setattr(generator, field, fields[field])
        generator_check(generator, check_endpoint="endpoint" in changed)
        generator.save(update_fields=changed)
        if "name" in changed:
            _rename_generator_cap(generator.project_id, old_name, generator.name)
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="generator.update",
            obj=generator,
            details={"name": generator.name, "changed": changed},
        )
    return generator


def generator_check(generator: Generator, *, check_endpoint: bool) -> None:
    """Model validation plus what each kind needs. The endpoint is looked up only
    when it is new: an unchanged one that stopped resolving should not block an
    edit of the temperature (the client checks it again at call time)."""
    errors: dict[str, list[str]] = {}
    try:
        # The model field's own validator would look the endpoint up too.
        generator.full_clean(exclude=None if check_endpoint else ["endpoint"])
    except ValidationError as error:
        errors.update(error.message_dict)
    if generator.kind == GeneratorKind.OPENAI_COMPATIBLE:
        if not generator.endpoint:
            errors.setdefault("endpoint", []).append("An OpenAI-compatible generator needs a base URL.")
        elif check_endpoint:
            try:
                validate_outbound_url(generator.endpoint, allow_private=settings.OUTBOUND_ALLOW_PRIVATE_HOSTS)
            except ValidationError as error:
                errors.setdefault("endpoint", []).extend(error.messages)
        if not generator.model_name:
            errors.setdefault("model_name", []).append("An OpenAI-compatible generator needs a model name.")
    if generator.kind == GeneratorKind.PROGRAMMATIC and generator.programmatic_name not in REGISTRY:
        errors.setdefault("programmatic_name", []).append(
            f"Choose a registered programmatic generator: {', '.join(sorted(REGISTRY))}."
        )
    if generator.api_key_env and not API_KEY_ENV_NAME.fullmatch(generator.api_key_env):
        errors.setdefault("api_key_env", []).append(
            "Name an environment variable: capital letters, digits and underscores, not starting with a digit."
        )
    elif generator.api_key_env and not generator.api_key_env.startswith(settings.GENERATOR_API_KEY_ENV_PREFIX):
        errors.setdefault("api_key_env", []).append(
            f"Key variables must start with {settings.GENERATOR_API_KEY_ENV_PREFIX} (the operator's "
            "GENERATOR_API_KEY_ENV_PREFIX), so no other server secret can be sent to an endpoint."
        )
    if not isinstance(generator.parameters, dict):
        errors.setdefault("parameters", []).append("Parameters must be a JSON object.")
    if not isinstance(generator.derived_from, list) or not all(isinstance(n, str) for n in generator.derived_from):
        errors.setdefault("derived_from", []).append("The lineage must be a list of model names.")
    if errors:
        raise ValidationError(errors)


def _rename_generator_cap(project_id: int, old: str, new: str) -> None:
    # Caps are keyed by generator name (Project.generator_caps); keep the cap with its generator.
    project = Project.objects.select_for_update().get(pk=project_id)
    if old in project.generator_caps:
        project.generator_caps[new] = project.generator_caps.pop(old)
        project.save(update_fields=["generator_caps"])
