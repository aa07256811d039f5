"""The review queue: the next pending sample for one reviewer, in the order
the reviewer picked, found by keyset so it costs the same at 1M samples."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from generation.models import Sample, SampleFlag, SampleStatus
from reviews.models import QueueClaim, Verdict
from reviews.selectors.blinding import SEES_ALL, Blinding
from reviews.selectors.sample_view import LINEAGE_RELATED
from synthreview.projects.models import Project
from synthreview.projects.params import finite_float_or_none, non_negative_int_or_none
from synthreview.projects.selectors.counters import sample_count, sample_counts

QUEUE_ORDERS: dict[str, str] = {
    "oldest": "Oldest pending first",
    "flagged": "Flagged by automated checks first",
    "novelty": "Lowest novelty first",
}


@dataclass(frozen=True)
class _Segment:
    """A stretch of the queue with one keyset ordering. An order is a list of
    segments: "flagged first" is the flagged samples by id, then the rest by id."""

    filters: tuple
    fields: tuple[str, ...]


@dataclass(frozen=True)
class QueueCursor:
    segment: int
    values: tuple

    def __str__(self) -> str:
        return ":".join([str(self.segment), *(repr(v) for v in self.values)])

    @classmethod
    def parse(cls, text: str | None) -> QueueCursor | None:
        """The cursor a queue link carried ("segment:id", or "segment:novelty:id" in the novelty
        order), or None, the start of the queue, for anything else."""
        head, *values = (text or "").split(":")
        segment = non_negative_int_or_none(head)
        if segment is None or len(values) not in (1, 2):
            return None
        pk = non_negative_int_or_none(values[-1])
        if pk is None:
            return None
        if len(values) == 1:
            return cls(segment, (pk,))
        # A novelty may be a hair below zero (1 - a cosine that rounding put above 1): any finite number.
        novelty = finite_float_or_none(values[0])
        return cls(segment, (novelty, pk)) if novelty is not None else None


def _segments(order: str, project: Project) -> list[_Segment]:
    if order == "flagged":
        flagged = Exists(SampleFlag.objects.filter(sample=OuterRef("pk")))
        return [_Segment((flagged,), ("id",)), _Segment((~flagged,), ("id",))]
    if order == "novelty":
        scored = (Q(similarity__project=project), Q(similarity__novelty__isnull=False))
        unscored = (Q(similarity__isnull=True) | Q(similarity__novelty__isnull=True),)
        return [_Segment(scored, ("similarity__novelty", "id")), _Segment(unscored, ("id",))]
    return [_Segment((), ("id",))]


def _pending_for(
    project: Project, reviewer: User, *, verdicts: Q | None = None, blinding: Blinding = SEES_ALL
) -> QuerySet[Sample]:
    mine = Verdict.objects.filter(sample=OuterRef("pk"), reviewer=reviewer, audit__isnull=True)
    if verdicts is not None:
        mine = mine.filter(verdicts)
    # A sample on another reviewer's card (a claim that still runs) is theirs for now: the queue passes
    # it by, so reviewers working one queue at once see different samples.
    held = QueueClaim.objects.filter(sample=OuterRef("pk"), expires_at__gt=timezone.now()).exclude(reviewer=reviewer)
    pending = Sample.objects.filter(project=project, status=SampleStatus.PENDING).filter(~Exists(mine), ~Exists(held))
    # A held audit item is reviewed blind in its audit; here its place in a "flagged first" or
    # "lowest novelty" order would tell what the audit hides.
    return pending.exclude(pk__in=blinding.held) if blinding.held else pending


def _beyond(fields: tuple[str, ...], values: tuple, *, forward: bool) -> Q:
    """Rows strictly after (or before) `values` in the ordering by `fields`."""
    op = "gt" if forward else "lt"
    bound = "gte" if forward else "lte"
    if len(fields) == 1:
        return Q(**{f"{fields[0]}__{op}": values[0]})
    first, second = fields
    # The bound on the first field alone lets the index range-scan; the OR then trims it.
    return Q(**{f"{first}__{bound}": values[0]}) & (
        Q(**{f"{first}__{op}": values[0]}) | Q(**{first: values[0], f"{second}__{op}": values[1]})
    )


def _find(
    order: str,
    project: Project,
    reviewer: User,
    cursor: QueueCursor | None,
    *,
    forward: bool,
    blinding: Blinding = SEES_ALL,
) -> Sample | None:
    segments = _segments(order, project)
    if forward:
        indexes = range(cursor.segment if cursor else 0, len(segments))
    else:
        if cursor is None:
            return None
        indexes = range(min(cursor.segment, len(segments) - 1), -1, -1)
    for index in indexes:
        segment = segments[index]
        # The cursor bounds only its own segment, and only when it names a value for each of its fields.
        bound = (
            cursor
            if cursor is not None and index == cursor.segment and len(cursor.values) == len(segment.fields)
            else None
        )
        # An id cursor bounds the reviewer's verdicts too: PostgreSQL carries no range across the
        # anti-join, which otherwise reads all of their verdicts below the cursor (a merge join from
        # the start of the index), a cost that grows with the project (~10 ms at 1M samples).
        verdicts = (
            Q(**{f"sample_id__{'gt' if forward else 'lt'}": bound.values[0]})
            if bound is not None and segment.fields == ("id",)
            else None
        )
        queryset = _pending_for(project, reviewer, verdicts=verdicts, blinding=blinding).filter(*segment.filters)
        if bound is not None:
            queryset = queryset.filter(_beyond(segment.fields, bound.values, forward=forward))
        ordering = segment.fields if forward else tuple(f"-{f}" for f in segment.fields)
        # The id alone, then the sample with its lineage by primary key: the keyset query stays narrow, and
        # the card's generator, template and run come in one query instead of one each as it renders.
        found = queryset.order_by(*ordering).values_list("pk", flat=True).first()
        sample = Sample.objects.select_related(*LINEAGE_RELATED).filter(pk=found).first() if found else None
        if sample is not None:  # None too where the sample was deleted in between
            return sample
    return None


def queue_next(
    *,
    project: Project,
    reviewer: User,
    order: str,
    after: QueueCursor | None = None,
    wrap: bool = True,
    blinding: Blinding = SEES_ALL,
) -> Sample | None:
    """The next pending sample after `after`; past the end, back to the start, so
    skipped samples come round again."""
    sample = _find(order, project, reviewer, after, forward=True, blinding=blinding)
    if sample is None and after is not None and wrap:
        sample = _find(order, project, reviewer, None, forward=True, blinding=blinding)
    return sample


def queue_previous(
    *, project: Project, reviewer: User, order: str, before: QueueCursor, blinding: Blinding = SEES_ALL
) -> Sample | None:
    return _find(order, project, reviewer, before, forward=False, blinding=blinding)


def queue_cursor_of(
    sample: Sample, order: str, *, flagged: bool | None = None, novelty: float | None = None, scored: bool = False
) -> QueueCursor:
    """Where the sample sits in the order. Callers that already read its flags or
    its novelty (the card does) pass them, so nothing is read twice."""
    if order == "flagged":
        if flagged is None:
            flagged = SampleFlag.objects.filter(sample=sample).exists()
        return QueueCursor(0 if flagged else 1, (sample.pk,))
    if order == "novelty":
        if not scored:
            novelty = sample.similarity.novelty if hasattr(sample, "similarity") else None
        return QueueCursor(0, (novelty, sample.pk)) if novelty is not None else QueueCursor(1, (sample.pk,))
    return QueueCursor(0, (sample.pk,))


def queue_sample_of(project: Project, sample_id: int) -> Sample | None:
    """A sample of the project by id, or None; the queue falls back to it at either end."""
    return Sample.objects.select_related(*LINEAGE_RELATED).filter(project=project, pk=sample_id).first()


def queue_pending_estimate(project: Project) -> int:
    """Pending samples in the project, from the counters (never a COUNT(*))."""
    return sample_count(project.pk, status=SampleStatus.PENDING)


def queue_empty_reason(project: Project) -> str:
    """Why a reviewer's queue has nothing to show, from the counters (one read of at most six rows):
    "no-samples" (nothing imported or generated yet), "none-pending" (every sample decided) or
    "all-yours" (the pending ones have this reviewer's verdict, or sit on another reviewer's card)."""
    counts = sample_counts(project)
    if counts.total == 0:
        return "no-samples"
    if counts.status_total(SampleStatus.PENDING) == 0:
        return "none-pending"
    return "all-yours"
