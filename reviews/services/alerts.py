"""Alerts: raised when a figure slips past its project's threshold, shown to
leads as a banner, and sent by email and to the admin-set webhook by a worker."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from reviews.models import Alert, AlertChannel, Audit, QualityThreshold
from reviews.quality.thresholds import THRESHOLD_SPECS, project_thresholds
from synthreview.outbound import post_json, validate_outbound_url
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import Membership, Project, Role
from synthreview.projects.queue import enqueue_on_commit
from synthreview.projects.services import audit_log_record

# How long a lead may hide alerts for, in days.
SNOOZE_DAYS = (1, 7)
# The audit log names at most this many alert ids per bulk action; the count is always whole.
AUDIT_IDS = 200


def _format(metric: str, value: float) -> str:
    spec = THRESHOLD_SPECS[metric]
    return f"{value:.1%}" if spec.percent else f"{value:.3f}"


def alert_raise(
    *, project: Project, metric: str, scope_key: str, scope_label: str, value: float, limit: float
) -> Alert | None:
    """Record the alert unless one for this metric and scope is still live (the figure
    has not come back within its limit since); the worker sends it once the
    transaction commits. Returns the new alert, or None."""
    spec = THRESHOLD_SPECS[metric]
    word = "above" if spec.direction == "max" else "below"
    message = (
        f"{spec.label} for {scope_label} is {_format(metric, value)}, {word} the limit of {_format(metric, limit)}."
    )
    if Alert.objects.filter(project=project, metric=metric, scope_key=scope_key, recovered_at__isnull=True).exists():
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                project=project,
                metric=metric,
                scope_key=scope_key,
                scope_label=scope_label[:300],
                value=value,
                limit=limit,
                message=message,
            )
    except IntegrityError:
        # Another worker raised the same alert a moment ago.
        return None
    enqueue_on_commit("reviews.tasks.alert_notify_task", alert.pk)
    return alert


def alerts_evaluate_audit(audit: Audit) -> Alert | None:
    """A closed audit whose noise floor's upper bound is over the limit raises an alert."""
    threshold = project_thresholds(audit.project)["noise_floor_upper"]
    floor = audit.frozen_noise_floor
    high = floor.high if floor is not None else None
    if not threshold.slipped(high):
        return None
    return alert_raise(
        project=audit.project,
        metric="noise_floor_upper",
        scope_key=f"audit:{audit.pk}",
        scope_label=f"audit “{audit.name}”",
        value=high,
        limit=threshold.limit,
    )


def alerts_evaluate_figures(*, project: Project, scope_key: str, scope_label: str, figures: dict) -> list[Alert]:
    """Check a snapshot's figures against every enabled threshold."""
    raised = []
    for metric, threshold in project_thresholds(project).items():
        if metric == "noise_floor_upper":
            continue
        value = figures.get(metric)
        if value is not None and not threshold.slipped(value):
            # Back within the limit: the next slip is news again.
            Alert.objects.filter(project=project, metric=metric, scope_key=scope_key, recovered_at__isnull=True).update(
                recovered_at=timezone.now()
            )
        if threshold.slipped(value):
            alert = alert_raise(
                project=project,
                metric=metric,
                scope_key=scope_key,
                scope_label=scope_label,
                value=value,
                limit=threshold.limit,
            )
            if alert is not None:
                raised.append(alert)
    return raised


