"""Writes of the ground floor: projects and their members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, User
from django.core.exceptions import ValidationError
from django.db import transaction

from synthreview.projects.access import ProjectAccess, SystemActor
from synthreview.projects.models import Membership, Project, Role
from synthreview.projects.services import audit_log_record


def project_create(
    *,
    slug: str,
    name: str = "",
    description: str = "",
    actor: AbstractBaseUser | SystemActor | None = None,
    first_admin: User | None = None,
) -> Project:
    """A new project. `first_admin`, when given, becomes its admin member, so a project made in
    the app has someone who can add the others."""
    with transaction.atomic():
        project = Project(slug=slug, name=name or slug, description=description)
        project.full_clean()
        project.save()
        audit_log_record(project=project, actor=actor, action="project.create", obj=project)
        if first_admin is not None:
            membership = Membership.objects.create(user=first_admin, project=project, role=Role.ADMIN)
            audit_log_record(
                project=project,
                actor=actor,
                action="membership.add",
                obj=membership,
                details={"user": first_admin.get_username(), "role": Role.ADMIN, "invited": False},
            )
    return project


def membership_set(access: ProjectAccess, *, username: str, role: str, password: str | None = None) -> Membership:
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
        membership, _ = Membership.objects.update_or_create(user=user, project=access.project, defaults={"role": role})
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="membership.set",
            obj=membership,
            details={"user": username, "role": role, "user_created": created},
        )
    return membership
