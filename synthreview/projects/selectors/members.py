"""Reads of a project's members."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from synthreview.projects.models import ROLE_RANK, Membership, Project


def project_members(project: Project) -> QuerySet[Membership]:
    """The project's members with their accounts, admins first, then by username."""
    rank = Case(
        *(When(role=role, then=Value(-rank)) for role, rank in ROLE_RANK.items()),
        output_field=IntegerField(),
    )
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .annotate(role_order=rank)
        .order_by("role_order", "user__username")
    )
