"""The append-only audit log."""

from __future__ import annotations

from django.db import models

from generation.models import Project
from reviews.models import AuditLog


def audit_log_record(
    *,
    project: Project | None,
    actor: object | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    details: dict | None = None,
) -> AuditLog:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditLog.objects.create(
        project=project,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details or {},
    )
