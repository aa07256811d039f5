"""Where mapped rows go: PostgreSQL's COPY, or the ORM.

Both work a chunk at a time: drop the rows whose content their source already
holds (earlier chunks of the same file included, since they are in the same
transaction), then store the rest in file order. Neither commits: the caller's
transaction makes the import all or nothing.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Protocol

from django.db import connection
from django.utils import timezone

from generation.ingest.mapping import MappedRow
from generation.models import Sample, SampleStatus

# The skipped rows an import keeps, with their lines: enough to show a lead where the
# generator repeated itself; the per-source counts cover the rest.
DUPLICATE_LINES_KEPT = 1000

# pg_advisory_xact_lock(class, project): imports into one project take turns, so
# two of them can never both decide that the same content is new.
SAMPLE_WRITE_LOCK_CLASS = 7301

_COPY_COLUMNS = (
    "project_id",
    "origin",
    "generator_id",
    "template_version_id",
    "import_batch_id",
    "input",
    "output",
    "label",
    "metadata",
    "content_hash",
    "split",
    "status",
    "generation_depth",
    "revision",
    "created_at",
    "updated_at",
)


def hash_prefix(content_hash: str) -> int:
    return int(content_hash[:16], 16)


class LineageResolver(Protocol):
    def generator_id(self, name: str) -> int | None: ...

    def template_version_id(self, name: str) -> int | None: ...


class _ChunkedSink:
    CHUNK_ROWS = 5000
    # Characters of text per chunk, so a file of long rows keeps memory bounded too.
    CHUNK_CHARS = 8_000_000

    def __init__(self, *, project_id: int, batch_id: int, lineage: LineageResolver) -> None:
        self.project_id = project_id
        self.batch_id = batch_id
        self.lineage = lineage
        self._lineage_ids: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        self._pending: list[tuple[MappedRow, int | None, int | None]] = []
        self._pending_chars = 0
        self._inserted: Counter[str] = Counter()
        # For each source that had no samples before this import: the first 64 bits
        # of every content hash written so far. Only a row whose prefix was seen
        # needs a look-up, so a fresh import costs no index probes of its own
        # (8 bytes of hash and a set slot per row: ~60 MB per million rows).
        self._seen_prefixes: dict[int | None, set[int]] = {}
        self.duplicate_lines: list[dict[str, object]] = []
        self.duplicates_by_source: dict[str, dict[str, int]] = {}

    def write(self, row: MappedRow) -> None:
        self._source_counts(row)["rows"] += 1
        ids = self._lineage_ids.get((row.generator_name, row.template_name))
        if ids is None:
            ids = (self.lineage.generator_id(row.generator_name), self.lineage.template_version_id(row.template_name))
            self._lineage_ids[(row.generator_name, row.template_name)] = ids
            if ids[0] not in self._seen_prefixes and not self._source_has_samples(ids[0]):
                self._seen_prefixes[ids[0]] = set()
        self._pending.append((row, ids[0], ids[1]))
        self._pending_chars += len(row.input) + len(row.output) + len(row.metadata_json)
        if len(self._pending) >= self.CHUNK_ROWS or self._pending_chars >= self.CHUNK_CHARS:
            self._flush()

    def abandon(self) -> None:
        self._pending.clear()

    def finish(self) -> Counter[str]:
        self._flush()
        return self._inserted

    def _source_counts(self, row: MappedRow) -> dict[str, int]:
        counts = self.duplicates_by_source.get(row.generator_name)
        if counts is None:
            counts = self.duplicates_by_source[row.generator_name] = {"rows": 0, "repeated": 0}
        return counts

    def _skipped(self, row: MappedRow, **same_as: int) -> None:
        self._source_counts(row)["repeated"] += 1
        if len(self.duplicate_lines) < DUPLICATE_LINES_KEPT:
            self.duplicate_lines.append({"line": row.line, "source": row.generator_name, **same_as})

    def _flush(self) -> None:
        if not self._pending:
            return
        # Where each content first appears in this chunk, by position in it.
        first_in_chunk: dict[tuple[int | None, str], int] = {}
        unique_rows = []
        maybe_stored: dict[int | None, set[str]] = defaultdict(set)
        for position, (row, generator_id, template_version_id) in enumerate(self._pending):
            key = (generator_id, row.content_hash)
            if key in first_in_chunk:
                continue
            first_in_chunk[key] = position
            unique_rows.append((row, generator_id, template_version_id))
            seen = self._seen_prefixes.get(generator_id)
            if seen is None:
                maybe_stored[generator_id].add(row.content_hash)  # the source had samples before
                continue
            prefix = hash_prefix(row.content_hash)
            if prefix in seen:
                maybe_stored[generator_id].add(row.content_hash)  # an earlier chunk, or a prefix collision
            else:
                seen.add(prefix)
        stored = {
            (generator_id, digest): sample_id
            for generator_id, hashes in maybe_stored.items()
            for digest, sample_id in self._stored_samples(generator_id, list(hashes))
        }
        new_rows = [item for item in unique_rows if (item[1], item[0].content_hash) not in stored]
        if len(new_rows) < len(self._pending):
            for position, (row, generator_id, _) in enumerate(self._pending):
                key = (generator_id, row.content_hash)
                if key in stored:
                    self._skipped(row, same_as_sample=stored[key])
                elif first_in_chunk[key] != position:
                    self._skipped(row, same_as_line=self._pending[first_in_chunk[key]][0].line)
        if new_rows:
            self._store(new_rows)
            self._inserted.update(row.origin for row, _, _ in new_rows)
        self._pending.clear()
        self._pending_chars = 0

    def _source_has_samples(self, generator_id: int | None) -> bool:
        source = Sample.objects.filter(project_id=self.project_id, run__isnull=True)
        if generator_id is None:
            return source.filter(generator__isnull=True).exists()
        return source.filter(generator_id=generator_id).exists()

    def _stored_samples(self, generator_id: int | None, hashes: list[str]) -> list[tuple[str, int]]:
        """(content hash, sample id) of the source's imported samples holding these hashes."""
        found = Sample.objects.filter(project_id=self.project_id, run__isnull=True, content_hash__in=hashes)
        if generator_id is None:
            found = found.filter(generator__isnull=True)
        else:
            found = found.filter(generator_id=generator_id)
        return list(found.values_list("content_hash", "id"))

    def _store(self, rows: list[tuple[MappedRow, int | None, int | None]]) -> None:
        raise NotImplementedError