def _email_recipients(project: Project) -> list[str]:
    channel = AlertChannel.objects.filter(project=project).first()
    extra = channel.recipients() if channel else []
    leads = (
        Membership.objects.filter(project=project, role__in=[Role.LEAD, Role.ADMIN])
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    return sorted(set(extra) | set(leads))


def _webhook_host(url: str) -> str:
    # The URL's path and query may carry a secret token: only the host is recorded and shown.
    return urlsplit(url).hostname or "webhook"


def alert_notify(*, alert_id: int) -> None:
    """Send the alert's email and webhook, and record where each went. Each is sent at
    most once, so a retried task never mails twice; a failed webhook is recorded on the
    alert; an alert with nobody to tell is recorded as tried, so the page can say so."""
    alert = Alert.objects.select_related("project").get(pk=alert_id)
    project = alert.project
    sent = list(alert.sent_to or [])
    if alert.email_sent_at is None:
        recipients = _email_recipients(project)
        if recipients:
            send_mail(
                subject=f"[synthreview] {project.name}: {THRESHOLD_SPECS[alert.metric].label}",
                message=f"{alert.message}\n\nDashboard: /p/{project.slug}/dashboard/\n",
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
            )
            now = timezone.now()
            sent.append({"channel": "email", "to": recipients, "at": now.isoformat()})
            Alert.objects.filter(pk=alert.pk).update(email_sent_at=now, sent_to=sent)
    if not alert.webhook_status:
        channel = AlertChannel.objects.filter(project=project).first()
        if channel and channel.webhook_url:
            result = post_json(
                channel.webhook_url,
                {
                    "project": project.slug,
                    "metric": alert.metric,
                    "scope": alert.scope_label,
                    "value": alert.value,
                    "limit": alert.limit,
                    "message": alert.message,
                    "created_at": alert.created_at.isoformat(),
                    "alert_id": alert.pk,
                },
            )
            status = f"delivered ({result.status_code})" if result.ok else f"failed: {result.error}"[:200]
            sent.append(
                {
                    "channel": "webhook",
                    "to": _webhook_host(channel.webhook_url),
                    "status": status,
                    "at": timezone.now().isoformat(),
                }
            )
            Alert.objects.filter(pk=alert.pk).update(webhook_status=status, sent_to=sent)
    Alert.objects.filter(pk=alert.pk).update(notified_at=timezone.now())


def alert_acknowledge(access: ProjectAccess, *, alert_id: int) -> bool:
    project = access.project
    changed = Alert.objects.filter(project=project, pk=alert_id, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=access.user
    )
    if changed:
        audit_log_record(
            project=project,
            actor=access.actor,
            action="alert.acknowledge",
            object_type="reviews.alert",
            object_id=str(alert_id),
        )
    return bool(changed)


def _shown_alerts(project: Project, metric: str | None, now: datetime) -> QuerySet[Alert]:
    """The open alerts a lead sees (not snoozed), of one figure or of all."""
    if metric is not None and metric not in THRESHOLD_SPECS:
        raise ValidationError(f"Unknown figure {metric!r}.")
    alerts = Alert.objects.filter(project=project, acknowledged_at__isnull=True).exclude(snoozed_until__gt=now)
    return alerts.filter(metric=metric) if metric is not None else alerts


def alerts_acknowledge_all(access: ProjectAccess, *, metric: str | None = None) -> int:
    """Acknowledge every open alert shown, of one figure or of all; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        shown = _shown_alerts(access.project, metric, now)
        # The first ids name the change in the audit log; the update itself takes them all, however many.
        ids = list(shown.order_by("pk").values_list("pk", flat=True)[:AUDIT_IDS])
        changed = shown.update(acknowledged_at=now, acknowledged_by=access.user)
        if changed:
            audit_log_record(
                project=access.project,
                actor=access.actor,
                action="alert.acknowledge_all",
                object_type="reviews.alert",
                object_id=metric or "all",
                details={"metric": metric, "count": changed, "alert_ids": ids},
            )
    return changed


def alerts_snooze(access: ProjectAccess, *, days: int, metric: str | None = None) -> int:
    """Hide every open alert shown, of one figure or of all, for `days`; each comes back by
    itself then if still unacknowledged. Returns how many."""
    if days not in SNOOZE_DAYS:
        raise ValidationError(f"Snooze for {' or '.join(str(d) for d in SNOOZE_DAYS)} days.")
    now = timezone.now()
    until = now + timedelta(days=days)
    with transaction.atomic():
        shown = _shown_alerts(access.project, metric, now)
        ids = list(shown.order_by("pk").values_list("pk", flat=True)[:AUDIT_IDS])
        changed = shown.update(snoozed_until=until, snoozed_by=access.user)
        if changed:
            audit_log_record(
                project=access.project,
                actor=access.actor,
                action="alert.snooze",
                object_type="reviews.alert",
                object_id=metric or "all",
                details={
                    "metric": metric,
                    "days": days,
                    "until": until.isoformat(),
                    "count": changed,
                    "alert_ids": ids,
                },
            )
    return changed


def alert_channel_set(
    access: ProjectAccess,
    *,
    webhook_url: str | None = None,
    email_recipients: str | None = None,
) -> AlertChannel:
    """Leads set who is emailed; only admins set the webhook (the caller checks the role)."""
    project = access.project
    channel, _ = AlertChannel.objects.get_or_create(project=project)
    changes = {}
    if webhook_url is not None:
        webhook_url = webhook_url.strip()
        if webhook_url:
            validate_outbound_url(webhook_url, allow_private=settings.OUTBOUND_ALLOW_PRIVATE_HOSTS)
        changes["webhook_url"] = webhook_url
    if email_recipients is not None:
        changes["email_recipients"] = email_recipients.strip()
    for name, value in changes.items():
        setattr(channel, name, value)
    channel.updated_by = access.user
    channel.save()
    audit_log_record(
        project=project,
        actor=access.actor,
        action="alerts.channel",
        obj=channel,
        details={"webhook_set": bool(channel.webhook_url), "fields": sorted(changes)},
    )
    return channel


def threshold_set(access: ProjectAccess, *, metric: str, limit: float, enabled: bool) -> QualityThreshold:
    project = access.project
    spec = THRESHOLD_SPECS.get(metric)
    if spec is None:
        raise ValidationError(f"Unknown metric {metric!r}.")
    if not math.isfinite(limit):
        raise ValidationError(f"{spec.label}: the limit must be a finite number.")
    if spec.percent and not 0 <= limit <= 1:
        raise ValidationError(f"{spec.label}: the limit is a share between 0 and 1.")
    if limit < 0:
        raise ValidationError(f"{spec.label}: the limit cannot be negative.")
    row, _ = QualityThreshold.objects.update_or_create(
        project=project, metric=metric, defaults={"limit": limit, "enabled": enabled, "updated_by": access.user}
    )
    audit_log_record(
        project=project,
        actor=access.actor,
        action="threshold.set",
        obj=row,
        details={"metric": metric, "limit": limit, "enabled": enabled},
    )
    return row
