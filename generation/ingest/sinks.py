"""Where mapped rows go: PostgreSQL's COPY into a staging table, or the ORM.

Both insert in file order, skip rows whose content the same source already has,
and report how many rows of each origin were inserted. Neither commits: the
caller's transaction makes the import all or nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Protocol

from django.db import connection
from django.utils import timezone

from generation.ingest.mapping import MappedRow
from generation.models import Sample, SampleStatus

_STAGING_COLUMNS = (
    "line_no", "origin", "generator_name", "template_name", "input", "output", "label", "metadata",
    "content_hash",
)


class LineageResolver(Protocol):
    def generator_id(self, name: str) -> int | None: ...

    def template_version_id(self, name: str) -> int | None: ...


class PostgresCopySink:
    """COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING.

    COPY is PostgreSQL's fastest path in; the staging table has no index and no
    WAL, and the single INSERT lets the unique indexes drop duplicates without a
    round trip per row.
    """

    def __init__(self, *, project_id: int, batch_id: int, lineage: LineageResolver) -> None:
        self.project_id = project_id
        self.batch_id = batch_id
        self.lineage = lineage
        self._cursor = connection.cursor()
        self._cursor.execute(
            """
            CREATE TEMPORARY TABLE sample_import_staging (
                line_no integer NOT NULL,
                origin varchar(9) NOT NULL,
                generator_name text NOT NULL,
                template_name text NOT NULL,
                input text NOT NULL,
                output text NOT NULL,
                label varchar(200),
                metadata jsonb NOT NULL,
                content_hash varchar(64) NOT NULL
            ) ON COMMIT DROP
            """
        )
        raw_cursor = self._cursor.cursor
        self._copy_cm = raw_cursor.copy(
            f"COPY sample_import_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN"
        )
        self._copy = self._copy_cm.__enter__()

    def write(self, row: MappedRow) -> None:
        # Names, not ids: no other statement may run on the connection while COPY
        # is open, so generators and templates are resolved once it has closed.
        self._copy.write_row(
            (row.line, row.origin, row.generator_name, row.template_name, row.input, row.output, row.label,
             row.metadata_json, row.content_hash)
        )

    def abandon(self) -> None:
        try:
            self._copy_cm.__exit__(RuntimeError, RuntimeError("import abandoned"), None)
        except Exception:  # noqa: BLE001 - the transaction is rolled back anyway
            pass

    def finish(self) -> Counter[str]:
        self._copy_cm.__exit__(None, None, None)
        self._cursor.execute("SELECT DISTINCT generator_name FROM sample_import_staging")
        generator_names = [name for (name,) in self._cursor.fetchall()]
        self._cursor.execute("SELECT DISTINCT template_name FROM sample_import_staging")
        template_names = [name for (name,) in self._cursor.fetchall()]
        generator_ids = [self.lineage.generator_id(name) for name in generator_names]
        template_ids = [self.lineage.template_version_id(name) for name in template_names]
        self._cursor.execute(
            """
            WITH generators AS (
                SELECT * FROM unnest(%s::text[], %s::bigint[]) AS g(name, id)
            ), templates AS (
                SELECT * FROM unnest(%s::text[], %s::bigint[]) AS t(name, id)
            ), inserted AS (
                INSERT INTO generation_sample (
                    project_id, origin, run_id, generator_id, template_version_id, import_batch_id,
                    input, output, label, metadata, content_hash, split, status, generation_depth,
                    revision, created_at, updated_at
                )
                SELECT %s, s.origin, NULL, g.id, t.id, %s,
                       s.input, s.output, s.label, s.metadata, s.content_hash, '', %s, 0, 0, now(), now()
                FROM sample_import_staging s
                JOIN generators g ON g.name = s.generator_name
                JOIN templates t ON t.name = s.template_name
                ORDER BY s.line_no
                ON CONFLICT DO NOTHING
                RETURNING origin
            )
            SELECT origin, count(*) FROM inserted GROUP BY origin
            """,
            [generator_names, generator_ids, template_names, template_ids,
             self.project_id, self.batch_id, SampleStatus.PENDING],
        )
        inserted = Counter({origin: count for origin, count in self._cursor.fetchall()})
        self._cursor.execute("DROP TABLE sample_import_staging")
        self._cursor.close()
        return inserted


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
