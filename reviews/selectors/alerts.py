"""The project's alerts by state, newest first, a page at a time for the API (the dashboard
lists the latest few with `latest_alerts`)."""

from __future__ import annotations

from typing import Literal

from reviews.models import Alert
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
