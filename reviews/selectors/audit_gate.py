"""The audit gate: a training export's synthetic samples must each be cleared by a
closed expert audit that saw them.

An audit clears a sample when all of these hold:
- the sample lies in the audit's scope (its run, generator, template version, or
  the whole project) and existed when the audit was drawn (its id is at most the
  audit's drawn_through_sample_id);
- the audit judged at least MIN_AUDIT_VERDICTS of the sample's own generator's
  items, and the Wilson upper bound of that generator's own share wrong is within
  the project's limit. A pooled audit's overall figure never clears a generator:
  five wrong of five for one generator hide easily in a hundred items.

The newest closed audit that saw the samples and judged any of their generator's
items decides, whatever its scope: an older passing audit never outvotes a newer
failing one (even one closed early, under the minimum), and the audit a refusal
advises is the one that clears them once it passes. A refusal says what audit
size would clear the generator at its observed rate, or that none would.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import Max

from generation.models import Origin
from reviews.governance.gates import GateDecision, GroupCount, Outcome
from reviews.metrics import BreakdownFloor, audit_size_to_clear
from reviews.models import Audit, AuditItem, AuditScope, AuditStatus
from reviews.quality.audit_sampling import MAX_AUDIT_SIZE
from reviews.selectors.audits import audit_figures_compute
from synthreview.projects.models import Project

MIN_AUDIT_VERDICTS = 50
SCOPE_ORDER = (
    (AuditScope.RUN, "run_id"),
    (AuditScope.GENERATOR, "generator_id"),
    (AuditScope.TEMPLATE_VERSION, "template_version_id"),
    (AuditScope.PROJECT, None),
)


@dataclass(frozen=True)
class _Source:
    run_id: int | None
    generator_id: int
    template_version_id: int | None


@dataclass
class _ClosedAudit:
    audit: Audit
    drawn_through: int
    by_generator: dict[int | None, BreakdownFloor]

    def in_scope(self, source: _Source) -> bool:
        attribute = dict(SCOPE_ORDER)[AuditScope(self.audit.scope)]
        return attribute is None or getattr(self.audit, attribute) == getattr(source, attribute)

    def judged(self, generator_id: int) -> int:
        """The generator's own judged items in this audit; 0 when none of its items were drawn."""
        row = self.by_generator.get(generator_id)
        return row.floor.judged if row is not None else 0


def _generator_rows(audit: Audit) -> list[BreakdownFloor]:
    """Each generator's own figures in the audit, as frozen on closing. An audit frozen without them is
    recomputed from its verdicts and adjudications, which a closed audit no longer accepts, so the
    figures are the ones it closed with."""
    rows = audit.frozen_breakdown("generator")
    if rows is None:
        rows = [BreakdownFloor.from_json(row) for row in audit_figures_compute(audit)["breakdowns"]["generator"]]
    return rows


def _closed_with_marks(project: Project) -> list[tuple[Audit, int]]:
    """The project's closed audits, newest first, each with the last sample id it saw."""
    audits = [
        a
        for a in Audit.objects.filter(
            project=project, status=AuditStatus.CLOSED, frozen_figures__isnull=False
        ).order_by("-closed_at", "-id")
        if a.frozen_noise_floor is not None
    ]
    # An audit with no mark saw at least the samples it drew: ids grow, so every lower id existed too.
    unmarked = [a.pk for a in audits if a.drawn_through_sample_id is None]
    drawn = (
        dict(
            AuditItem.objects.filter(audit_id__in=unmarked, is_gold=False)
            .values("audit_id")
            .annotate(last=Max("sample_id"))
            .values_list("audit_id", "last")
        )
        if unmarked
        else {}
    )
    return [
        (audit, audit.drawn_through_sample_id if audit.drawn_through_sample_id is not None else drawn.get(audit.pk, 0))
        for audit in audits
    ]


def closed_audits_for_gate(project: Project) -> list[_ClosedAudit]:
    """The closed audits, newest first, with the last sample id each saw and its figures per generator."""
    return [
        _ClosedAudit(audit, mark, {row.id: row for row in _generator_rows(audit)})
        for audit, mark in _closed_with_marks(project)
    ]


