"""The append-only audit log."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models, transaction

from synthreview.projects.access import SystemActor, signed_in_account
from synthreview.projects.models import AuditLog, Project
from synthreview.projects.services.audit_log_samples import audit_log_samples_link

# Objects are named by their model's label. The log is append-only and rows written
# before projects moved to this app name them by their old app, so those models keep
# their old label here: one object keeps one name in the log for ever.
STABLE_OBJECT_TYPES = {
    "projects.project": "generation.project",
    "projects.membership": "generation.membership",
    "projects.auditlog": "reviews.auditlog",
}


def audit_log_record(
    *,
    project: Project | None,
    actor: object | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    details: dict | None = None,
    samples: Sequence[int] = (),
) -> AuditLog:
    """One row of the log. `actor` is the user who acted, a SystemActor, or None; the actor column
    holds users only, so a system actor is named in `details["system_actor"]` (no migration needed,
    and rows written before system actors existed read the same). `samples` are the samples the entry
    acted on (a bulk action's, a group decision's): each sample's history finds the entry through them,
    and the entry and its links commit together."""
    details = dict(details or {})
    if isinstance(actor, SystemActor):
        details["system_actor"] = actor.name
    if obj is not None:
        label = obj._meta.label_lower
        object_type = object_type or STABLE_OBJECT_TYPES.get(label, label)
        object_id = object_id or str(obj.pk)
    fields = {
        "project": project,
        "actor": signed_in_account(actor),
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
    }
    if not samples:
        return AuditLog.objects.create(**fields)
    with transaction.atomic():
        entry = AuditLog.objects.create(**fields)
        audit_log_samples_link(entry=entry, sample_ids=samples)
    return entry
