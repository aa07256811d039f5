"""Governance: version-locked real-only eval sets, their leak checks, exports and
the downstream results recorded against them.

Eval-set versions and finished exports are records of what left for training;
on PostgreSQL triggers (migration 0007) refuse to rewrite them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from generation.models import Generator, Sample
from synthreview.projects.models import Project


class EvalSetVersion(models.Model):
    """A frozen eval set: its members never change; a change is a new version."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="eval_set_versions")
    version = models.PositiveIntegerField()
    # sha256 over the members' sorted content hashes: the same members give the same hash.
    content_hash = models.CharField(max_length=64)
    member_count = models.PositiveIntegerField()
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="eval_set_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="eval_set_version_positive"),
        ]

    def __str__(self) -> str:
        return f"eval set v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError("An eval-set version cannot change; create a new version instead.")
        super().save(*args, **kwargs)


class EvalSetMember(models.Model):
    version = models.ForeignKey(EvalSetVersion, on_delete=models.PROTECT, related_name="members")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="eval_memberships")
    content_hash = models.CharField(max_length=64)
    # Copied from the sample; on PostgreSQL a trigger checks the copy against the
    # sample itself, so neither a bug nor a raw INSERT can put synthetic data here.
    origin = models.CharField(max_length=9, default="real")

    class Meta:
        ordering = ["version_id", "sample_id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "sample"], name="eval_set_member_once"),
            models.CheckConstraint(condition=Q(origin="real"), name="eval_set_member_is_real"),
        ]

    def __str__(self) -> str:
        return f"sample {self.sample_id} in eval set #{self.version_id}"


class LeakCheckStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class EvalLeakCheck(models.Model):
    """How far the train side has been checked against one eval-set version."""

    version = models.OneToOneField(EvalSetVersion, on_delete=models.CASCADE, related_name="leak_check")
    threshold = models.FloatField()
    model_name = models.CharField(max_length=200, blank=True)
    # Every sample with an id up to this one has been checked (the check is incremental by id).
    checked_through_id = models.BigIntegerField(default=0)
    samples_checked = models.BigIntegerField(default=0)
    leaks_found = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=LeakCheckStatus.choices, default=LeakCheckStatus.PENDING)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"leak check of eval set #{self.version_id} ({self.status})"


class LeakKind(models.TextChoices):
    EXACT = "exact", "Same content"
    NEAR = "near", "Near-duplicate"
    PROMPT = "prompt", "Same prompt"
    PROMPT_NEAR = "prompt_near", "Paraphrased prompt"


class EvalLeak(models.Model):
    """A train-side sample too close to an eval sample: kept out of training exports."""

    version = models.ForeignKey(EvalSetVersion, on_delete=models.CASCADE, related_name="leaks")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="eval_leaks")
    eval_sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    similarity = models.FloatField()
    kind = models.CharField(max_length=12, choices=LeakKind.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "sample"], name="eval_leak_once_per_version")]

    def __str__(self) -> str:
        return f"sample {self.sample_id} leaks eval sample {self.eval_sample_id} ({self.kind})"


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class ExportSplit(models.TextChoices):
    TRAIN = "train", "Training set"
    EVAL = "eval", "Eval set (real only, version-locked)"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"


FINISHED_EXPORT_STATUSES = (ExportStatus.COMPLETED, ExportStatus.REFUSED, ExportStatus.FAILED)


class Export(models.Model):
    """One export: what was asked, what the gates decided, and the file made.

    Once finished it never changes (a PostgreSQL trigger refuses it); asking again
    is a new export.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    split = models.CharField(max_length=5, choices=ExportSplit.choices, default=ExportSplit.TRAIN)
    target_model = models.CharField(max_length=200, blank=True)
    max_generation_depth = models.PositiveSmallIntegerField(default=1)
    eval_set_version = models.ForeignKey(
        EvalSetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    excluded_generators = models.ManyToManyField(Generator, blank=True, related_name="+")
    audit_override_reason = models.TextField(blank=True)
    status = models.CharField(max_length=9, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    stage = models.CharField(max_length=40, blank=True)
    rows_total = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    refusals = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # Built by the server from the project's id and the export's id: never from user input.
    stored_path = models.CharField(max_length=500, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    manifest = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(format__in=ExportFormat.values), name="export_format_valid"),
            models.CheckConstraint(condition=Q(split__in=ExportSplit.values), name="export_split_valid"),
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="export_status_valid"),
        ]
        indexes = [models.Index(fields=["project", "-id"], name="export_project_recent")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_EXPORT_STATUSES


class DownstreamResult(models.Model):
    """A model trained on an export, scored on a metric: for the performance-parity check."""

    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="downstream_results")
    model_name = models.CharField(max_length=200)
    metric = models.CharField(max_length=100)
    value = models.FloatField()
    higher_is_better = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["metric", "export_id", "id"]

    def __str__(self) -> str:
        return f"{self.model_name} {self.metric} {self.value:g} on export {self.export_id}"
