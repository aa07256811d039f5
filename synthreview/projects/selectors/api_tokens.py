"""Reads of API tokens."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from synthreview.projects.models import ApiToken, Project


def tokens_of(user: User, *, limit: int = 200) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, revoked and expired ones included so the page shows their history."""
    return ApiToken.objects.filter(user=user).select_related("project").order_by("-created_at", "-id")[:limit]


def token_project_choices(user: User) -> QuerySet[Project]:
    """The projects a token of `user` may be limited to: theirs, or every one for a site operator."""
    projects = Project.objects.order_by("name")
    return projects if user.is_superuser else projects.filter(memberships__user=user)