def audit_marks(project: Project) -> list[int]:
    """The freshness marks the export's counting query splits each source by, in ascending order."""
    return sorted({mark for _, mark in _closed_with_marks(project)})


def _advice(generator: str, row: BreakdownFloor | None, limit: float) -> str:
    if row is None or not row.floor.judged:
        return f"audit {generator} with at least {MIN_AUDIT_VERDICTS} items"
    wrong, judged = row.floor.wrong, row.floor.judged
    rate = wrong / judged
    seen = f"{rate:.1%} wrong ({wrong} of {judged})"
    needed = audit_size_to_clear(rate, limit)
    if needed is None:
        return (
            f"at its observed {seen} no audit size brings {generator}'s upper bound under the limit of "
            f"{limit:.0%}: fix the generator or leave it out"
        )
    needed = max(needed, MIN_AUDIT_VERDICTS)
    if needed > MAX_AUDIT_SIZE:
        return (
            f"at its observed {seen} {generator} needs {needed:,} judged items to bring its upper bound under "
            f"{limit:.0%}, more than one audit holds ({MAX_AUDIT_SIZE}): fix the generator or leave it out"
        )
    return (
        f"audit {generator} on its own with at least {needed:,} items: at its observed {seen}, "
        f"{needed:,} judged items bring its upper bound under {limit:.0%}"
    )


def _decide(
    source: _Source, mark: int | None, audits: list[_ClosedAudit], generator: str, limit: float
) -> tuple[_ClosedAudit | None, str]:
    """The audit that decides these samples and, if they are not cleared, the problem with its advice."""
    # Newest first, as closed_audits_for_gate returns them.
    in_scope = [closed for closed in audits if closed.in_scope(source)]
    fresh = [closed for closed in in_scope if mark is not None and closed.drawn_through >= mark]
    deciding = next((closed for closed in fresh if closed.judged(source.generator_id)), None)
    if deciding is not None:
        row = deciding.by_generator[source.generator_id]
        if row.floor.judged < MIN_AUDIT_VERDICTS:
            return None, (
                f"not audited: no closed audit of at least {MIN_AUDIT_VERDICTS} verdicts on {generator}'s "
                f"own items (audit {deciding.audit.name!r} judged only {row.floor.judged} of them, "
                f"{row.floor.wrong} wrong), and the newest audit that saw these samples decides; "
                f"advice: {_advice(generator, row, limit)}"
            )
        high = row.floor.high
        if high is not None and high <= limit:
            return deciding, ""
        return deciding, (
            f"audit {deciding.audit.name!r} puts {generator}'s noise floor's upper bound at "
            f"{high:.1%}, above the limit of {limit:.0%}; advice: {_advice(generator, row, limit)}"
        )
    stale = next((closed for closed in in_scope if source.generator_id in closed.by_generator), None)
    if stale is not None:
        row = stale.by_generator[source.generator_id]
        return None, (
            f"not audited: these samples arrived after audit {stale.audit.name!r} was drawn (it saw "
            f"samples up to #{stale.drawn_through}); advice: {_advice(generator, row, limit)}"
        )
    return None, (
        f"no closed audit of at least {MIN_AUDIT_VERDICTS} verdicts; advice: {_advice(generator, None, limit)}"
    )


def _audit_row(closed: _ClosedAudit) -> dict:
    audit = closed.audit
    floor = audit.frozen_noise_floor
    assert floor is not None, "closed_audits_for_gate keeps only audits that froze a noise floor"
    return {
        "id": audit.pk,
        "name": audit.name,
        "scope": audit.scope,
        "closed_at": audit.closed_at.isoformat() if audit.closed_at is not None else None,
        "judged": floor.judged,
        "wrong": floor.wrong,
        "noise_floor": floor.rate,
        "interval": [floor.low, floor.high],
        "drawn_through_sample_id": closed.drawn_through,
        "covers": [],
        "cleared": [],
        "samples_cleared": 0,
    }


