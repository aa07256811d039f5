"""Claims on the samples the review queue shows, so that reviewers working one queue at once each get
their own sample (reviews.models.QueueClaim)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from reviews.models import QueueClaim
from synthreview.projects.models import Project

# Long enough to read a sample and give a verdict; short enough that a card left open (a reviewer gone
# to lunch) comes back to the others' queues soon.
CLAIM_DURATION = timedelta(minutes=5)


def queue_claim(*, project: Project, reviewer: User, sample_id: int) -> bool:
    """Holds the sample on this reviewer's card for CLAIM_DURATION, and lets go of the reviewer's other
    claims in the project (one card at a time). False when another reviewer's claim on it still runs:
    the caller then shows another sample."""
    now = timezone.now()
    ops = connection.ops
    table = ops.quote_name(QueueClaim._meta.db_table)
    with connection.cursor() as cursor:
        # Plain SQL: the queue card pays for these two on every view, and the ORM's delete collector and
        # compiler cost more CPU than the statements themselves.
        cursor.execute(
            f"DELETE FROM {table} WHERE reviewer_id = %s AND project_id = %s AND sample_id <> %s",
            [reviewer.pk, project.pk, sample_id],
        )
        # One statement, so two reviewers taking the same free (or expired) sample cannot both win: it inserts
        # a claim, renews our own, or takes over an expired one, and returns a row only when it did.
        # PostgreSQL and SQLite (3.35+) both speak INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING.
        cursor.execute(
            f"INSERT INTO {table} (project_id, sample_id, reviewer_id, expires_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (sample_id) DO UPDATE SET project_id = excluded.project_id, "
            "reviewer_id = excluded.reviewer_id, expires_at = excluded.expires_at "
            f"WHERE {table}.reviewer_id = excluded.reviewer_id OR {table}.expires_at <= %s "
            "RETURNING id",
            [
                project.pk,
                sample_id,
                reviewer.pk,
                ops.adapt_datetimefield_value(now + CLAIM_DURATION),
                ops.adapt_datetimefield_value(now),
            ],
        )
        return cursor.fetchone() is not None


def queue_claims_release(*, project: Project, reviewer: User) -> None:
    """Lets go of the reviewer's claims in the project (the queue is empty for them)."""
    QueueClaim.objects.filter(reviewer=reviewer, project=project).delete()
