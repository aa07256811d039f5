"""The dashboard's quality figures and alerts: the latest snapshot pass, per scope, with each
figure's limit and whether it slipped, and the alerts raised when one did."""

from __future__ import annotations

import math
from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from reviews.models import Alert, QualitySnapshot, SnapshotScope
from reviews.quality.thresholds import THRESHOLD_SPECS, project_thresholds
from reviews.selectors.alerts import AlertState, alerts_in_state
from reviews.selectors.dashboard import METRIC_COLUMNS, latest_snapshots, metrics_table
from synthreview.projects.api.auth import api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import DEFAULT_PAGE_SIZE, Cursor, PageSize, Slug

router = Router(tags=["quality"])

LABELS = {metric: label for metric, label, _ in METRIC_COLUMNS}


class FigureOut(Schema):
    label: str
    value: float | None
    # A share (0..1) rather than a distance or a count.
    percent: bool
    limit: float | None
    direction: str
    slipped: bool


class HistogramOut(Schema):
    edges: list[float]
    counts: list[int]


class NearestRealOut(Schema):
    """Privacy: each synthetic sample's similarity to its nearest real sample."""

    count: int | None = None
    copy_threshold: float | None = None
    copy_count: int | None = None
    copy_share: float | None = None
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    edges: list[float] = []
    counts: list[int] = []


class ScopeOut(Schema):
    scope: str
    scope_id: int | None
    label: str
    sample_count: int
    # Diversity, fidelity, copies and drift, keyed as the dashboard's metrics table orders them.
    figures: dict[str, FigureOut]
    privacy: NearestRealOut | None
    novelty_histogram: HistogramOut | None


class ClassBalanceOut(Schema):
    label: str | None
    real: int
    synthetic: int
    synthetic_share: float | None


class SnapshotOut(Schema):
    computed_at: datetime
    scopes: list[ScopeOut]
    class_balance: list[ClassBalanceOut]
    mix: dict[str, int] | None


class QualityOut(Schema):
    snapshot: SnapshotOut | None


class AlertOut(Schema):
    id: int
    metric: str
    label: str
    scope: str
    scope_key: str
    value: float
    threshold: float
    message: str
    created_at: datetime
    acknowledged: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    # When the figure came back within its limit; the alert stays listed until a lead acknowledges it.
    recovered_at: datetime | None
    email_sent_at: datetime | None
    webhook_status: str
    # Where the worker sent it: [{"channel": "email", "to": [addresses], "at": ...} or
    # {"channel": "webhook", "to": host, "status": ...}]; empty until it has tried (notified_at).
    sent_to: list[dict[str, object]]
    notified_at: datetime | None
    # Hidden from the dashboard and the banner until then, unless acknowledged first.
    snoozed_until: datetime | None


