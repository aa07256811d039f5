"""Gold items, adjudications, quality snapshots, thresholds and alerts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.models import Sample
from reviews.models.verdicts import Audit, ErrorCategory, VerdictValue
from synthreview.projects.models import Project


class GoldSample(models.Model):
    """A real sample whose verdict a lead knows; mixed blind into audits to calibrate reviewers."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gold_samples")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    expected_value = models.CharField(max_length=8, choices=VerdictValue.choices)
    expected_error_category = models.CharField(max_length=16, choices=ErrorCategory.choices, blank=True)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "sample_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sample"], name="gold_sample_once"),
            # "Unsure" is no known verdict.
            models.CheckConstraint(condition=Q(expected_value__in=["correct", "wrong"]), name="gold_value_known"),
        ]

    def __str__(self) -> str:
        return f"gold sample {self.sample_id}: {self.expected_value}"


class AuditAdjudication(models.Model):
    """A lead's decision on an audit item its reviewers disagreed on."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="adjudications")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="+")
    value = models.CharField(max_length=8, choices=VerdictValue.choices)
    error_category = models.CharField(max_length=16, choices=ErrorCategory.choices, blank=True)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audit", "sample"], name="adjudication_once_per_item")]

    def __str__(self) -> str:
        return f"{self.value} on sample {self.sample_id} in audit {self.audit_id}"


class SnapshotScope(models.TextChoices):
    PROJECT = "project", "Project"
    RUN = "run", "Run"
    GENERATOR = "generator", "Generator"


class QualitySnapshot(models.Model):
    """Quality figures a worker computed from the stored embeddings and neighbours
    at one moment, for the whole project's synthetic samples, one run or one generator.
    Dashboards read these instead of scanning samples."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quality_snapshots")
    scope = models.CharField(max_length=10, choices=SnapshotScope.choices)
    scope_id = models.BigIntegerField(null=True, blank=True)
    scope_label = models.CharField(max_length=300)
    computed_at = models.DateTimeField(db_index=True)
    sample_count = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["project", "scope", "scope_id", "-computed_at"], name="snapshot_scope_recent")]

    def __str__(self) -> str:
        return f"quality of {self.scope_label} at {self.computed_at}"


class QualityThreshold(models.Model):
    """A project's own limit for one metric; metrics without a row use the defaults in reviews.quality.thresholds."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quality_thresholds")
    metric = models.CharField(max_length=32)
    limit = models.FloatField()
    enabled = models.BooleanField(default=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "metric"], name="threshold_once_per_metric")]

    def __str__(self) -> str:
        return f"{self.metric} limit {self.limit:g}" + ("" if self.enabled else " (off)")


class AlertChannel(models.Model):
    """Where a project's alerts go. Only admins set the webhook URL."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="alert_channel")
    webhook_url = models.URLField(max_length=500, blank=True)
    email_recipients = models.TextField(blank=True, help_text="Addresses separated by commas or new lines.")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"alert channel of project {self.project_id}"

    def recipients(self) -> list[str]:
        return [part.strip() for part in self.email_recipients.replace("\n", ",").split(",") if part.strip()]


class Alert(models.Model):
    """A threshold that slipped. One live alert per metric and scope until the figure
    comes back within its limit (`recovered_at`): a figure that stays over does not
    mail again on every snapshot, even after a lead acknowledged it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    metric = models.CharField(max_length=32)
    scope_key = models.CharField(max_length=100)
    scope_label = models.CharField(max_length=300)
    value = models.FloatField()
    limit = models.FloatField()
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recovered_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_status = models.CharField(max_length=200, blank=True)
    # Where the worker delivered it, as it went: [{"channel": "email", "to": [...]}, {"channel": "webhook",
    # "to": host, "status": ...}]. `notified_at` is set once the worker has tried, even if nobody was there to tell.
    sent_to = models.JSONField(default=list, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    # A lead hides it until then; it comes back by itself if still open.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "metric", "scope_key"],
                condition=Q(recovered_at__isnull=True),
                name="alert_one_live_per_metric_scope",
            ),
        ]
        indexes = [models.Index(fields=["project", "acknowledged_at", "-created_at"], name="alert_project_open")]

    def __str__(self) -> str:
        return f"{self.metric} alert on {self.scope_label}"
