"""The project's alerts: by state, newest first, a page at a time for the API; grouped by
figure for the dashboard; counted for the banner on every lead page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db.models import Count, F, Max, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from reviews.models import Alert
from reviews.quality.thresholds import THRESHOLD_SPECS
from synthreview.projects.models import Project

AlertState = Literal["open", "acknowledged", "all"]


def alerts_in_state(
    project: Project, *, state: AlertState = "all", before_id: int | None = None, limit: int
) -> list[Alert]:
    """Up to `limit` alerts with ids below `before_id`: "open" ones no lead has acknowledged yet,
    whether or not their figure has since come back within its limit."""
    alerts = Alert.objects.filter(project=project)
    if state == "open":
        alerts = alerts.filter(acknowledged_at__isnull=True)
    elif state == "acknowledged":
        alerts = alerts.filter(acknowledged_at__isnull=False)
    if before_id is not None:
        alerts = alerts.filter(pk__lt=before_id)
    return list(alerts.select_related("acknowledged_by").order_by("-id")[:limit])


# A figure's group lists this many of its alerts unless the lead asks for all of it.
GROUP_ROWS = 8
# Every alert of a group shown at once, at most (the CSV download has every alert).
GROUP_ROWS_ALL = 500
RECENTLY_ACKNOWLEDGED = 5


@dataclass
class AlertGroup:
    """One figure's open alerts, over every scope it slipped on."""

    metric: str
    label: str
    total: int
    alerts: list[Alert]
    percent: bool = False

    @property
    def more(self) -> int:
        return self.total - len(self.alerts)


@dataclass
class AlertOverview:
    """What the dashboard's alerts section shows: open alerts grouped by figure, the total,
    what is snoozed, and the latest acknowledged."""

    groups: list[AlertGroup]
    total: int
    snoozed: int
    snoozed_until: datetime | None
    acknowledged: list[Alert]


def _shown(project: Project, now: datetime) -> QuerySet[Alert]:
    return Alert.objects.filter(project=project, acknowledged_at__isnull=True).exclude(snoozed_until__gt=now)


def alert_overview(project: Project, *, now: datetime | None = None, expand: str | None = None) -> AlertOverview:
    """Open alerts that are not snoozed, grouped by figure (the groups in the thresholds' order),
    each group's alerts newest first and scope by scope; `expand` names the figure whose group
    lists all its alerts. Four queries, whatever the number of alerts."""
    now = now or timezone.now()
    shown = _shown(project, now)
    totals = dict(shown.values_list("metric").annotate(n=Count("id")).order_by())
    groups = []
    for metric in sorted(totals, key=lambda m: (list(THRESHOLD_SPECS).index(m) if m in THRESHOLD_SPECS else 99, m)):
        spec = THRESHOLD_SPECS.get(metric)
        groups.append(
            AlertGroup(
                metric=metric,
                label=spec.label if spec else metric,
                total=totals[metric],
                alerts=[],
                percent=bool(spec and spec.percent),
            )
        )
    # One query for the rows of every group: each group's newest, numbered per figure.
    by_metric = {group.metric: group for group in groups}
    rows = shown.annotate(
        position=Window(RowNumber(), partition_by=[F("metric")], order_by=[F("created_at").desc(), F("id").desc()])
    ).order_by("metric", "-created_at", "-id")
    cap = GROUP_ROWS_ALL if expand else GROUP_ROWS
    for alert in rows.filter(position__lte=cap):
        if alert.metric == expand or alert.position <= GROUP_ROWS:
            by_metric[alert.metric].alerts.append(alert)
    snoozed = Alert.objects.filter(project=project, acknowledged_at__isnull=True, snoozed_until__gt=now).aggregate(
        n=Count("id"), until=Max("snoozed_until")
    )
    acknowledged = list(
        Alert.objects.filter(project=project, acknowledged_at__isnull=False)
        .select_related("acknowledged_by")
        .order_by("-acknowledged_at", "-id")[:RECENTLY_ACKNOWLEDGED]
    )
    return AlertOverview(
        groups=groups,
        total=sum(totals.values()),
        snoozed=snoozed["n"],
        snoozed_until=snoozed["until"],
        acknowledged=acknowledged,
    )


# The banner names the total up to this many; past it, "100+" says enough and the page stays a bounded read.
BANNER_COUNT_CAP = 100


@dataclass(frozen=True)
class BannerAlerts:
    total: int
    only: Alert | None
    capped: bool = False


def banner_alerts(project_slug: str, *, now: datetime | None = None) -> BannerAlerts:
    """How many alerts are open and not snoozed, with the alert itself when there is one."""
    now = now or timezone.now()
    shown = Alert.objects.filter(project__slug=project_slug, acknowledged_at__isnull=True).exclude(
        snoozed_until__gt=now
    )
    # One bounded read rather than a count, the same one query whatever the number: every page a
    # lead opens pays for it.
    newest = list(shown.order_by("-created_at", "-id").only("id", "message")[: BANNER_COUNT_CAP + 1])
    if not newest:
        return BannerAlerts(total=0, only=None)
    return BannerAlerts(
        total=min(len(newest), BANNER_COUNT_CAP),
        only=newest[0] if len(newest) == 1 else None,
        capped=len(newest) > BANNER_COUNT_CAP,
    )
