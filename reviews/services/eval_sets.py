"""The eval set: real samples only, frozen into versions that never change.

Samples enter or leave the eval *split* freely; creating a version freezes the
split's members as they are, identified by a hash over their sorted content
hashes. Exports name a version, so what a model was evaluated on is known.
"""

from __future__ import annotations

import hashlib
import random

from django.db import transaction
from django.db.models import Max

from generation.models import Origin, Sample, SampleStatus, Split
from reviews.models import EvalSetMember, EvalSetVersion
from synthreview.projects.access import ProjectAccess
from synthreview.projects.queue import enqueue_on_commit
from synthreview.projects.services import audit_log_record

# Ids listed in one refusal message before "and N more".
LISTED_IDS = 20
INSERT_CHUNK = 5000


class EvalSetError(ValueError):
    """The eval set refused a change; the message says why and which samples."""


def eval_set_hash(content_hashes: list[str]) -> str:
    """sha256 over the sorted content hashes, one per line: the same members give the same hash."""
    digest = hashlib.sha256()
    for value in sorted(content_hashes):
        digest.update(value.encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


def _listed(ids: list[int]) -> str:
    shown = ", ".join(str(pk) for pk in ids[:LISTED_IDS])
    return shown + (f" and {len(ids) - LISTED_IDS:,} more" if len(ids) > LISTED_IDS else "")


def eval_split_add(access: ProjectAccess, *, sample_ids: list[int]) -> int:
    """Put these real samples in the eval split; all or nothing. Returns how many moved."""
    project = access.project
    wanted = sorted(set(sample_ids))
    if not wanted:
        raise EvalSetError("Name at least one sample.")
    with transaction.atomic():
        rows = dict(
            Sample.objects.select_for_update().filter(project=project, pk__in=wanted).values_list("id", "origin")
        )
        unknown = [pk for pk in wanted if pk not in rows]
        if unknown:
            raise EvalSetError(f"No such sample in this project: {_listed(unknown)}. Nothing was changed.")
        synthetic = [pk for pk in wanted if rows[pk] != Origin.REAL]
        if synthetic:
            raise EvalSetError(
                f"The eval set holds real samples only; these are synthetic: {_listed(synthetic)}. Nothing was changed."
            )
        moved = Sample.objects.filter(pk__in=wanted).exclude(split=Split.EVAL).update(split=Split.EVAL)
        audit_log_record(
            project=project,
            actor=access.actor,
            action="eval_split.add",
            object_type="generation.sample",
            details={"sample_ids": wanted, "moved": moved},
        )
    return moved


def eval_split_remove(access: ProjectAccess, *, sample_ids: list[int]) -> int:
    """Take samples out of the eval split (frozen versions keep them)."""
    project = access.project
    wanted = sorted(set(sample_ids))
    with transaction.atomic():
        moved = Sample.objects.filter(project=project, pk__in=wanted, split=Split.EVAL).update(split=Split.NONE)
        audit_log_record(
            project=project,
            actor=access.actor,
            action="eval_split.remove",
            object_type="generation.sample",
            details={"sample_ids": wanted, "moved": moved},
        )
    return moved


def eval_split_draw(access: ProjectAccess, *, count: int, seed: int | None = None) -> int:
    """Draw `count` real samples at random (seeded) from those in no split and not rejected."""
    if count < 1:
        raise EvalSetError("Draw at least one sample.")
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    pool = list(
        Sample.objects.filter(project=access.project, origin=Origin.REAL, split=Split.NONE)
        .exclude(status=SampleStatus.REJECTED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if len(pool) < count:
        raise EvalSetError(
            f"Only {len(pool):,} real samples are free to draw (in no split and not rejected); "
            f"{count:,} were asked for."
        )
    chosen = sorted(random.Random(seed).sample(pool, count))
    with transaction.atomic():
        moved = Sample.objects.filter(pk__in=chosen, split=Split.NONE).update(split=Split.EVAL)
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="eval_split.draw",
            object_type="generation.sample",
            details={"seed": seed, "count": count, "moved": moved, "sample_ids": chosen},
        )
    return moved


def eval_set_version_create(access: ProjectAccess, *, note: str = "") -> EvalSetVersion:
    """Freeze the eval split's members into a new version."""
    project = access.project
    with transaction.atomic():
        # One version at a time per project: two leads freezing at once get v3 and v4, not a clash.
        type(project).objects.select_for_update().filter(pk=project.pk).first()
        members = list(
            Sample.objects.filter(project=project, split=Split.EVAL)
            .order_by("id")
            .values_list("id", "content_hash", "origin")
        )
        if not members:
            raise EvalSetError("The eval split is empty: add real samples to it first.")
        synthetic = [pk for pk, _, origin in members if origin != Origin.REAL]
        if synthetic:  # the sample table's own constraint makes this unreachable; kept as the service's word
            raise EvalSetError(f"The eval set holds real samples only; these are synthetic: {_listed(synthetic)}.")
        digest = eval_set_hash([content_hash for _, content_hash, _ in members])
        latest = eval_set_latest(project.pk)
        if latest is not None and latest.content_hash == digest:
            raise EvalSetError(
                f"The eval split has not changed since v{latest.version} "
                f"(hash {digest[:12]}…); that version is still current."
            )
        number = (EvalSetVersion.objects.filter(project=project).aggregate(top=Max("version"))["top"] or 0) + 1
        version = EvalSetVersion.objects.create(
            project=project,
            version=number,
            content_hash=digest,
            member_count=len(members),
            note=note,
            created_by=access.user,
        )
        for start in range(0, len(members), INSERT_CHUNK):
            EvalSetMember.objects.bulk_create(
                EvalSetMember(version=version, sample_id=pk, content_hash=content_hash, origin=origin)
                for pk, content_hash, origin in members[start : start + INSERT_CHUNK]
            )
        audit_log_record(
            project=project,
            actor=access.actor,
            action="eval_set.version_create",
            obj=version,
            details={"version": number, "hash": digest, "members": len(members), "note": note},
        )
        enqueue_on_commit("reviews.tasks.eval_leak_check_task", version.pk)
    return version


def eval_set_latest(project_id: int) -> EvalSetVersion | None:
    return EvalSetVersion.objects.filter(project_id=project_id).order_by("-version").first()
