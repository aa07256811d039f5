"""Lineage and samples.

A sample always knows where it came from: real, or synthetic from a generator
run through a versioned prompt template. Integrity rules live in the database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from synthreview.outbound import OutboundURLValidator
from synthreview.projects.models import Origin, Project, SampleStatus


class OutputFormat(models.TextChoices):
    TEXT = "text", "Free text"
    JSON = "json", "JSON"
    MATH = "math", "Math (final number)"
    CODE = "code", "Code"


class PromptTemplate(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="template_name_unique_in_project"),
        ]

    def __str__(self) -> str:
        return self.name


class PromptTemplateVersion(models.Model):
    """An immutable version of a template: a change is a new version."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    text = models.TextField(blank=True, help_text="Empty for templates known only by name from an import.")
    variables = models.JSONField(default=list, blank=True)
    output_format = models.CharField(max_length=8, choices=OutputFormat.choices, default=OutputFormat.TEXT)
    output_schema = models.JSONField(null=True, blank=True, help_text="JSON schema, for JSON outputs.")
    code_language = models.CharField(max_length=32, blank=True)
    checks = models.JSONField(default=list, blank=True, help_text="Names of the automated checks that apply.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["template_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["template", "version"], name="template_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="template_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError("A template version cannot change; create a new version instead.")
        super().save(*args, **kwargs)


class GeneratorKind(models.TextChoices):
    OPENAI_COMPATIBLE = "openai-compatible", "OpenAI-compatible endpoint"
    PROGRAMMATIC = "programmatic", "Programmatic (rule-based)"
    IMPORTED = "imported", "Imported (made elsewhere)"


class Generator(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="generators")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=GeneratorKind.choices, default=GeneratorKind.IMPORTED)
    model_name = models.CharField(max_length=200, blank=True)
    # Only admins set these (see synthreview/projects/access.py); the key itself is never stored in
    # plain text: api_key_env names the environment variable that holds it.
    # The base URL of an OpenAI-compatible API, e.g. http://vllm:8000/v1. Checked for
    # server-side request forgery here and again at every call (synthreview.outbound).
    endpoint = models.URLField(max_length=500, blank=True, validators=[OutboundURLValidator()])
    api_key_env = models.CharField(max_length=100, blank=True)
    temperature = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)])
    top_p = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    sampling_strategy = models.CharField(max_length=100, blank=True, help_text="e.g. nucleus, greedy, beam")
    parameters = models.JSONField(default=dict, blank=True, help_text="Any further sampling parameters.")
    # The model lineage, nearest ancestor first, e.g. ["llama-3-8b-instruct", "llama-3-8b"].
    # The export's recursion guard refuses samples whose lineage meets the target model's.
    derived_from = models.JSONField(default=list, blank=True)
    programmatic_name = models.CharField(max_length=100, blank=True, help_text="Registered rule-based generator.")
    # How hard a run may call this generator, across all workers and runs at once.
    concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(64)], help_text="Requests in flight at once."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Requests started per minute; empty: no limit.",
    )
    request_timeout_s = models.FloatField(default=60.0, validators=[MinValueValidator(1.0), MaxValueValidator(600.0)])
    cost_per_million_input_tokens = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    cost_per_million_output_tokens = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="generator_name_unique_in_project"),
            models.CheckConstraint(condition=Q(kind__in=GeneratorKind.values), name="generator_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def lineage(self) -> list[str]:
        return [name for name in [self.model_name, *self.derived_from] if name]


class RunStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class GenerationRun(models.Model):
    """A template version × generators × a parameter grid, executed together."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=200)
    template_version = models.ForeignKey(
        PromptTemplateVersion, on_delete=models.PROTECT, related_name="runs", null=True, blank=True
    )
    generators = models.ManyToManyField(Generator, related_name="runs")
    parameters = models.JSONField(default=dict, blank=True, help_text="The parameter grid and run options.")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.DRAFT)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    items_failed = models.PositiveIntegerField(default=0)
    samples_created = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    # The variable table as uploaded (or drawn), one dict per row; read only when items are made.
    variable_rows = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="run_name_unique_in_project"),
        ]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ImportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    JSON = "json", "JSON array"
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class ImportBatch(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    file_name = models.CharField(max_length=255, help_text="The name the user gave; never used as a path.")
    stored_path = models.CharField(max_length=500, blank=True, help_text="Server-built path of an upload.")
    format = models.CharField(max_length=8, choices=ImportFormat.choices)
    field_mapping = models.JSONField(default=dict, blank=True)
    default_origin = models.CharField(max_length=9, default="synthetic")
    default_generator = models.CharField(max_length=200, blank=True)
    default_template = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    rows_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_duplicate = models.PositiveIntegerField(default=0)
    # Rows skipped because their source (a generator, or real data) already had that exact content:
    # the first of them, [{"line", "source", "same_as_line" | "same_as_sample"}], capped, and every
    # source's {"rows": read, "repeated": skipped}, so a lead sees how much a generator repeated itself.
    duplicate_lines = models.JSONField(default=list, blank=True)
    duplicates_by_source = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A push through the API names itself with a key the client chose, so a retried push finds the
    # batch its first try made instead of importing again; the body's digest tells a retry from a
    # different push that reused the key.
    idempotency_key = models.CharField(max_length=200, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "import batches"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="import_batch_idempotency_key_once_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"


class Split(models.TextChoices):
    NONE = "", "None"
    TRAIN = "train", "Train"
    EVAL = "eval", "Eval"


class Sample(models.Model):
    # Foreign keys carry no index of their own: the composite indexes below lead
    # with the project, which is how every query reaches samples, and each extra
    # index is paid for on every row of a million-row import.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="samples", db_index=False)
    origin = models.CharField(max_length=9, choices=Origin.choices)
    run = models.ForeignKey(GenerationRun, null=True, blank=True, on_delete=models.PROTECT, db_index=False)
    generator = models.ForeignKey(Generator, null=True, blank=True, on_delete=models.PROTECT, db_index=False)
    template_version = models.ForeignKey(
        PromptTemplateVersion, null=True, blank=True, on_delete=models.PROTECT, db_index=False
    )
    import_batch = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, db_index=False)
    input = models.TextField(blank=True)
    output = models.TextField(blank=True)
    label = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 NULL: unlabelled; "" would be a class
    metadata = models.JSONField(default=dict, blank=True)
    # sha256 hex of the normalised input and output (see generation.hashing).
    content_hash = models.CharField(max_length=64)
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.NONE, blank=True)
    status = models.CharField(max_length=8, choices=SampleStatus.choices, default=SampleStatus.PENDING)
    # 0 for samples generated from real seeds; n+1 when synthetic samples of depth n were the seeds.
    generation_depth = models.PositiveSmallIntegerField(default=0)
    # Bumped on every status change, so two reviewers cannot overwrite each other silently.
    revision = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Unique per project and source: the run (per generator inside it), the
            # generator for imports, or the project itself for real data without one.
            models.UniqueConstraint(
                fields=["project", "run", "generator", "content_hash"],
                condition=Q(run__isnull=False),
                name="sample_unique_content_per_run_generator",
            ),
            models.UniqueConstraint(
                fields=["project", "generator", "content_hash"],
                condition=Q(run__isnull=True, generator__isnull=False),
                name="sample_unique_content_per_generator",
            ),
            models.UniqueConstraint(
                fields=["project", "content_hash"],
                condition=Q(run__isnull=True, generator__isnull=True),
                name="sample_unique_content_without_source",
            ),
            models.CheckConstraint(condition=Q(origin__in=Origin.values), name="sample_origin_valid"),
            models.CheckConstraint(condition=Q(status__in=SampleStatus.values), name="sample_status_valid"),
            models.CheckConstraint(condition=Q(split__in=Split.values), name="sample_split_valid"),
            # Synthetic data always names its generator: that is its lineage.
            models.CheckConstraint(
                condition=Q(origin="real") | Q(generator__isnull=False),
                name="sample_synthetic_has_generator",
            ),
            # Real data has no generator, run or template.
            models.CheckConstraint(
                condition=Q(origin="synthetic")
                | Q(generator__isnull=True, run__isnull=True, template_version__isnull=True),
                name="sample_real_has_no_generation_lineage",
            ),
            # The eval set is real only.
            models.CheckConstraint(condition=~Q(split="eval") | Q(origin="real"), name="sample_eval_split_is_real"),
        ]
        indexes = [
            # Keyset pagination over a million rows: (project, id) and the queue's
            # (project, status, id).
            models.Index(fields=["project", "id"], name="sample_project_id"),
            models.Index(fields=["project", "status", "id"], name="sample_project_status_id"),
            models.Index(fields=["run", "id"], name="sample_run_id", condition=Q(run__isnull=False)),
            # The eval split is small; the governance pages read it without scanning a million rows.
            models.Index(fields=["project", "id"], name="sample_eval_split", condition=Q(split="eval")),
            # The sample browser's lineage filters, newest first: a rare value is an index range,
            # not a walk of the whole project checking each row (built concurrently, migration 0013).
            models.Index(fields=["project", "generator", "id"], name="sample_project_generator_id"),
            models.Index(fields=["project", "template_version", "id"], name="sample_project_template_id"),
            models.Index(fields=["project", "origin", "status", "id"], name="sample_project_origin_status"),
            models.Index(fields=["project", "split", "id"], name="sample_project_split_id", condition=~Q(split="")),
        ]
        # On PostgreSQL the table also has search_vector, a stored tsvector of input and output with a
        # GIN index (migration 0013), which generation.selectors.text_search reads; the model leaves it
        # out, so no query carries it and no write names it.

    def __str__(self) -> str:
        return f"sample {self.pk}"


class SampleFlag(models.Model):
    """One automated check's finding on one sample, with its reason.

    The checks themselves (a registry of pure functions run by workers) arrive
    with the generation issue; the review queue and the sample browser read
    these rows already.
    """

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="flags")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    check_name = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sample_id", "check_name"]
        constraints = [models.UniqueConstraint(fields=["sample", "check_name"], name="sample_flag_once_per_check")]
        indexes = [models.Index(fields=["project", "check_name", "sample"], name="sample_flag_project_check")]

    def __str__(self) -> str:
        return f"{self.check_name} on sample {self.sample_id}"
