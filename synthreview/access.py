"""Every object a view touches is fetched through these helpers.

A user outside a project gets 404 for everything in it (its existence is not
revealed); a member whose role may not act gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from generation.models import ROLE_RANK, Generator, ImportBatch, Membership, Project, Role, Sample

if TYPE_CHECKING:
    from generation.models import GenerationRun
    from reviews.models import Alert, Audit, Cluster, DuplicateGroup, Export

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


def get_sample_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review") -> Sample:
    return get_sample_with_access(user, slug, pk, need)[1]


def get_sample_with_access(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
                           ) -> tuple[ProjectAccess, Sample]:
    access = get_project_for_user(user, slug, need)
    sample = (
        Sample.objects.select_related("generator", "run", "template_version__template", "import_batch")
        .filter(project=access.project, pk=pk)
        .first()
    )
    if sample is None:
        raise Http404("No such sample in this project.")
    return access, sample


def get_import_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int) -> ImportBatch:
    access = get_project_for_user(user, slug, "import")
    batch = ImportBatch.objects.filter(project=access.project, pk=pk).first()
    if batch is None:
        raise Http404("No such import in this project.")
    return batch


def projects_for_user(user: AbstractBaseUser | AnonymousUser) -> list[ProjectAccess]:
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return [ProjectAccess(project=p, role=Role.ADMIN) for p in Project.objects.order_by("name")]
    memberships = Membership.objects.filter(user=user).select_related("project").order_by("project__name")
    return [ProjectAccess(project=m.project, role=Role(m.role)) for m in memberships]


def _in_project(model: type, what: str, user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str,
                *, defer: tuple[str, ...] = ()) -> tuple[ProjectAccess, object]:
    access = get_project_for_user(user, slug, need)
    obj = model.objects.filter(project=access.project, pk=pk).defer(*defer).first()
    if obj is None:
        raise Http404(f"No such {what} in this project.")
    return access, obj


def get_generator_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "view"
                           ) -> tuple[ProjectAccess, Generator]:
    return _in_project(Generator, "generator", user, slug, pk, need)


def get_duplicate_group_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
                                 ) -> tuple[ProjectAccess, DuplicateGroup]:
    from reviews.models import DuplicateGroup

    return _in_project(DuplicateGroup, "near-duplicate group", user, slug, pk, need)


def get_cluster_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
                         ) -> tuple[ProjectAccess, Cluster]:
    from reviews.models import Cluster

    return _in_project(Cluster, "cluster", user, slug, pk, need)


def get_audit_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
                       ) -> tuple[ProjectAccess, Audit]:
    from reviews.models import Audit

    return _in_project(Audit, "audit", user, slug, pk, need)


def get_alert_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "dashboard"
                       ) -> tuple[ProjectAccess, Alert]:
    from reviews.models import Alert

    return _in_project(Alert, "alert", user, slug, pk, need)


def get_export_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "export"
                        ) -> tuple[ProjectAccess, Export]:
    from reviews.models import Export

    return _in_project(Export, "export", user, slug, pk, need)


def get_run_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "view"
                     ) -> tuple[ProjectAccess, GenerationRun]:
    from generation.models import GenerationRun

    # A run's plan (every row's variables) can be large and no page needs it.
    return _in_project(GenerationRun, "run", user, slug, pk, need, defer=("variable_rows",))
