"""Semantic searches: the web tier writes the question, a worker the answer.

The web tier never loads a model or an index, so a search is a row: the view
creates it, a worker embeds the query (or reads the anchor's stored vector),
searches the project's FAISS index, applies the sample browser's filters and
stores the nearest ids with their scores; the page polls the row.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.models import Sample
from synthreview.projects.models import Project

# A search not answered by then was lost with its worker: the page stops waiting, and another worker may take it.
SEARCH_TIME_LIMIT = timedelta(seconds=90)


class SearchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class SimilaritySearch(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="similarity_searches")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # A typed query, or a sample whose stored vector is the query ("find similar", beyond the stored top 10).
    query = models.TextField(blank=True)
    anchor = models.ForeignKey(Sample, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    k = models.PositiveIntegerField(default=20)
    # The sample browser's cleaned filters, as plain values.
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=SearchStatus.choices, default=SearchStatus.QUEUED)
    # [[sample_id, cosine], ...], nearest first.
    results = models.JSONField(default=list, blank=True)
    # How many nearest were read from the index to find k that pass the filters.
    searched = models.PositiveIntegerField(default=0)
    # Milliseconds per stage (embed, search, filter, total), measured in the worker.
    timings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(query="") | Q(anchor__isnull=False), name="search_query_or_anchor"),
        ]
        indexes = [models.Index(fields=["project", "user", "-created_at"], name="search_recent")]

    def __str__(self) -> str:
        return f"search {self.pk} ({self.status})"
