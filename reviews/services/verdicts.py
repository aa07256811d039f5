"""Recording and undoing a reviewer's verdict from the review queue.

Outside audits a verdict decides the sample's status: correct accepts it,
wrong rejects it, unsure leaves it pending for someone else. Each write bumps
the sample's revision; a verdict made on an older revision is refused, so two
reviewers never overwrite each other without being told.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from generation.models import Sample, SampleStatus
from reviews.models import ErrorCategory, Verdict, VerdictValue
from reviews.selectors.blinding import HELD_ITEM_REFUSAL, held_for_reader, held_items_refuse
from reviews.selectors.browser import sample_history
from reviews.services.bulk import samples_status_set
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import AuditLog
from synthreview.projects.services import audit_log_record

STATUS_FOR_VERDICT = {
    VerdictValue.CORRECT: SampleStatus.ACCEPTED,
    VerdictValue.WRONG: SampleStatus.REJECTED,
    VerdictValue.UNSURE: SampleStatus.PENDING,
}


# How the conflict message words what someone else did to the sample.
ACTION_WORDS = {
    "samples.bulk_accept": "accepted it in a bulk action",
    "samples.bulk_reject": "rejected it in a bulk action",
    "duplicate_group.resolve": "resolved its near-duplicate group",
    "variant_family.trim": "trimmed its templated-variant family",
    "verdict.undo": "undid a verdict on it",
}


class VerdictConflict(Exception):
    """The sample changed since the reviewer loaded it."""

    def __init__(self, sample: Sample, latest_verdict: Verdict | None, latest_entry: AuditLog | None) -> None:
        super().__init__("This sample changed while you were looking at it.")
        self.sample = sample
        self.latest_verdict = latest_verdict
        self.latest_entry = latest_entry

    @property
    def other_action(self) -> str:
        """What the latest change was, when it was not a verdict (a bulk action, a group decision, an undo)."""
        entry = self.latest_entry
        if entry is None or entry.action == "verdict.record":
            return ""
        who = entry.actor.username if entry.actor else "someone"
        return f"{who} {ACTION_WORDS.get(entry.action, entry.action)}"


class UndoRefused(Exception):
    pass


def validated_verdict(value: str, error_category: str) -> tuple[str, str]:
    if value not in VerdictValue.values:
        raise ValidationError(f"Unknown verdict {value!r}.")
    if error_category and error_category not in ErrorCategory.values:
        raise ValidationError(f"Unknown error category {error_category!r}.")
    # A correct sample has no error; a stray category from the keyboard is dropped, not refused.
    return value, "" if value == VerdictValue.CORRECT else error_category


def signed_in_reviewer(access: ProjectAccess, what: str) -> User:
    """The person a verdict or a decision is recorded against: a system actor has no account to hold it."""
    if access.user is None:
        raise ValueError(f"{what} needs a signed-in reviewer, not {access.actor or 'no one'}.")
    return access.user


def verdict_record(
    access: ProjectAccess,
    *,
    sample_id: int,
    value: str,
    error_category: str = "",
    note: str = "",
    seen_revision: int,
    time_spent_ms: int | None = None,
) -> Verdict:
    project = access.project
    reviewer = signed_in_reviewer(access, "A verdict")
    value, error_category = validated_verdict(value, error_category)
    held_items_refuse(access, sample_ids=[sample_id])
    with transaction.atomic():
        sample = Sample.objects.select_for_update().get(project=project, pk=sample_id)
        if sample.revision != seen_revision:
            latest_verdict = (
                Verdict.objects.filter(sample=sample)
                .exclude(reviewer=reviewer)
                .select_related("reviewer")
                .order_by("-updated_at")
                .first()
            )
            history = sample_history(sample, limit=1)
            latest_entry = history[0] if history else None
            raise VerdictConflict(sample, latest_verdict, latest_entry)
        verdict = Verdict.objects.filter(sample=sample, reviewer=reviewer, audit__isnull=True).first()
        previous_status = sample.status
        if verdict is None:
            verdict = Verdict(sample=sample, reviewer=reviewer, previous_value="", previous_error_category="")
        else:
            verdict.previous_value, verdict.previous_error_category = verdict.value, verdict.error_category
        new_status = STATUS_FOR_VERDICT[VerdictValue(value)]
        if not samples_status_set(project_id=project.pk, sample_ids=[sample.pk], status=new_status):
            # The status stays, yet the sample has a new verdict: others holding it must still be told.
            Sample.objects.filter(pk=sample.pk).update(revision=sample.revision + 1)
        verdict.value, verdict.error_category, verdict.note = value, error_category, note.strip()
        verdict.time_spent_ms = time_spent_ms
        verdict.previous_status = previous_status
        verdict.sample_revision = sample.revision + 1
        verdict.save()
        audit_log_record(
            project=project,
            actor=reviewer,
            action="verdict.record",
            obj=sample,
            details={
                "value": value,
                "error_category": error_category,
                "status": {"from": previous_status, "to": new_status},
            },
        )
    return verdict


def verdict_undo(access: ProjectAccess) -> Sample | None:
    """Take back the reviewer's latest verdict in this project and restore the
    sample as it was; refused if someone changed the sample since."""
    project = access.project
    reviewer = signed_in_reviewer(access, "Undoing a verdict")
    with transaction.atomic():
        verdict = (
            Verdict.objects.select_for_update()
            .filter(reviewer=reviewer, audit__isnull=True, sample__project=project)
            # A verdict an earlier undo restored has no older status left to restore.
            .exclude(previous_status="")
            .order_by("-updated_at", "-id")
            .first()
        )
        if verdict is None:
            return None
        restored_status = verdict.previous_status
        if held_for_reader(access, sample_ids=[verdict.sample_id]):
            # Restoring the old status would decide the item outside its audit.
            raise UndoRefused(HELD_ITEM_REFUSAL)
        sample = Sample.objects.select_for_update().get(pk=verdict.sample_id)
        if sample.revision != verdict.sample_revision:
            raise UndoRefused(
                f"Sample {sample.pk} changed after your verdict (it is now {sample.get_status_display().lower()}); "
                "open it to review it again."
            )
        if not samples_status_set(project_id=project.pk, sample_ids=[sample.pk], status=restored_status):
            Sample.objects.filter(pk=sample.pk).update(revision=sample.revision + 1)
        undone = {"value": verdict.value, "error_category": verdict.error_category}
        if verdict.previous_value:
            verdict.value, verdict.error_category = verdict.previous_value, verdict.previous_error_category
            verdict.previous_value = verdict.previous_error_category = verdict.previous_status = ""
            verdict.sample_revision = sample.revision + 1
            verdict.save()
        else:
            verdict.delete()
        audit_log_record(
            project=project,
            actor=reviewer,
            action="verdict.undo",
            obj=sample,
            details={"undone": undone, "status": {"from": sample.status, "to": restored_status}},
        )
        sample.refresh_from_db()
    return sample
