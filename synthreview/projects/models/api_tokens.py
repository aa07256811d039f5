"""API tokens: a member's key for the REST API (/api/v1/), held by scripts and pipelines.

Only a SHA-256 of the secret is stored; the secret is shown once, when the token is made.
A token may be limited to one project and to a role below its owner's; the access it gives
is the lesser of the two (synthreview/projects/api/auth.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from synthreview.projects.models.projects import Project, Role

# Every secret starts with this, so a leaked one is recognisable in logs and by secret scanners.
TOKEN_SECRET_PREFIX = "srv_"


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What holds it: a pipeline, a notebook, a CI job.")
    # The first characters of the secret, shown on the tokens page so a user can tell tokens apart.
    prefix = models.CharField(max_length=16, db_index=True)
    secret_sha256 = models.CharField(max_length=64, unique=True)
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_tokens",
        help_text="Limits the token to this project; empty means every project its owner belongs to.",
    )
    role_cap = models.CharField(
        max_length=16,
        choices=Role.choices,
        blank=True,
        help_text="Limits the token to this role; empty means its owner's role in each project.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role_cap="") | Q(role_cap__in=Role.values), name="api_token_role_cap_is_a_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
