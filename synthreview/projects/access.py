"""Every object a view touches is fetched through these helpers, or through the
per-app helpers built on them (generation/access.py, reviews/access.py).

A user outside a project gets 404 for everything in it (its existence is not
revealed); a member whose role may not act gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Model, OuterRef, Subquery
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


# What each need lets a role do, for refusals: "Your role (Expert) may not manage members here."
NEED_PHRASES: dict[str, str] = {
    "view": "open this project",
    "review": "review samples",
    "import": "import samples",
    "templates": "edit prompt templates",
    "generate": "launch generation runs",
    "export": "export samples",
    "audit": "draw or close audits",
    "dashboard": "read the dashboard",
    "similarity_settings": "change similarity settings",
    "audit_log": "read the audit log",
    "bulk": "accept or reject samples in bulk",
    "policy": "change the project's policy",
    "members": "manage members",
    "generators": "set generator endpoints",
}


def need_refusal(role_label: str, need: str) -> str:
    needed = NEEDS[need]
    return (
        f"Your role ({role_label}) may not {NEED_PHRASES[need]} in this project; that takes a {needed.label.lower()}."
    )


@dataclass(frozen=True)
class SystemActor:
    """Work that no person started in the app: a management command, the demo's seeding, a bench
    script, a scheduled task. Named by where it runs ("cli:export_samples", "demo", "task:quality_check")
    so the audit log says which program acted instead of leaving the actor blank.

    It is not a user and holds no membership: it may do everything a lead's or an admin's service
    needs in the project it is given, because whoever can run a management command or start the
    workers already holds the database. Deciding whether a person may act stays with the views, which
    build a ProjectAccess from the user's role; a system actor is only ever built in code.
    """

    name: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("A system actor needs a name that says what program acts.")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ProjectAccess:
    """Who acts in a project and what they may do: a member (or a superuser) with their role, or a
    SystemActor with no role, built by ProjectAccess.for_system.

    It is the first argument of every service that acts for someone: the service reads the project,
    checks nothing the view has not (the view asked `can(need)`), and records `actor` as who acted."""

    project: Project
    role: Role | None
    system_actor: SystemActor | None = None
    user: User | None = None

    def __post_init__(self) -> None:
        if (self.role is None) == (self.system_actor is None):
            raise ValueError("A ProjectAccess holds either a member's role or a system actor, not both or neither.")
        if self.user is not None and self.system_actor is not None:
            raise ValueError("A ProjectAccess acts for a member or for a system actor, not both.")

    @property
    def actor(self) -> User | SystemActor | None:
        """Who the audit log records: the member, the system actor, or no one."""
        return self.user if self.user is not None else self.system_actor

    @classmethod
    def for_system(cls, project: Project, actor: SystemActor) -> ProjectAccess:
        """Access for work with no person behind it; it may do everything (see SystemActor)."""
        return cls(project=project, role=None, system_actor=actor)

    def can(self, need: str) -> bool:
        needed = NEEDS[need]
        if self.role is None:
            return True  # a system actor: see SystemActor for why it may do everything
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]

    @cached_property
    def may(self) -> dict[str, bool]:
        """Every action's answer, for templates: `{% if access.may.audit %}`. Worked out once per access
        (a page's nav asks several times); the role cannot change under it."""
        return {need: self.can(need) for need in NEEDS}


def signed_in_account(user: object) -> User | None:
    """The account behind a request's user or a service's actor; None for an anonymous visitor or no one."""
    if not getattr(user, "is_authenticated", False):
        return None
    # Anyone signed in is an instance of AUTH_USER_MODEL, which is Django's User here.
    return cast(User, user)


def _role_in(user: AbstractBaseUser | AnonymousUser, project: Project) -> Role | None:
    account = signed_in_account(user)
    if account is None:
        return None
    if account.is_superuser:
        # Site operators administer every project.
        return Role.ADMIN
    role = Membership.objects.filter(user=account, project=project).values_list("role", flat=True).first()
    return Role(role) if role else None


def project_access(user: AbstractBaseUser | AnonymousUser, project: Project) -> ProjectAccess | None:
    """The user's access to a project a service was handed (no slug to look up); None for an outsider."""
    role = _role_in(user, project)
    return ProjectAccess(project=project, role=role, user=signed_in_account(user)) if role is not None else None


def get_project_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, need: str = "view") -> ProjectAccess:
    account = signed_in_account(user)
    if account is None:
        raise Http404("No such project.")
    # The project and the member's role in one query: every page and API call starts here.
    project = (
        Project.objects.filter(slug=slug)
        .annotate(
            member_role=Subquery(Membership.objects.filter(project=OuterRef("pk"), user=account).values("role")[:1])
        )
        .first()
    )
    if project is None:
        raise Http404("No such project.")
    role = Role.ADMIN if account.is_superuser else (Role(project.member_role) if project.member_role else None)
    if role is None:
        raise Http404("No such project.")
    access = ProjectAccess(project=project, role=role, user=signed_in_account(user))
    if not access.can(need):
        raise PermissionDenied(need_refusal(role.label, need))
    return access


def projects_for_user(user: AbstractBaseUser | AnonymousUser) -> list[ProjectAccess]:
    account = signed_in_account(user)
    if account is None:
        return []
    if account.is_superuser:
        return [ProjectAccess(project=p, role=Role.ADMIN, user=account) for p in Project.objects.order_by("name")]
    memberships = Membership.objects.filter(user=account).select_related("project").order_by("project__name")
    return [ProjectAccess(project=m.project, role=Role(m.role), user=account) for m in memberships]


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
    select_related: tuple[str, ...] = (),
) -> tuple[ProjectAccess, M]:
    """One object of `model` (any model with a `project` field) in the user's project: 404 for an
    outsider or another project's object, 403 for a role that may not `need`."""
    access = get_project_for_user(user, slug, need)
    found = model._default_manager.filter(project=access.project, pk=pk)
    if select_related:
        found = found.select_related(*select_related)
    obj = found.defer(*defer).first()
    if obj is None:
        raise Http404(f"No such {what} in this project.")
    return access, obj


@dataclass(frozen=True)
class InProjectGetter(Generic[M]):
    """An app's access helper for one model: get_in_project_for_user with the model bound,
    called as (user, slug, pk) or (user, slug, pk, need)."""

    model: type[M]
    what: str
    need: str
    defer: tuple[str, ...] = ()
    select_related: tuple[str, ...] = ()

    def __call__(
        self, user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str | None = None
    ) -> tuple[ProjectAccess, M]:
        return get_in_project_for_user(
            self.model,
            self.what,
            user,
            slug,
            pk,
            self.need if need is None else need,
            defer=self.defer,
            select_related=self.select_related,
        )
