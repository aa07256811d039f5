"""Reviewers' decisions on near-duplicate groups and clusters."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from generation.models import SampleStatus
from reviews.models import (
    Cluster,
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateGroupStatus,
    DuplicateKind,
)
from reviews.selectors.blinding import held_items_refuse
from reviews.services.bulk import (
    BulkResult,
    samples_bulk_set_status,
    samples_status_set,
)
from reviews.services.membership import MembershipChanged, membership_confirmed
from synthreview.projects.access import ProjectAccess
from synthreview.projects.services import audit_log_record

# Re-exported: the one check every group, cluster or variant-family action makes.
__all__ = [
    "DecisionConflict",
    "MembershipChanged",
    "cluster_set_status",
    "duplicate_group_mark_not_duplicates",
    "duplicate_group_resolve",
    "duplicate_group_split",
    "membership_confirmed",
]


class DecisionConflict(Exception):
    """Someone else decided this group first."""

    def __init__(self, group: DuplicateGroup) -> None:
        who = group.resolved_by.username if group.resolved_by else "someone"
        super().__init__(f"{who} already marked this group “{group.get_status_display()}”.")
        self.group = group


def _open_group(access: ProjectAccess, group_id: int) -> DuplicateGroup:
    group = (
        DuplicateGroup.objects.select_for_update(of=("self",))
        .select_related("resolved_by")
        .filter(project=access.project, pk=group_id)
        .first()
    )
    if group is None:
        raise DuplicateGroup.DoesNotExist(f"No group {group_id} in this project.")
    if group.status != DuplicateGroupStatus.OPEN:
        raise DecisionConflict(group)
    if group.kind == DuplicateKind.VARIANT:
        # A regroup can turn a near-duplicate group into a family with the same members (and token):
        # keep-one on a card shown before that would reject every variant but one.
        raise ValidationError(
            "This group is now a family of templated variants: each member is its own problem, "
            "so it is not kept down to one. Look again and keep the most diverse instead."
        )
    return group


def _decide(group: DuplicateGroup, access: ProjectAccess, status: str) -> None:
    group.status = status
    group.resolved_by = access.user
    group.resolved_at = timezone.now()
    group.save(update_fields=["status", "resolved_by", "resolved_at", "representative", "representative_reason"])


def _member_ids(group: DuplicateGroup) -> list[int]:
    return list(DuplicateGroupMember.objects.filter(group=group).values_list("sample_id", flat=True))


def duplicate_group_resolve(
    access: ProjectAccess, *, group_id: int, keep_id: int, members: str, page_size: int
) -> DuplicateGroup:
    """Keep one member and reject the rest as duplicates of it; `members` is the
    token of the members the reviewer was shown."""
    with transaction.atomic():
        group = _open_group(access, group_id)
        member_ids = _member_ids(group)
        held_items_refuse(access, sample_ids=member_ids)
        membership_confirmed(noun="group", member_ids=member_ids, confirmed=members)
        if keep_id not in member_ids:
            raise ValidationError("The sample to keep must be a member of the group.")
        rejected = [pk for pk in member_ids if pk != keep_id]
        if len(rejected) > page_size and not access.can("bulk"):
            raise PermissionDenied(f"Only leads and admins may reject more than {page_size} samples at once.")
        changed = samples_status_set(project_id=access.project.pk, sample_ids=rejected, status=SampleStatus.REJECTED)
        suggested = group.representative_id
        group.representative_id = keep_id
        if keep_id != suggested:
            # The suggestion's reason ("earliest sample") is not why this one was kept.
            group.representative_reason = f"chosen by {getattr(access.actor, 'username', 'a reviewer')}"
        _decide(group, access, DuplicateGroupStatus.RESOLVED)
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="duplicate_group.resolve",
            obj=group,
            details={"kept": keep_id, "suggested": suggested, "sample_ids": changed, "rejected": rejected},
            samples=changed,
        )
    return group


def duplicate_group_mark_not_duplicates(access: ProjectAccess, *, group_id: int, members: str) -> DuplicateGroup:
    with transaction.atomic():
        group = _open_group(access, group_id)
        held_items_refuse(access, sample_ids=_member_ids(group))
        membership_confirmed(noun="group", member_ids=_member_ids(group), confirmed=members)
        _decide(group, access, DuplicateGroupStatus.NOT_DUPLICATES)
        audit_log_record(project=access.project, actor=access.actor, action="duplicate_group.not_duplicates", obj=group)
    return group


def duplicate_group_split(access: ProjectAccess, *, group_id: int, sample_id: int, members: str) -> DuplicateGroup:
    """Take one member out of the group. The group keeps its signature, so a
    rebuild that finds the same group does not put the member back."""
    with transaction.atomic():
        group = _open_group(access, group_id)
        held_items_refuse(access, sample_ids=_member_ids(group))
        membership_confirmed(noun="group", member_ids=_member_ids(group), confirmed=members)
        removed, _ = DuplicateGroupMember.objects.filter(group=group, sample_id=sample_id).delete()
        if not removed:
            raise ValidationError("That sample is not a member of the group.")
        remaining = list(DuplicateGroupMember.objects.filter(group=group).order_by("-similarity", "id"))
        group.size = len(remaining)
        fields = ["size"]
        if group.representative_id == sample_id and remaining:
            group.representative_id = remaining[0].sample_id
            group.representative_reason = "the closest remaining member, after the suggested one was split off"
            fields += ["representative", "representative_reason"]
        if len(remaining) < 2:
            # One member is no group: nothing is left to compare.
            group.status = DuplicateGroupStatus.NOT_DUPLICATES
            group.resolved_by, group.resolved_at = access.user, timezone.now()
            fields += ["status", "resolved_by", "resolved_at"]
        group.save(update_fields=fields)
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="duplicate_group.split",
            obj=group,
            details={"split_off": sample_id, "size": group.size},
        )
    return group


def cluster_set_status(
    access: ProjectAccess,
    *,
    cluster_id: int,
    status: str,
    queryset,
    expected_count: int,
    members: str,
    description: dict,
    page_size: int,
) -> BulkResult:
    """Accept or reject a whole cluster: a bulk action on its members, then the cluster's own mark.
    `members` is the token of the members the confirmation page showed."""
    with transaction.atomic():
        cluster = Cluster.objects.select_for_update().get(project=access.project, pk=cluster_id)
        result = samples_bulk_set_status(
            access,
            queryset=queryset,
            status=status,
            expected_count=expected_count,
            description=description,
            page_size=page_size,
            members=members,
            noun="cluster",
        )
        cluster.status = status
        cluster.save(update_fields=["status"])
    return result
