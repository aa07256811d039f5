"""Which samples an audit-log entry acted on, one row per sample.

A bulk action or a group decision changes many samples under one entry. Its
details keep the ids for the audit-log page and its CSV, but a sample's history
finds the entry through these rows: an index lookup on the sample, whose cost
does not depend on how many or how large the past bulk actions were.

`sample_id` is a plain column, not a foreign key: samples live in `generation`,
one floor up, and the ground floor never refers to a higher app. Sample ids are
never reused (PostgreSQL sequences, SQLite AUTOINCREMENT), so a link cannot come
to name a different sample.
"""

from __future__ import annotations

from django.db import models

from synthreview.projects.models.audit_log import AuditLog


class AuditLogSample(models.Model):
    """One sample that an audit-log entry acted on; as append-only as the log itself."""

    pk = models.CompositePrimaryKey("entry", "sample_id")
    # The primary key (entry, sample_id) already indexes the entry: no index of its own.
    entry = models.ForeignKey(AuditLog, on_delete=models.PROTECT, related_name="+", db_index=False)
    sample_id = models.BigIntegerField()

    class Meta:
        indexes = [
            # A sample's history: its entries, newest first, read from the index alone.
            models.Index(fields=["sample_id", "-entry"], name="auditlogsample_sample_recent"),
        ]

    def __str__(self) -> str:
        return f"entry {self.entry_id} → sample {self.sample_id}"
