"""Which reviewer's queue holds a sample for now, so reviewers working the same queue at once are shown
different samples instead of racing for the same one."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from generation.models import Sample
from synthreview.projects.models import Project


class QueueClaim(models.Model):
    """A short lease: the sample is on this reviewer's queue card until `expires_at`, and the other
    reviewers' queues pass it by. One claim per sample; an expired one is as good as none, and is taken
    over by the next reviewer whose queue reaches the sample. It only steers the queues: a verdict is
    still guarded by the sample's revision, so a true race between two reviewers answers 409."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    sample = models.OneToOneField(Sample, on_delete=models.CASCADE, related_name="queue_claim")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            # A reviewer's claims, released when the next card is claimed.
            models.Index(fields=["reviewer", "project"], name="queueclaim_reviewer_project"),
        ]

    def __str__(self) -> str:
        return f"sample {self.sample_id} held by reviewer {self.reviewer_id} until {self.expires_at:%H:%M:%S}"
