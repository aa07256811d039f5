"""Embeddings and what the similarity workers materialise from them.

FAISS runs in the workers only; the web tier reads these tables and never an index.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.models import Sample
from synthreview.projects.models import Project


class SampleEmbedding(models.Model):
    """One sample's vector under one model and one choice of embedded text."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="embeddings", db_index=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    model_name = models.CharField(max_length=200)
    text_kind = models.CharField(max_length=16)
    # float32, L2-normalised, little-endian: dimension × 4 bytes.
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Keyed so a rerun of a batch overwrites nothing and duplicates nothing.
            models.UniqueConstraint(fields=["sample", "model_name", "text_kind"], name="embedding_one_per_key"),
        ]
        indexes = [models.Index(fields=["project", "model_name", "text_kind", "sample"], name="embedding_project_key")]

    def __str__(self) -> str:
        return f"{self.text_kind} embedding of sample {self.sample_id} by {self.model_name}"


class SimilarityJobKind(models.TextChoices):
    EMBED = "embed", "Embed samples"
    BUILD = "build", "Build neighbours, groups and clusters"


class SimilarityJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class SimilarityJob(models.Model):
    """A unit of similarity work with its progress, which the UI polls."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="similarity_jobs")
    kind = models.CharField(max_length=8, choices=SimilarityJobKind.choices)
    status = models.CharField(max_length=10, choices=SimilarityJobStatus.choices, default=SimilarityJobStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written with each progress step; a running job whose heartbeat stops was
    # lost with its worker, and a redelivered task may take it over.
    heartbeat = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A build that refits the clusters from scratch (a lead asked for it), not an increment.
    full = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one waiting job of each kind per project: new samples join it.
            models.UniqueConstraint(
                fields=["project", "kind"], condition=Q(status="queued"), name="similarity_job_one_queued"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} similarity job {self.pk} ({self.status})"


class Cluster(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="clusters")
    number = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    # Mean cosine similarity of members to the centroid: high is tight, repetitive.
    density = models.FloatField()
    synthetic_share = models.FloatField()
    # 1 − the largest cosine similarity between the centroid and a real sample.
    real_anchor_distance = models.FloatField(null=True)
    label = models.CharField(max_length=200, blank=True)
    generator_mix = models.JSONField(default=dict)
    template_mix = models.JSONField(default=dict)
    is_low_novelty = models.BooleanField(default=False)
    low_novelty_reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, default="open")
    built_at = models.DateTimeField(auto_now_add=True)
    # The token of the member ids that size and the mixes describe (reviews/similarity/membership.py):
    # what a card's action confirms. Written with them, at the fit and after each increment.
    membership = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["project_id", "number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="cluster_number_unique")]

    def __str__(self) -> str:
        return f"cluster {self.number}: {self.label}" if self.label else f"cluster {self.number}"


class SampleSimilarity(models.Model):
    """Per-sample results of the latest similarity build: one narrow row per
    sample, so refreshing scores never rewrites the sample's text."""

    sample = models.OneToOneField(Sample, on_delete=models.CASCADE, primary_key=True, related_name="similarity")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    # [[sample_id, cosine], ...], nearest first, at most the project's top-k.
    neighbours = models.JSONField(default=list)
    # The first neighbour's similarity: regrouping at a new threshold reads only rows at or above it.
    top_similarity = models.FloatField(null=True)
    # 1 − the largest cosine similarity to a real anchor or an accepted sample (not itself).
    novelty = models.FloatField(null=True)
    nearest_real = models.ForeignKey(Sample, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    nearest_real_similarity = models.FloatField(null=True)
    cluster = models.ForeignKey(Cluster, null=True, on_delete=models.SET_NULL, related_name="members", db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "novelty", "sample"], name="similarity_project_novelty"),
            models.Index(fields=["project", "cluster", "sample"], name="similarity_project_cluster"),
            models.Index(fields=["project", "top_similarity"], name="similarity_project_top"),
        ]

    def __str__(self) -> str:
        return f"similarity of sample {self.sample_id}"


class DuplicateKind(models.TextChoices):
    EXACT = "exact", "Exact (same content)"
    NEAR = "near", "Near-duplicate"
    # One skeleton, different slot values (numbers, names, literals) or answers: each
    # member is valid, the family is low in novelty; keep a few, not one.
    VARIANT = "variant", "Templated variants"


class DuplicateGroupStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved: kept one"
    NOT_DUPLICATES = "not_duplicates", "Not duplicates"
    TRIMMED = "trimmed", "Trimmed: kept the most diverse"


class DuplicateGroup(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="duplicate_groups")
    kind = models.CharField(max_length=8, choices=DuplicateKind.choices)
    status = models.CharField(max_length=16, choices=DuplicateGroupStatus.choices, default=DuplicateGroupStatus.OPEN)
    # sha256 of the sorted member ids: a rebuild that finds the same group keeps its row and its status.
    signature = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    min_similarity = models.FloatField()
    threshold = models.FloatField(null=True)
    representative = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    representative_reason = models.CharField(max_length=200)
    # What a reviewer needs to read the card right: how the members differ (variants),
    # or which members joined through a partner rather than the keeper.
    note = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-size", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "signature"], name="duplicate_group_unique"),
        ]
        indexes = [models.Index(fields=["project", "status", "-size"], name="duplicate_group_queue")]

    def __str__(self) -> str:
        return f"{self.kind} group {self.pk} of {self.size} ({self.status})"


class DuplicateGroupMember(models.Model):
    group = models.ForeignKey(DuplicateGroup, on_delete=models.CASCADE, related_name="members")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="duplicate_memberships")
    similarity = models.FloatField(help_text="Cosine similarity to the representative.")
    # Why this member is here when its similarity to the keeper does not say it: its slot
    # values in a variant family, or the partner it joined through.
    note = models.CharField(max_length=200, blank=True, default="")
    # Farthest-point order in a variant family: the first N are the N most diverse members.
    diversity_rank = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "sample"], name="duplicate_member_once")]

    def __str__(self) -> str:
        return f"sample {self.sample_id} in group {self.group_id}"


class EmbeddingMap(models.Model):
    """A 2D projection of (a random subset of) the project's embeddings, made
    by the similarity worker so the map page never touches a vector."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="embedding_map")
    method = models.CharField(max_length=16, default="pca")
    # [[sample_id, x, y], ...] with x and y scaled into [0, 1].
    points = models.JSONField(default=list)
    embedded_total = models.PositiveIntegerField(default=0)
    explained_variance = models.JSONField(default=list)
    built_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.method} map of project {self.project_id}"
