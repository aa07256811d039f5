"""What the audit endpoints read and answer: an audit, its figures as the audit page shows them,
and the project's pooled noise floor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from reviews.metrics import BreakdownFloor, NoiseFloorFigures
from reviews.models import Audit, AuditScope
from reviews.selectors.audit_queue import AuditProgress
from synthreview.projects.api.params import MAX_ID


class NoiseFloorOut(Schema):
    """The share marked wrong of the items judged correct or wrong, with its 95% Wilson interval
    (null while nothing is judged). Unsure verdicts and split items stay beside it, out of the rate."""

    correct: int
    wrong: int
    unsure: int
    split: int
    judged: int
    rate: float | None
    low: float | None
    high: float | None
    unsure_share: float | None

    @staticmethod
    def of(stored: dict[str, Any]) -> NoiseFloorOut:
        # Read as the pages read it, so an audit frozen before `split` was kept reads it as 0.
        return NoiseFloorOut.model_validate(NoiseFloorFigures.from_json(stored).to_json())


class BreakdownOut(NoiseFloorOut):
    id: int | None
    label: str
    items: int


class ErrorCategoryOut(Schema):
    category: str
    label: str
    count: int
    share: float


class AgreementOut(Schema):
    method: str | None = None
    value: float | None = None
    items: int = 0
    reviewers: int = 0
    note: str = ""


class ReviewerOut(Schema):
    username: str
    verdicts: int
    wrong: int
    gold_seen: int
    gold_matched: int
    gold_accuracy: float | None
    last_at: str | None


class DisagreementVerdictOut(Schema):
    reviewer: str
    value: str
    error_category: str
    note: str


class DisagreementOut(Schema):
    sample_id: int
    position: int
    is_gold: bool
    verdicts: list[DisagreementVerdictOut]
    adjudicated: str | None


class FiguresOut(Schema):
    computed_at: str | None
    noise_floor: NoiseFloorOut
    breakdowns: dict[str, list[BreakdownOut]] = Field(description="Keyed by generator, template_version and run.")
    error_categories: list[ErrorCategoryOut]
    agreement: AgreementOut | None
    reviewers: list[ReviewerOut]
    disagreements: list[DisagreementOut]
    open_disagreements: int

    @staticmethod
    def of(figures: dict[str, Any]) -> FiguresOut:
        return FiguresOut(
            computed_at=figures.get("computed_at"),
            noise_floor=NoiseFloorOut.of(figures["noise_floor"]),
            breakdowns={
                key: [BreakdownOut(**BreakdownFloor.from_json(row).to_json()) for row in rows]
                for key, rows in (figures.get("breakdowns") or {}).items()
            },
            error_categories=[ErrorCategoryOut(**row) for row in figures.get("error_categories") or []],
            agreement=AgreementOut(**figures["agreement"]) if figures.get("agreement") else None,
            reviewers=[ReviewerOut(**row) for row in figures.get("reviewers") or []],
            disagreements=[DisagreementOut(**row) for row in figures.get("disagreements") or []],
            open_disagreements=figures.get("open_disagreements", 0),
        )


class ScopeOut(Schema):
    kind: str = Field(description="run, generator, template_version or project.")
    id: int | None
    label: str

    @staticmethod
    def of(audit: Audit) -> ScopeOut:
        if audit.run is not None:
            return ScopeOut(kind=audit.scope, id=audit.run.pk, label=audit.run.name)
        if audit.generator is not None:
            return ScopeOut(kind=audit.scope, id=audit.generator.pk, label=audit.generator.name)
        if (version := audit.template_version) is not None:
            return ScopeOut(kind=audit.scope, id=version.pk, label=f"{version.template.name} v{version.version}")
        return ScopeOut(kind=audit.scope, id=None, label=AuditScope(audit.scope).label)


class ProgressOut(Schema):
    items: int = Field(description="Items drawn, gold items included.")
    verdicts_given: int
    verdicts_needed: int
    mine: int | None = Field(None, description="The caller's own verdicts in this audit (on one audit's read only).")

    @staticmethod
    def of(progress: AuditProgress, *, mine: bool) -> ProgressOut:
        return ProgressOut(
            items=progress.items,
            verdicts_given=progress.given,
            verdicts_needed=progress.needed,
            mine=progress.mine if mine else None,
        )


class AuditSummaryOut(Schema):
    id: int
    name: str
    scope: ScopeOut
    status: str
    blind: bool = Field(
        description="True while the audit is open: experts see its items blind and none of its figures until it closes."
    )
    sample_size: int
    overlap: int
    gold_items: int
    expected_error_rate: float = Field(description="The percent the lead planned for, as given when creating.")
    seed: int
    created_at: datetime
    created_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    closed_reason: str
    progress: ProgressOut
    noise_floor: NoiseFloorOut | None = Field(description="The noise floor frozen on closing; null while open.")

    @staticmethod
    def fields_of(audit: Audit, progress: ProgressOut) -> dict[str, Any]:
        frozen = audit.frozen_noise_floor
        return {
            "id": audit.pk,
            "name": audit.name,
            "scope": ScopeOut.of(audit),
            "status": audit.status,
            "blind": audit.status == "open",
            "sample_size": audit.sample_size,
            "overlap": audit.overlap,
            "gold_items": audit.gold_items,
            "expected_error_rate": round(audit.expected_error_rate * 100, 6),
            "seed": audit.seed,
            "created_at": audit.created_at,
            "created_by": audit.created_by.get_username() if audit.created_by else None,
            "closed_at": audit.closed_at,
            "closed_by": audit.closed_by.get_username() if audit.closed_by else None,
            "closed_reason": audit.closed_reason,
            "progress": progress,
            "noise_floor": NoiseFloorOut.model_validate(frozen.to_json()) if frozen is not None else None,
        }


class AuditOut(AuditSummaryOut):
    figures: FiguresOut | None = Field(
        description="What the audit page shows: for experts null while the audit is open (the running count "
        "would sway their verdicts), and without disagreements on items an open audit holds."
    )


class AuditIn(Schema):
    """The audit page's form; `run`, `generator` or `template_version` names what a scope of that kind audits."""

    name: str = Field("", max_length=200)
    scope: str = Field("project", max_length=32, description="run, generator, template_version or project.")
    run: int | None = Field(None, ge=1, le=MAX_ID)
    generator: int | None = Field(None, ge=1, le=MAX_ID)
    template_version: int | None = Field(None, ge=1, le=MAX_ID)
    sample_size: int = Field(60, ge=0, le=MAX_ID, description="Items to draw (n): 10 to 500, 50 to 100 is usual.")
    expected_error_rate: int = Field(10, ge=0, le=MAX_ID, description="Percent, 1 to 50: only for the plan.")
    overlap: int = Field(1, ge=0, le=MAX_ID, description="Reviewers per item, 1 to 5.")
    gold_items: int = Field(0, ge=0, le=MAX_ID, description="Gold items mixed in blind, 0 to 50.")
    seed: int | None = Field(None, ge=0, le=MAX_ID, description="A past audit's seed draws it again.")


class AuditCloseIn(Schema):
    reason: str = Field(
        "", max_length=2000, description="Needed when closing early or with disagreements nobody decided."
    )


class PooledFloorOut(Schema):
    id: int | None
    label: str
    audits: int
    correct: int
    wrong: int
    unsure: int
    split: int
    judged: int
    rate: float | None
    low: float | None
    high: float | None


class NoiseFloorReportOut(Schema):
    by: str
    limit: float = Field(description="The project's noise-floor limit, a share.")
    audits: int = Field(description="Closed audits pooled.")
    split_left_out: int = Field(description="Items reviewers split on with nobody deciding, left out of the rates.")
    rows: list[PooledFloorOut]
