"""Verdicts and audits."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.models import GenerationRun, Generator, PromptTemplateVersion, Sample
from reviews.metrics import BreakdownFloor, NoiseFloorFigures
from synthreview.projects.models import Project


class AuditScope(models.TextChoices):
    RUN = "run", "One run"
    GENERATOR = "generator", "One generator"
    TEMPLATE_VERSION = "template_version", "One template version"
    PROJECT = "project", "All synthetic samples of the project"


class AuditStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Audit(models.Model):
    """A random, stratified sample of synthetic items reviewed by experts.

    The share marked wrong is the noise floor. Its figures are frozen on closing.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audits")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=AuditScope.choices)
    run = models.ForeignKey(GenerationRun, null=True, blank=True, on_delete=models.PROTECT)
    generator = models.ForeignKey(Generator, null=True, blank=True, on_delete=models.PROTECT)
    template_version = models.ForeignKey(PromptTemplateVersion, null=True, blank=True, on_delete=models.PROTECT)
    sample_size = models.PositiveIntegerField(default=60)
    overlap = models.PositiveSmallIntegerField(default=1)
    gold_items = models.PositiveSmallIntegerField(default=0)
    # The error rate the lead expected when planning n; kept to show how the plan compared.
    expected_error_rate = models.FloatField(default=0.10)
    seed = models.BigIntegerField()
    # The audit covers the samples of its scope that existed when it was drawn:
    # those with an id up to this one. Later samples need an audit of their own.
    drawn_through_sample_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=AuditStatus.choices, default=AuditStatus.OPEN)
    closed_reason = models.TextField(blank=True)
    frozen_figures = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(sample_size__gte=1), name="audit_sample_size_positive"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="audit_overlap_positive"),
            models.CheckConstraint(
                condition=Q(scope="run", run__isnull=False)
                | Q(scope="generator", generator__isnull=False)
                | Q(scope="template_version", template_version__isnull=False)
                | Q(scope="project"),
                name="audit_scope_names_its_object",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def frozen_noise_floor(self) -> NoiseFloorFigures | None:
        """The noise floor frozen on closing; None while the audit is open."""
        stored = (self.frozen_figures or {}).get("noise_floor")
        return NoiseFloorFigures.from_json(stored) if stored else None

    def frozen_breakdown(self, key: str) -> list[BreakdownFloor] | None:
        """The frozen noise floor per generator / template_version / run; None when the audit is open or
        froze its figures before breakdowns were kept."""
        rows = (self.frozen_figures or {}).get("breakdowns", {}).get(key)
        return None if rows is None else [BreakdownFloor.from_json(row) for row in rows]


class AuditItem(models.Model):
    """One sample drawn into an audit; gold items are real samples with a known verdict."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="items")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="audit_items")
    position = models.PositiveIntegerField()
    stratum = models.CharField(max_length=200, blank=True)
    is_gold = models.BooleanField(default=False)
    gold_verdict = models.CharField(max_length=8, blank=True)

    class Meta:
        ordering = ["audit_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "sample"], name="audit_item_sample_once"),
            models.UniqueConstraint(fields=["audit", "position"], name="audit_item_position_once"),
        ]

    def __str__(self) -> str:
        return f"item {self.position} of audit {self.audit_id}"


class VerdictValue(models.TextChoices):
    CORRECT = "correct", "Correct"
    WRONG = "wrong", "Wrong"
    UNSURE = "unsure", "Unsure"


class ErrorCategory(models.TextChoices):
    # The order is the keyboard's: 1–7 in the review queue.
    WRONG_LABEL = "wrong_label", "Wrong label"
    HALLUCINATION = "hallucination", "Hallucination"
    INCOMPLETE = "incomplete", "Incomplete"
    OFF_TOPIC = "off_topic", "Off-topic"
    UNSAFE = "unsafe", "Unsafe"
    DUPLICATE = "duplicate", "Duplicate"
    OTHER = "other", "Other"


class Verdict(models.Model):
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="verdicts")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="verdicts")
    audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.PROTECT, related_name="verdicts")
    value = models.CharField(max_length=8, choices=VerdictValue.choices)
    error_category = models.CharField(max_length=16, choices=ErrorCategory.choices, blank=True)
    note = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    # What undo restores: the sample's status before this verdict, the verdict it
    # replaced (if any), and the sample revision it produced, so an undo after
    # someone else changed the sample is refused instead of clobbering them.
    previous_status = models.CharField(max_length=8, blank=True)
    previous_value = models.CharField(max_length=8, blank=True)
    previous_error_category = models.CharField(max_length=16, blank=True)
    sample_revision = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One verdict per reviewer per sample per audit; outside audits, one per
            # reviewer per sample. NULL audits need their own partial index because
            # NULLs never collide in a plain unique index.
            models.UniqueConstraint(
                fields=["sample", "reviewer", "audit"],
                condition=Q(audit__isnull=False),
                name="verdict_one_per_reviewer_sample_audit",
            ),
            models.UniqueConstraint(
                fields=["sample", "reviewer"],
                condition=Q(audit__isnull=True),
                name="verdict_one_per_reviewer_sample_outside_audit",
            ),
            models.CheckConstraint(condition=Q(value__in=VerdictValue.values), name="verdict_value_valid"),
            models.CheckConstraint(
                condition=Q(error_category="") | Q(error_category__in=ErrorCategory.values),
                name="verdict_error_category_valid",
            ),
            # A correct sample has no error.
            models.CheckConstraint(
                condition=~Q(value="correct") | Q(error_category=""),
                name="verdict_correct_has_no_error_category",
            ),
        ]
        indexes = [
            models.Index(fields=["reviewer", "-created_at"], name="verdict_reviewer_recent"),
            models.Index(fields=["reviewer", "-updated_at"], name="verdict_reviewer_updated"),
            # The sample browser's verdict filter ("has a wrong verdict") from the index alone, without
            # reading the verdict rows the sample_id index points at (built concurrently, migration 0013).
            models.Index(fields=["sample", "value"], name="verdict_sample_value"),
        ]

    def __str__(self) -> str:
        return f"{self.value} on sample {self.sample_id} by {self.reviewer_id}"
