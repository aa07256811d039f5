"""Every object a view touches is fetched through these helpers, or through the
per-app helpers built on them (generation/access.py, reviews/access.py).

A user outside a project gets 404 for everything in it (its existence is not
revealed); a member whose role may not act gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404

from synthreview.projects.models import ROLE_RANK, Membership, Project, Role

# What each kind of action needs. Views name the action, not the role.
NEEDS: dict[str, Role] = {
    "view": Role.EXPERT,
    "review": Role.EXPERT,
    "import": Role.LEAD,
    "templates": Role.LEAD,
    "generate": Role.LEAD,
    "export": Role.LEAD,
    "audit": Role.LEAD,
    "dashboard": Role.LEAD,
    "similarity_settings": Role.LEAD,
    "audit_log": Role.LEAD,
    "bulk": Role.LEAD,
    "policy": Role.ADMIN,
    "members": Role.ADMIN,
    "generators": Role.ADMIN,
}


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: Role

    def can(self, need: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[NEEDS[need]]

    @property
    def may(self) -> dict[str, bool]:
        """Every action's answer, for templates: `{% if access.may.audit %}`."""
        return {need: self.can(need) for need in NEEDS}


def _role_in(user: AbstractBaseUser | AnonymousUser, project: Project) -> Role | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        # Site operators administer every project.
        return Role.ADMIN
    role = Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
    return Role(role) if role else None


def project_access(user: AbstractBaseUser | AnonymousUser, project: Project) -> ProjectAccess | None:
    """The user's access to a project a service was handed (no slug to look up); None for an outsider."""
    role = _role_in(user, project)
    return ProjectAccess(project=project, role=role) if role is not None else None


def get_project_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, need: str = "view") -> ProjectAccess:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    role = _role_in(user, project)
    if role is None:
        raise Http404("No such project.")
    access = ProjectAccess(project=project, role=role)
    if not access.can(need):
        raise PermissionDenied(f"Your role ({role.label}) may not {need} in this project.")
    return access


def projects_for_user(user: AbstractBaseUser | AnonymousUser) -> list[ProjectAccess]:
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return [ProjectAccess(project=p, role=Role.ADMIN) for p in Project.objects.order_by("name")]
    memberships = Membership.objects.filter(user=user).select_related("project").order_by("project__name")
    return [ProjectAccess(project=m.project, role=Role(m.role)) for m in memberships]


M = TypeVar("M", bound=Model)


def get_in_project_for_user(
    model: type[M],
    what: str,
    user: AbstractBaseUser | AnonymousUser,
    slug: str,
    pk: int,
    need: str,
    *,
    defer: tuple[str, ...] = (),
) -> tuple[ProjectAccess, M]:
    """One object of `model` (any model with a `project` field) in the user's project."""
    access = get_project_for_user(user, slug, need)
    obj = model._default_manager.filter(project=access.project, pk=pk).defer(*defer).first()
    if obj is None:
        raise Http404(f"No such {what} in this project.")
    return access, obj
