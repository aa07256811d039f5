"""What a reviewer may not see while an audit is open: the one place every page asks.

An audit has no assignment: any expert of the project may be dealt any item that
still lacks the verdicts its overlap asks for, and may revise their own verdict
until the audit closes. So for everyone below a lead, every item of every open
audit in the project is *held*: pages show its texts and label, and the reader's
own verdicts, but not other reviewers' verdicts or notes, its lineage (origin,
generator, run, template, import, generation depth, status, checks), its
neighbours, its metadata (its keys alone tell a run's sample from an import's), or
anything that says it is gold. Filters on those attributes never return a held item,
so membership cannot tell them either; and nothing outside the audit (a queue verdict,
an undo, a bulk action, a group decision) may decide it.

Metadata keys the project marks hidden (answer keys) are withheld from everyone
below a lead, on every sample, audit or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from generation.models import Sample, SampleFlag
from reviews.models import AuditItem, AuditStatus
from synthreview.projects.access import ProjectAccess

# Said wherever an action outside the audit is refused on a held item: the action would decide (or, refused
# for another reason, describe) the item before the audit's reviewers have judged it.
HELD_ITEM_REFUSAL = "This sample is an item of an open audit; judge it in the audit's queue."

# Browser filters that never say anything an audit hides: the text itself, and ids the reader typed.
BLIND_SAFE_FILTERS = frozenset({"q", "ids"})

Row = TypeVar("Row")

# How a leak flag's reason names its eval sample (reviews/services/eval_leaks.py).
_EVAL_SAMPLE = re.compile(r"\beval sample (\d+)\b")


@dataclass(frozen=True)
class Blinding:
    reader_id: int | None
    held: frozenset[int]
    hidden_metadata_keys: frozenset[str]

    def hides(self, sample_id: int | None) -> bool:
        return sample_id is not None and sample_id in self.held

    def mark(self, samples: Iterable[Sample]) -> None:
        """Sets `blinded` on each sample object, so a template can write `{% if sample.blinded %}`."""
        for sample in samples:
            sample.blinded = self.hides(sample.pk)  # type: ignore[attr-defined]  # a flag for templates, not a field

    def filtered(self, queryset: QuerySet[Sample], filters: Mapping[str, Any]) -> QuerySet[Sample]:
        """A filter on anything but text and ids leaves held items out, whichever value it asks
        for, so `origin=real` and `origin=synthetic` alike say nothing about them."""
        if not self.held:
            return queryset
        used = {key for key, value in filters.items() if value not in (None, "", [])}
        if used <= BLIND_SAFE_FILTERS:
            return queryset
        return queryset.exclude(pk__in=self.held)

    def actionable(self, queryset: QuerySet[Sample]) -> QuerySet[Sample]:
        """What a reader may accept or reject in bulk: never a held item, even named by id, since the
        result ("accepted 0 of 1") would tell its status, and the change would pre-empt the audit."""
        return queryset.exclude(pk__in=self.held) if self.held else queryset

    def excludes_from(self, filters: Mapping[str, Any]) -> bool:
        """Whether `filtered` would leave held items out (the counters cannot answer then)."""
        used = {key for key, value in filters.items() if value not in (None, "", [])}
        return bool(self.held) and not used <= BLIND_SAFE_FILTERS

    def metadata(self, metadata: Mapping[str, Any] | None, *, sample_id: int | None = None) -> dict[str, Any]:
        """A held sample shows none: the keys alone tell lineage (a run's samples carry run_item_id, params,
        finish_reason; a gold item from a real import carries none), so a blocklist cannot be enough."""
        if self.hides(sample_id):
            return {}
        return {key: value for key, value in (metadata or {}).items() if key not in self.hidden_metadata_keys}

    def flag_reasons(self, flags: Iterable[SampleFlag]) -> list[SampleFlag]:
        """An eval-leak flag names the eval sample leaked; eval sets hold only real samples, so naming a
        held one would say it is real. The reader sees "an eval sample" instead (nothing is saved)."""
        flags = list(flags)
        if self.held:
            for flag in flags:
                flag.reason = _EVAL_SAMPLE.sub(
                    lambda found: "an eval sample" if int(found.group(1)) in self.held else found.group(0), flag.reason
                )
        return flags

    def left_out(self, rows: Iterable[Mapping[str, Any]], *, key: str = "sample_id") -> list[Mapping[str, Any]]:
        """Rows about samples (a closed audit's disagreements) less those about held samples: a sample can
        be an item of a closed audit and an open one (gold items are reused), and these rows carry
        other reviewers' verdicts and notes."""
        return [row for row in rows if not self.hides(row.get(key))]

    def own_only(self, sample_id: int, rows: Iterable[Row], *, author: str) -> list[Row]:
        """For a held sample, only the rows (verdicts, history entries) the reader wrote themself."""
        rows = list(rows)
        if not self.hides(sample_id):
            return rows
        return [row for row in rows if getattr(row, author) == self.reader_id]


SEES_ALL = Blinding(reader_id=None, held=frozenset(), hidden_metadata_keys=frozenset())


def blinding_for(user: Any, access: ProjectAccess) -> Blinding:
    """Leads and admins see everything; experts are blind to the open audits' items."""
    if access.can("audit"):
        return SEES_ALL
    # Read once per request: request.user is one object per request, and a page asks several times.
    # Within a request the held set only shrinks (an audit closing), so the cached answer errs blind.
    cached: dict[int, Blinding] = user.__dict__.setdefault("_blinding_by_project", {})
    if access.project.pk not in cached:
        held = frozenset(
            AuditItem.objects.filter(audit__project=access.project, audit__status=AuditStatus.OPEN).values_list(
                "sample_id", flat=True
            )
        )
        keys = frozenset(str(key) for key in access.project.hidden_metadata_keys or [])
        cached[access.project.pk] = Blinding(reader_id=user.pk, held=held, hidden_metadata_keys=keys)
    return cached[access.project.pk]


def held_for_reader(access: ProjectAccess, *, sample_ids: Iterable[int]) -> bool:
    """Whether any of these samples is held from whoever acts (never from a lead, an admin or a system
    actor). The role is the access's own, so an API token capped at expert is as blind as an expert."""
    if access.can("audit") or access.user is None:
        return False
    held = blinding_for(access.user, access).held
    return bool(held) and any(pk in held for pk in sample_ids)


def held_items_refuse(access: ProjectAccess, *, sample_ids: Iterable[int]) -> None:
    """Refuses a verdict, an undo or a group decision outside the audit on a held item."""
    if held_for_reader(access, sample_ids=sample_ids):
        raise ValidationError(HELD_ITEM_REFUSAL)
