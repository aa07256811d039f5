"""Per-project sample counters, so that no page counts a million rows.

Every app that writes samples keeps them in step through
`synthreview.projects.services.counters.sample_count_add`, in the same
transaction as its write. Origin and status are the two ways pages slice them.
"""

from __future__ import annotations

from django.db import models

from synthreview.projects.models.projects import Project


class Origin(models.TextChoices):
    REAL = "real", "Real"
    SYNTHETIC = "synthetic", "Synthetic"


class SampleStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class SampleCount(models.Model):
    """Per-project sample counts by origin and status, kept by the services that
    write samples, so pages never COUNT(*) a million rows."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sample_counts")
    origin = models.CharField(max_length=9, choices=Origin.choices)
    status = models.CharField(max_length=8, choices=SampleStatus.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "origin", "status"], name="sample_count_unique"),
        ]
        # The table was made by `generation`, which kept the counters before they moved here.
        db_table = "generation_samplecount"

    def __str__(self) -> str:
        return f"{self.project_id} {self.origin} {self.status}: {self.count}"
