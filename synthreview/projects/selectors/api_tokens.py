"""Reads of API tokens."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from synthreview.projects.models import ApiToken


def tokens_of(user: User, *, limit: int = 200) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, revoked and expired ones included so the page shows their history."""
    return ApiToken.objects.filter(user=user).select_related("project").order_by("-created_at", "-id")[:limit]