def _number(value: object) -> float | None:
    """A figure as stored, or None where it was not measured (or is no finite number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _counts(values: object) -> list[int]:
    return [int(v) for v in values if isinstance(v, (int, float))] if isinstance(values, list) else []


def _edges(values: object) -> list[float]:
    return [number for v in values if (number := _number(v)) is not None] if isinstance(values, list) else []


def _privacy(raw: object) -> NearestRealOut | None:
    if not isinstance(raw, dict):
        return None
    count, copies = _number(raw.get("count")), _number(raw.get("copy_count"))
    return NearestRealOut(
        count=None if count is None else int(count),
        copy_threshold=_number(raw.get("copy_threshold")),
        copy_count=None if copies is None else int(copies),
        copy_share=_number(raw.get("copy_share")),
        p10=_number(raw.get("p10")),
        p50=_number(raw.get("p50")),
        p90=_number(raw.get("p90")),
        p99=_number(raw.get("p99")),
        edges=_edges(raw.get("edges")),
        counts=_counts(raw.get("counts")),
    )


def _histogram(raw: object) -> HistogramOut | None:
    if not isinstance(raw, dict):
        return None
    return HistogramOut(edges=_edges(raw.get("edges")), counts=_counts(raw.get("counts")))


def _scope_out(snapshot: QualitySnapshot, row: dict) -> ScopeOut:
    return ScopeOut(
        scope=snapshot.scope,
        scope_id=snapshot.scope_id,
        label=snapshot.scope_label,
        sample_count=snapshot.sample_count,
        figures={
            cell["metric"]: FigureOut(
                label=LABELS[cell["metric"]],
                value=_number(cell["value"]),
                percent=cell["percent"],
                limit=cell["limit"],
                direction=cell["direction"],
                slipped=cell["slipped"],
            )
            for cell in row["cells"]
        },
        privacy=_privacy(snapshot.metrics.get("nearest_real")),
        novelty_histogram=_histogram(snapshot.metrics.get("novelty_histogram")),
    )


def _class_balance(raw: object) -> list[ClassBalanceOut]:
    rows = raw if isinstance(raw, list) else []
    return [
        ClassBalanceOut(
            label=None if row.get("label") is None else str(row["label"]),
            real=int(_number(row.get("real")) or 0),
            synthetic=int(_number(row.get("synthetic")) or 0),
            synthetic_share=_number(row.get("synthetic_share")),
        )
        for row in rows
        if isinstance(row, dict)
    ]


@router.get("/projects/{slug}/quality", response={200: QualityOut, **COMMON_ERRORS})
def quality_latest(request: HttpRequest, slug: Slug) -> QualityOut:
    """The latest quality pass: the project's synthetic samples, each run and each generator.
    `snapshot` is null until a worker has computed one."""
    access = api_project_access(request, slug, "dashboard")
    snapshots = latest_snapshots(access.project)
    if not snapshots:
        return QualityOut(snapshot=None)
    table = metrics_table(snapshots, project_thresholds(access.project))
    overall = next((s for s in snapshots if s.scope == SnapshotScope.PROJECT), None)
    mix = overall.metrics.get("mix") if overall else None
    return QualityOut(
        snapshot=SnapshotOut(
            computed_at=snapshots[0].computed_at,
            scopes=[_scope_out(snapshot, row) for snapshot, row in zip(snapshots, table)],
            class_balance=_class_balance(overall.metrics.get("class_balance") if overall else None),
            mix={str(k): int(v) for k, v in mix.items() if _number(v) is not None} if isinstance(mix, dict) else None,
        )
    )


def _alert_out(alert: Alert) -> AlertOut:
    spec = THRESHOLD_SPECS.get(alert.metric)
    return AlertOut(
        id=alert.pk,
        metric=alert.metric,
        label=spec.label if spec else alert.metric,
        scope=alert.scope_label,
        scope_key=alert.scope_key,
        value=alert.value,
        threshold=alert.limit,
        message=alert.message,
        created_at=alert.created_at,
        acknowledged=alert.acknowledged_at is not None,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
        recovered_at=alert.recovered_at,
        email_sent_at=alert.email_sent_at,
        webhook_status=alert.webhook_status,
        sent_to=alert.sent_to or [],
        notified_at=alert.notified_at,
        snoozed_until=alert.snoozed_until,
    )


@router.get("/projects/{slug}/alerts", response={200: CursorPage[AlertOut], **COMMON_ERRORS})
def alert_list(
    request: HttpRequest,
    slug: Slug,
    state: AlertState = "all",
    cursor: Cursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> CursorPage[AlertOut]:
    """Alerts, newest first: `open` ones no lead has acknowledged, `acknowledged` ones, or `all`."""
    access = api_project_access(request, slug, "dashboard")
    after = cursor_decode(cursor, shape=(int,))
    alerts = alerts_in_state(access.project, state=state, before_id=after[0] if after else None, limit=limit + 1)
    more = len(alerts) > limit
    alerts = alerts[:limit]
    return CursorPage[AlertOut](
        items=[_alert_out(alert) for alert in alerts],
        next_cursor=cursor_encode([alerts[-1].pk]) if more else None,
    )