def audit_gate(
    *, project: Project, groups: list[GroupCount], override_reason: str, names: dict, override_by: str = ""
) -> tuple[GateDecision, list[dict]]:
    """Every synthetic sample needs a closed audit that saw it and cleared its generator on its own items.
    `override_by` says who overrode, in words ("Grace Hopper (admin)"), for the reason a lead reads."""
    sources: dict[_Source, Counter] = defaultdict(Counter)
    for group in groups:
        # A synthetic sample always names its generator (a check constraint).
        if group.origin == Origin.SYNTHETIC and group.count and group.generator_id is not None:
            sources[_Source(group.run_id, group.generator_id, group.template_version_id)][group.audit_mark] += (
                group.count
            )
    audits = closed_audits_for_gate(project)
    limit = project.noise_floor_limit
    used: dict[int, dict] = {}
    missing: list[dict] = []
    for source, by_mark in sorted(
        sources.items(),
        key=lambda item: (names["run"].get(item[0].run_id, ""), names["generator"].get(item[0].generator_id, "")),
    ):
        generator = names["generator"][source.generator_id]
        label = f"run {names['run'][source.run_id]}" if source.run_id else "samples imported without a run"
        for mark, count in sorted(by_mark.items(), key=lambda item: (item[0] is None, item[0] or 0)):
            closed, problem = _decide(source, mark, audits, generator, limit)
            if closed is not None:
                row = used.setdefault(closed.audit.pk, _audit_row(closed))
                covered = f"{label} × {generator}"
                if covered not in row["covers"]:
                    row["covers"].append(covered)
            if problem or closed is None:  # _decide names the deciding audit whenever it clears the samples
                missing.append(
                    {
                        "source": label,
                        "run": names["run"].get(source.run_id),
                        "generator": generator,
                        "samples": count,
                        "audit": closed.audit.pk if closed else None,
                        "problem": problem,
                    }
                )
                continue
            own = closed.by_generator[source.generator_id]
            row["cleared"].append(
                {
                    "source": label,
                    "run": names["run"].get(source.run_id),
                    "generator": generator,
                    "template_version": names["template_version"].get(source.template_version_id),
                    "samples": count,
                    "sample_ids_through": closed.drawn_through,
                    "generator_judged": own.floor.judged,
                    "generator_wrong": own.floor.wrong,
                    "generator_upper_bound": own.floor.high,
                }
            )
            row["samples_cleared"] += count
    details = {"min_verdicts": MIN_AUDIT_VERDICTS, "noise_floor_limit": limit, "failing": missing}
    if not missing:
        reason = (
            "Every synthetic sample is cleared by a closed audit that saw it, on its generator's own items."
            if sources
            else "No synthetic samples, so no audit is needed."
        )
        return GateDecision("audit", Outcome.PASSED, reason, details), list(used.values())
    listed = _missing_by_run(missing)
    if override_reason.strip():
        return (
            GateDecision(
                "audit",
                Outcome.OVERRIDDEN,
                f"Overridden by {override_by or 'an unnamed member'}: {override_reason.strip()} "
                f"(would have refused: {listed})",
                details | {"override_reason": override_reason.strip()},
            ),
            list(used.values()),
        )
    return (
        GateDecision(
            "audit",
            Outcome.REFUSED,
            f"No expert audit clears these samples for training: {listed}. Follow the advice for each "
            f"(audits are drawn on the Audits page), or override with a written reason.",
            details,
        ),
        list(used.values()),
    )


def _missing_by_run(missing: list[dict]) -> str:
    """ "run A (gen-1: 80, gen-2: 69 samples): no closed audit …; run B …" — one entry per run and problem."""
    by_run: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in missing:
        by_run[(entry["source"], entry["problem"])].append(f"{entry['generator']}: {entry['samples']:,}")
    return "; ".join(f"{source} ({', '.join(parts)} samples): {problem}" for (source, problem), parts in by_run.items())
