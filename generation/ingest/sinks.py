"""Where mapped rows go: PostgreSQL's COPY into a staging table, or the ORM.

Both insert in file order, skip rows whose content the same source already has,
and report how many rows of each origin were inserted. Neither commits: the
caller's transaction makes the import all or nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from django.db import connection
from django.utils import timezone

from generation.ingest.mapping import MappedRow
from generation.models import Sample, SampleStatus

if TYPE_CHECKING:
    from psycopg import Copy

_STAGING_COLUMNS = (
    "line_no", "origin", "generator_id", "template_version_id", "input", "output", "label", "metadata",
    "content_hash",
)


class LineageResolver(Protocol):
    def generator_id(self, name: str) -> int | None: ...

    def template_version_id(self, name: str) -> int | None: ...


class PostgresCopySink:
    """COPY into a temporary table, then INSERT … SELECT … ON CONFLICT DO NOTHING,
    one chunk of rows at a time.

    COPY is PostgreSQL's fastest path in; the staging table has no index and no
    WAL, and each INSERT lets the unique indexes drop duplicates without a round
    trip per row. Chunks go in file order, so ids follow the file and the first
    copy of a duplicate wins, as with a single INSERT. A chunk is small enough
    that its staging rows stay in temp_buffers and its ORDER BY sorts in work_mem:
    one INSERT of a million rows sorted half a gigabyte on disk.
    """

    CHUNK_ROWS = 5000
    # Characters of text per chunk, so a file of long rows still sorts in memory
    # (work_mem is 4 MB by default).
    CHUNK_CHARS = 2_000_000

    def __init__(self, *, project_id: int, batch_id: int, lineage: LineageResolver) -> None:
        self.project_id = project_id
        self.batch_id = batch_id
        self.lineage = lineage
        self._lineage_ids: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        self._inserted: Counter[str] = Counter()
        self._staged_rows = 0
        self._staged_chars = 0
        self._copy_cm: AbstractContextManager[Copy] | None = None
        self._copy: Copy | None = None
        self._cursor = connection.cursor()
        self._cursor.execute(
            """
            CREATE TEMPORARY TABLE sample_import_staging (
                line_no integer NOT NULL,
                origin varchar(9) NOT NULL,
                generator_id bigint,
                template_version_id bigint,
                input text NOT NULL,
                output text NOT NULL,
                label varchar(200),
                metadata jsonb NOT NULL,
                content_hash varchar(64) NOT NULL
            ) ON COMMIT DROP
            """
        )

    def write(self, row: MappedRow) -> None:
        ids = self._lineage_ids.get((row.generator_name, row.template_name))
        if ids is None:
            ids = self._resolve(row.generator_name, row.template_name)
        if self._copy is None:
            self._copy_cm = self._cursor.cursor.copy(
                f"COPY sample_import_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN"
            )
            self._copy = self._copy_cm.__enter__()
        self._copy.write_row(
            (row.line, row.origin, ids[0], ids[1], row.input, row.output, row.label, row.metadata_json,
             row.content_hash)
        )
        self._staged_rows += 1
        self._staged_chars += len(row.input) + len(row.output) + len(row.metadata_json)
        if self._staged_rows >= self.CHUNK_ROWS or self._staged_chars >= self.CHUNK_CHARS:
            self._insert_staged()

    def _resolve(self, generator_name: str, template_name: str) -> tuple[int | None, int | None]:
        # No other statement may run on the connection while COPY is open; a new
        # name is rare (a few per file), so close it, look the name up, go on.
        self._end_copy()
        ids = (self.lineage.generator_id(generator_name), self.lineage.template_version_id(template_name))
        self._lineage_ids[(generator_name, template_name)] = ids
        return ids

    def _end_copy(self) -> None:
        if self._copy_cm is not None:
            copy_cm, self._copy_cm, self._copy = self._copy_cm, None, None
            copy_cm.__exit__(None, None, None)

    def _insert_staged(self) -> None:
        self._end_copy()
        if not self._staged_rows:
            return
        self._cursor.execute(
            """
            WITH inserted AS (
                INSERT INTO generation_sample (
                    project_id, origin, run_id, generator_id, template_version_id, import_batch_id,
                    input, output, label, metadata, content_hash, split, status, generation_depth,
                    revision, created_at, updated_at
                )
                SELECT %s, s.origin, NULL, s.generator_id, s.template_version_id, %s,
                       s.input, s.output, s.label, s.metadata, s.content_hash, '', %s, 0, 0, now(), now()
                FROM sample_import_staging s
                ORDER BY s.line_no
                ON CONFLICT DO NOTHING
                RETURNING origin
            )
            SELECT origin, count(*) FROM inserted GROUP BY origin
            """,
            [self.project_id, self.batch_id, SampleStatus.PENDING],
        )
        for origin, count in self._cursor.fetchall():
            self._inserted[origin] += count
        self._cursor.execute("TRUNCATE sample_import_staging")
        self._staged_rows = self._staged_chars = 0

    def abandon(self) -> None:
        if self._copy_cm is None:
            return
        copy_cm, self._copy_cm, self._copy = self._copy_cm, None, None
        try:
            copy_cm.__exit__(RuntimeError, RuntimeError("import abandoned"), None)
        except Exception:  # noqa: BLE001 - the transaction is rolled back anyway
            pass

    def finish(self) -> Counter[str]:
        self._insert_staged()
        self._cursor.execute("DROP TABLE sample_import_staging")
        self._cursor.close()
        return self._inserted


class OrmSink:
    """Portable path (SQLite for the demo): chunks checked against the existing
    content of each source, then bulk_create."""

    CHUNK = 2000

    def __init__(self, *, project_id: int, batch_id: int, lineage: LineageResolver) -> None:
        self.project_id = project_id
        self.batch_id = batch_id
        self.lineage = lineage
        self._pending: list[MappedRow] = []
        self._inserted: Counter[str] = Counter()

    def write(self, row: MappedRow) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.CHUNK:
            self._flush()

    def abandon(self) -> None:
        self._pending.clear()

    def finish(self) -> Counter[str]:
        self._flush()
        return self._inserted

    def _flush(self) -> None:
        if not self._pending:
            return
        hashes = {row.content_hash for row in self._pending}
        existing = set(
            Sample.objects.filter(project_id=self.project_id, run__isnull=True, content_hash__in=hashes)
            .values_list("generator_id", "content_hash")
        )
        now = timezone.now()
        new_samples = []
        for row in self._pending:
            generator_id = self.lineage.generator_id(row.generator_name)
            key = (generator_id, row.content_hash)
            if key in existing:
                continue
            existing.add(key)
            new_samples.append(
                Sample(
                    project_id=self.project_id,
                    origin=row.origin,
                    generator_id=generator_id,
                    template_version_id=self.lineage.template_version_id(row.template_name),
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
            )
        Sample.objects.bulk_create(new_samples, batch_size=500)
        self._inserted.update(sample.origin for sample in new_samples)
        self._pending.clear()


def sink_for_connection(
    *, project_id: int, batch_id: int, lineage: LineageResolver, use_copy: bool | None = None
) -> PostgresCopySink | OrmSink:
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    sink_class = PostgresCopySink if use_copy else OrmSink
    return sink_class(project_id=project_id, batch_id=batch_id, lineage=lineage)
