"""Writes of the generation app: projects, members, templates, generators, counts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from generation.models import (
    Generator,
    GeneratorKind,
    Membership,
    Project,
    PromptTemplate,
    PromptTemplateVersion,
    Role,
    SampleCount,
)
from reviews.services import audit_log_record


def project_create(*, slug: str, name: str = "", actor: AbstractBaseUser | None = None) -> Project:
    with transaction.atomic():
        project = Project(slug=slug, name=name or slug)
        project.full_clean()
        project.save()
        audit_log_record(project=project, actor=actor, action="project.create", obj=project)
    return project


def membership_set(
    *,
    project: Project,
    username: str,
    role: str,
    password: str | None = None,
    actor: AbstractBaseUser | None = None,
) -> Membership:
    """Give a user a role in a project, creating the user if needed."""
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        elif created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        membership, _ = Membership.objects.update_or_create(user=user, project=project, defaults={"role": role})
        audit_log_record(
            project=project, actor=actor, action="membership.set", obj=membership,
            details={"user": username, "role": role, "user_created": created},
        )
    return membership


def template_version_create(
    *,
    project: Project,
    template_name: str,
    text: str,
    variables: list[str] | None = None,
    output_format: str = "text",
    actor: AbstractBaseUser | None = None,
) -> PromptTemplateVersion:
    """Versions are immutable; each change of text makes the next version."""
    with transaction.atomic():
        template, _ = PromptTemplate.objects.get_or_create(project=project, name=template_name)
        latest = (
            PromptTemplateVersion.objects.select_for_update().filter(template=template).order_by("-version").first()
        )
        version = PromptTemplateVersion.objects.create(
            template=template,
            version=(latest.version + 1) if latest else 1,
            text=text,
            variables=variables or [],
            output_format=output_format,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
    return version


def generator_create(
    *,
    project: Project,
    name: str,
    kind: str,
    model_name: str = "",
    derived_from: list[str] | None = None,
    programmatic_name: str = "",
    temperature: float | None = None,
    seed: int | None = None,
    sampling_strategy: str = "",
    parameters: dict | None = None,
    actor: AbstractBaseUser | None = None,
) -> Generator:
    if kind not in GeneratorKind.values:
        raise ValidationError(f"unknown generator kind {kind!r}")
    with transaction.atomic():
        generator = Generator(
            project=project,
            name=name,
            kind=kind,
            model_name=model_name or name,
            derived_from=derived_from or [],
            programmatic_name=programmatic_name,
            temperature=temperature,
            seed=seed,
            sampling_strategy=sampling_strategy,
            parameters=parameters or {},
        )
        generator.full_clean()
        generator.save()
        audit_log_record(project=project, actor=actor, action="generator.create", obj=generator)
    return generator


def sample_count_add(*, project_id: int, origin: str, status: str, delta: int) -> None:
    """Keep the per-project counters in step with a write of samples; call it
    inside the same transaction as the write."""
    if delta == 0:
        return
    SampleCount.objects.get_or_create(project_id=project_id, origin=origin, status=status)
    SampleCount.objects.filter(project_id=project_id, origin=origin, status=status).update(count=F("count") + delta)
