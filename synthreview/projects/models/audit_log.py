"""The append-only audit log: who did what to which object, and when.

Every app writes it (synthreview/projects/services/audit_log.py); on PostgreSQL a
trigger refuses UPDATE and DELETE on its rows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from synthreview.projects.models.projects import Project


class AuditLog(models.Model):
    """Append-only record of who did what to which object, and when."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_log")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The table keeps its name from when the log lived in `reviews`; the append-only
        # trigger (reviews/migrations/0005_auditlog_append_only.py) is attached to it.
        db_table = "reviews_auditlog"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="auditlog_project_recent"),
            # A sample's history on its detail page.
            models.Index(fields=["object_type", "object_id", "-id"], name="auditlog_object_recent"),
            # The audit-log page filtered by action or by actor: a rare one is found without scanning the log.
            models.Index(fields=["project", "action", "-id"], name="auditlog_project_action"),
            models.Index(fields=["project", "actor", "-id"], name="auditlog_project_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValidationError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValidationError("The audit log is append-only.")
