"""Access helpers for the reviews app's objects, on top of the ground floor's (synthreview/projects/access.py)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from reviews.models import Alert, Audit, Cluster, DuplicateGroup, Export
from synthreview.projects.access import ProjectAccess, get_in_project_for_user


def get_duplicate_group_for_user(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
) -> tuple[ProjectAccess, DuplicateGroup]:
    return get_in_project_for_user(DuplicateGroup, "near-duplicate group", user, slug, pk, need)


def get_cluster_for_user(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
) -> tuple[ProjectAccess, Cluster]:
    return get_in_project_for_user(Cluster, "cluster", user, slug, pk, need)


def get_audit_for_user(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
) -> tuple[ProjectAccess, Audit]:
    return get_in_project_for_user(Audit, "audit", user, slug, pk, need)


def get_alert_for_user(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "dashboard"
) -> tuple[ProjectAccess, Alert]:
    return get_in_project_for_user(Alert, "alert", user, slug, pk, need)


def get_export_for_user(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "export"
) -> tuple[ProjectAccess, Export]:
    return get_in_project_for_user(Export, "export", user, slug, pk, need)
