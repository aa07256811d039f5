"""An audit's figures: progress, the noise floor and its breakdowns, error
categories, reviewer agreement, gold accuracy and the disagreements a lead
adjudicates. An open audit computes them from its verdicts; a closed one
returns the figures frozen when it closed.

Audits hold 50–100 items, so everything here reads one audit's rows at once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from generation.models import Sample
from reviews.metrics import BreakdownFloor, NoiseFloorFigures, cohen_kappa, fleiss_kappa
from reviews.models import (
    Audit,
    AuditAdjudication,
    AuditItem,
    AuditStatus,
    ErrorCategory,
    GoldSample,
    Verdict,
    VerdictValue,
)
from synthreview.projects.models import Project

VALUES = [VerdictValue.CORRECT.value, VerdictValue.WRONG.value, VerdictValue.UNSURE.value]
BREAKDOWNS = {
    "generator": "Generator",
    "template_version": "Template version",
    "run": "Run",
}
# Everything a read of an audit names, in the query that reads it.
AUDIT_RELATED = ("created_by", "closed_by", "run", "generator", "template_version__template")


def project_audits(project: Project, *, limit: int = 100) -> list[Audit]:
    """The project's latest audits, newest first, for the audit list."""
    return list(Audit.objects.filter(project=project).select_related("created_by").order_by("-created_at")[:limit])


def audits_page(project: Project, *, before: int | None = None, size: int = 100) -> tuple[list[Audit], bool]:
    """A page of the project's audits, newest first by id, read by keyset (`before` is an audit's id),
    with everything a summary names, and whether more follow."""
    audits = Audit.objects.filter(project=project).select_related(*AUDIT_RELATED)
    if before is not None:
        audits = audits.filter(pk__lt=before)
    page = list(audits.order_by("-pk")[: size + 1])
    return page[:size], len(page) > size


def audit_reread(audit: Audit) -> Audit:
    """The audit afresh from the database, with everything a read of it names."""
    return Audit.objects.select_related(*AUDIT_RELATED).get(pk=audit.pk)


def gold_sample_count(project: Project) -> int:
    return GoldSample.objects.filter(project=project).count()


def gold_sample_of(project: Project, sample: Sample) -> GoldSample | None:
    return GoldSample.objects.filter(project=project, sample=sample).first()


@dataclass
class ItemOutcome:
    """One audit item with its verdicts and the verdict that counts for the noise floor."""

    item: AuditItem
    verdicts: list[Verdict]
    adjudication: AuditAdjudication | None
    # correct / wrong / unsure; "split" when reviewers disagree with no majority and no lead decided;
    # "" while nobody has reviewed it.
    outcome: str = ""
    error_category: str = ""
    disagreement: bool = False
    strata: dict[str, tuple[int | None, str]] = field(default_factory=dict)


def _resolve(outcome: ItemOutcome) -> None:
    values = [v.value for v in outcome.verdicts]
    outcome.disagreement = len(set(values)) > 1
    if outcome.adjudication is not None:
        outcome.outcome = outcome.adjudication.value
        outcome.error_category = outcome.adjudication.error_category
        return
    if not values:
        return
    top, top_count = Counter(values).most_common(1)[0]
    if top_count * 2 > len(values):
        outcome.outcome = top
        categories = Counter(v.error_category for v in outcome.verdicts if v.value == top and v.error_category)
        outcome.error_category = categories.most_common(1)[0][0] if categories else ""
    else:
        outcome.outcome = "split"


def _labels(sample: Sample) -> dict[str, tuple[int | None, str]]:
    version = sample.template_version
    return {
        "generator": (sample.generator_id, sample.generator.name if sample.generator else "(none)"),
        "template_version": (
            sample.template_version_id,
            f"{version.template.name} v{version.version}" if version else "(none)",
        ),
        "run": (sample.run_id, sample.run.name if sample.run else "(no run)"),
    }


def audit_item_outcomes(audit: Audit) -> list[ItemOutcome]:
    items = list(
        AuditItem.objects.filter(audit=audit)
        .order_by("position")
        .select_related("sample__generator", "sample__template_version__template", "sample__run")
    )
    verdicts: dict[int, list[Verdict]] = defaultdict(list)
    for verdict in Verdict.objects.filter(audit=audit).select_related("reviewer").order_by("id"):
        verdicts[verdict.sample_id].append(verdict)
    adjudications = {a.sample_id: a for a in AuditAdjudication.objects.filter(audit=audit)}
    outcomes = []
    for item in items:
        outcome = ItemOutcome(
            item=item,
            verdicts=verdicts.get(item.sample_id, []),
            adjudication=adjudications.get(item.sample_id),
            strata=_labels(item.sample),
        )
        _resolve(outcome)
        outcomes.append(outcome)
    return outcomes


def _floor(counts: Counter) -> NoiseFloorFigures:
    return NoiseFloorFigures.from_counts(
        correct=counts["correct"], wrong=counts["wrong"], unsure=counts["unsure"], split=counts["split"]
    )


