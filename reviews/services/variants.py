"""Reviewers' decisions on templated-variant families: keep a few, the most diverse, reject the rest."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from generation.models import SampleStatus
from reviews.models import (
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateGroupStatus,
    DuplicateKind,
)
from reviews.selectors.blinding import held_items_refuse
from reviews.services.bulk import samples_status_set
from reviews.services.membership import membership_confirmed
from synthreview.projects.access import ProjectAccess
from synthreview.projects.services import audit_log_record


class FamilyDecided(Exception):
    """Someone else decided this family first."""

    def __init__(self, family: DuplicateGroup) -> None:
        who = family.resolved_by.username if family.resolved_by else "someone"
        super().__init__(f"{who} already marked this family “{family.get_status_display()}”.")
        self.family = family


def variant_family_trim(
    access: ProjectAccess, *, group_id: int, members: str, keep_ids: list[int], page_size: int
) -> tuple[DuplicateGroup, list[int]]:
    """Keep exactly the members the reviewer checked and reject the others.

    `members` is the token of the members the card showed (reviews.similarity.membership):
    if the family's membership changed since, nothing is written. Returns the family and
    the rejected ids."""
    with transaction.atomic():
        family = (
            DuplicateGroup.objects.select_for_update(of=("self",))
            .select_related("resolved_by")
            .filter(project=access.project, pk=group_id, kind=DuplicateKind.VARIANT)
            .first()
        )
        if family is None:
            raise ValidationError("That is not a templated-variant family of this project.")
        if family.status != DuplicateGroupStatus.OPEN:
            raise FamilyDecided(family)
        member_ids = list(DuplicateGroupMember.objects.filter(group=family).values_list("sample_id", flat=True))
        held_items_refuse(access, sample_ids=member_ids)
        membership_confirmed(noun="family", member_ids=member_ids, confirmed=members)
        keep = set(keep_ids)
        if not keep:
            raise ValidationError("Check at least one member to keep.")
        if not keep <= set(member_ids):
            raise ValidationError("Every sample to keep must be a member of the family.")
        rejected = sorted(set(member_ids) - keep)
        if len(rejected) > page_size and not access.can("bulk"):
            raise PermissionDenied(f"Only leads and admins may reject more than {page_size} samples at once.")
        changed = samples_status_set(project_id=access.project.pk, sample_ids=rejected, status=SampleStatus.REJECTED)
        suggested = sorted(
            DuplicateGroupMember.objects.filter(
                group=family, diversity_rank__lt=access.project.variant_keep_max
            ).values_list("sample_id", flat=True)
        )
        if family.representative_id not in keep:
            family.representative_id = min(keep)
            family.representative_reason = f"kept by {getattr(access.actor, 'username', 'a reviewer')}"
        family.status = DuplicateGroupStatus.TRIMMED
        family.resolved_by = access.user
        family.resolved_at = timezone.now()
        family.save(update_fields=["status", "resolved_by", "resolved_at", "representative", "representative_reason"])
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="variant_family.trim",
            obj=family,
            details={"kept": sorted(keep), "suggested": suggested, "rejected": rejected, "sample_ids": changed},
            samples=changed,
        )
    return family, rejected
