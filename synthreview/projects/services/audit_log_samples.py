"""Writing the samples an audit-log entry acted on (synthreview/projects/models/audit_log_samples.py)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from synthreview.projects.models import AuditLog, AuditLogSample

# Rows per INSERT on SQLite: its statements take at most 32,766 parameters, two per row.
SQLITE_BATCH = 5000


def audit_log_samples_link(*, entry: AuditLog, sample_ids: Sequence[int]) -> int:
    """Link the entry to each of these samples, inside the transaction that wrote the entry,
    and return how many were linked. On PostgreSQL a binary COPY streams the rows: a 30,000-sample
    bulk action links in one round trip, where INSERTs would carry 60,000 parameters."""
    unique = sorted(set(sample_ids))
    if not unique:
        return 0
    if connection.vendor == "postgresql":
        table = AuditLogSample._meta.db_table
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} (entry_id, sample_id) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8"])
                for sample_id in unique:
                    copy.write_row((entry.pk, sample_id))
    else:
        AuditLogSample.objects.bulk_create(
            [AuditLogSample(entry=entry, sample_id=sample_id) for sample_id in unique], batch_size=SQLITE_BATCH
        )
    return len(unique)