def _agreement(outcomes: list[ItemOutcome], overlap: int) -> dict:
    rated = [o for o in outcomes if len(o.verdicts) >= 2]
    reviewers = sorted({v.reviewer_id for o in rated for v in o.verdicts})
    if not rated:
        return {
            "method": None,
            "value": None,
            "items": 0,
            "reviewers": len(reviewers),
            "note": "No item has two verdicts yet; agreement needs an overlap of 2 or more.",
        }
    if len(reviewers) == 2:
        first = [next(v.value for v in o.verdicts if v.reviewer_id == reviewers[0]) for o in rated]
        second = [next(v.value for v in o.verdicts if v.reviewer_id == reviewers[1]) for o in rated]
        return {
            "method": "Cohen's κ",
            "value": cohen_kappa(first, second),
            "items": len(rated),
            "reviewers": 2,
            "note": "Two reviewers on the same items (Cohen 1960).",
        }
    # Fleiss' κ needs the same number of ratings per item: use the items with exactly `overlap` of them.
    ratings = max(overlap, 2)
    counts = [
        [sum(1 for v in o.verdicts if v.value == value) for value in VALUES]
        for o in rated
        if len(o.verdicts) == ratings
    ]
    return {
        "method": "Fleiss' κ",
        "value": fleiss_kappa(counts) if counts else None,
        "items": len(counts),
        "reviewers": len(reviewers),
        "note": f"{len(reviewers)} reviewers, {ratings} verdicts per item (Fleiss 1971).",
    }


def _reviewers(outcomes: list[ItemOutcome]) -> list[dict]:
    rows: dict[int, dict] = {}
    for outcome in outcomes:
        gold = outcome.item.gold_verdict if outcome.item.is_gold else ""
        for verdict in outcome.verdicts:
            row = rows.setdefault(
                verdict.reviewer_id,
                {
                    "id": verdict.reviewer_id,
                    "username": verdict.reviewer.get_username(),
                    "verdicts": 0,
                    "wrong": 0,
                    "gold_seen": 0,
                    "gold_matched": 0,
                    "last_at": None,
                },
            )
            row["verdicts"] += 1
            row["wrong"] += verdict.value == VerdictValue.WRONG
            stamp = verdict.updated_at.isoformat()
            row["last_at"] = max(row["last_at"] or stamp, stamp)
            if gold:
                row["gold_seen"] += 1
                row["gold_matched"] += verdict.value == gold
    for row in rows.values():
        row["gold_accuracy"] = row["gold_matched"] / row["gold_seen"] if row["gold_seen"] else None
    return sorted(rows.values(), key=lambda r: r["username"])


def audit_figures_compute(audit: Audit) -> dict:
    """The figures as they stand now, as plain JSON-ready data (what closing freezes)."""
    outcomes = audit_item_outcomes(audit)
    scored = [o for o in outcomes if not o.item.is_gold]
    overall = Counter(o.outcome for o in scored if o.outcome)
    breakdowns: dict[str, list[dict]] = {}
    for key in BREAKDOWNS:
        groups: dict[tuple[int | None, str], Counter] = defaultdict(Counter)
        for outcome in scored:
            counts = groups[outcome.strata[key]]
            counts["items"] += 1
            if outcome.outcome:
                counts[outcome.outcome] += 1
        breakdowns[key] = [
            row.to_json()
            for row in sorted(
                (
                    BreakdownFloor(id=ident, label=label, items=counts["items"], floor=_floor(counts))
                    for (ident, label), counts in groups.items()
                ),
                key=lambda row: row.label,
            )
        ]
    categories = Counter(o.error_category or "uncategorised" for o in scored if o.outcome == VerdictValue.WRONG)
    wrong = sum(categories.values())
    category_labels = dict(ErrorCategory.choices) | {"uncategorised": "No category given"}
    needed = len(outcomes) * audit.overlap
    given = sum(min(len(o.verdicts), audit.overlap) for o in outcomes)
    disagreements = [
        {
            "sample_id": o.item.sample_id,
            "position": o.item.position,
            "is_gold": o.item.is_gold,
            "verdicts": [
                {
                    "reviewer": v.reviewer.get_username(),
                    "value": v.value,
                    "error_category": v.error_category,
                    "note": v.note,
                }
                for v in o.verdicts
            ],
            "adjudicated": o.adjudication.value if o.adjudication else None,
            # A gold item's answer is known, so reviewers disagreeing on it is calibration, not a case to adjudicate.
        }
        for o in scored
        if o.disagreement
    ]
    return {
        "computed_at": timezone.now().isoformat(),
        "items": len(scored),
        "gold_items": len(outcomes) - len(scored),
        "overlap": audit.overlap,
        "verdicts_needed": needed,
        "verdicts_given": given,
        "complete": needed > 0 and given >= needed,
        "noise_floor": _floor(overall).to_json(),
        "breakdowns": breakdowns,
        "error_categories": [
            {"category": name, "label": str(category_labels.get(name, name)), "count": count, "share": count / wrong}
            for name, count in categories.most_common()
        ],
        "reviewers": _reviewers(outcomes),
        "agreement": _agreement(outcomes, audit.overlap),
        "disagreements": disagreements,
        "open_disagreements": sum(1 for d in disagreements if d["adjudicated"] is None),
    }


def audit_figures(audit: Audit) -> dict:
    if audit.status == AuditStatus.CLOSED and audit.frozen_figures:
        return audit.frozen_figures
    return audit_figures_compute(audit)