class PostgresCopySink(_ChunkedSink):
    """COPY straight into generation_sample: PostgreSQL's fastest way in. The
    per-chunk lookup replaces ON CONFLICT, which COPY does not have."""

    def __init__(self, *, project_id: int, batch_id: int, lineage: LineageResolver) -> None:
        super().__init__(project_id=project_id, batch_id=batch_id, lineage=lineage)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SAMPLE_WRITE_LOCK_CLASS, project_id])

    def _stored_samples(self, generator_id: int | None, hashes: list[str]) -> list[tuple[str, int]]:
        # One array parameter rather than thousands: cheaper to build and to plan.
        source = "generator_id IS NULL" if generator_id is None else "generator_id = %(generator)s"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT content_hash, id FROM generation_sample WHERE project_id = %(project)s AND run_id IS NULL "
                f"AND {source} AND content_hash = ANY(%(hashes)s)",
                {"project": self.project_id, "generator": generator_id, "hashes": hashes},
            )
            return [(digest, sample_id) for digest, sample_id in cursor.fetchall()]

    def _store(self, rows: list[tuple[MappedRow, int | None, int | None]]) -> None:
        now = timezone.now()
        pending = SampleStatus.PENDING
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY generation_sample ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
                write_row = copy.write_row
                for row, generator_id, template_version_id in rows:
                    write_row(
                        (
                            self.project_id,
                            row.origin,
                            generator_id,
                            template_version_id,
                            self.batch_id,
                            row.input,
                            row.output,
                            row.label,
                            row.metadata_json,
                            row.content_hash,
                            "",
                            pending,
                            0,
                            0,
                            now,
                            now,
                        )
                    )


class OrmSink(_ChunkedSink):
    """Portable path (SQLite for the demo): bulk_create."""

    CHUNK_ROWS = 2000

    def _store(self, rows: list[tuple[MappedRow, int | None, int | None]]) -> None:
        now = timezone.now()
        Sample.objects.bulk_create(
            [
                Sample(
                    project_id=self.project_id,
                    origin=row.origin,
                    generator_id=generator_id,
                    template_version_id=template_version_id,
                    import_batch_id=self.batch_id,
                    input=row.input,
                    output=row.output,
                    label=row.label,
                    metadata=json.loads(row.metadata_json),
                    content_hash=row.content_hash,
                    status=SampleStatus.PENDING,
                    created_at=now,
                    updated_at=now,
                )
                for row, generator_id, template_version_id in rows
            ],
            batch_size=500,
        )


def sink_for_connection(
    *, project_id: int, batch_id: int, lineage: LineageResolver, use_copy: bool | None = None
) -> PostgresCopySink | OrmSink:
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    sink_class = PostgresCopySink if use_copy else OrmSink
    return sink_class(project_id=project_id, batch_id=batch_id, lineage=lineage)
