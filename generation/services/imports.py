"""The import service: one file, one transaction, all or nothing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from generation.ingest.mapping import FieldMapping, RowInvalid, RowMapper
from generation.ingest.readers import RowError, parquet_row_count, read_rows
from generation.models import (
    Generator,
    GeneratorKind,
    ImportBatch,
    ImportFormat,
    ImportStatus,
    Origin,
    PromptTemplate,
    PromptTemplateVersion,
    SampleStatus,
)
from generation.services.import_sinks import sink_for_connection
from generation.signals import samples_arrived
from synthreview.projects.access import ProjectAccess, SystemActor, signed_in_account
from synthreview.projects.models import Project
from synthreview.projects.queue import enqueue_on_commit
from synthreview.projects.services import audit_log_record
from synthreview.projects.services.counters import sample_count_add

# The worker that writes an import's rows; the log names it when no member started the import.
IMPORT_WORKER = SystemActor("task:import")
# Past this many bad rows the rest of the file is not read: the user has enough to fix.
MAX_REPORTED_ERRORS = 50
PROGRESS_EVERY_ROWS = 5000


@dataclass(frozen=True)
class ImportProgress:
    rows_read: int
    done_units: int
    total_units: int | None
    unit: str  # "bytes" or "rows"


ProgressCallback = Callable[[ImportProgress], None]


class ImportRejected(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:3]))
        self.errors = errors


class _LineageCache:
    """Generators and templates named by an import, created on first sight."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._generators: dict[str, int] = {}
        self._templates: dict[str, int] = {}

    def generator_id(self, name: str) -> int | None:
        if not name:
            return None
        if name not in self._generators:
            generator = Generator.objects.filter(project=self.project, name=name).first()
            if generator is None:
                generator = Generator.objects.create(
                    project=self.project, name=name, kind=GeneratorKind.IMPORTED, model_name=name
                )
            self._generators[name] = generator.pk
        return self._generators[name]

    def template_version_id(self, name: str) -> int | None:
        if not name:
            return None
        if name not in self._templates:
            template, _ = PromptTemplate.objects.get_or_create(project=self.project, name=name)
            version = template.versions.order_by("-version").first()
            if version is None:
                # Known only by name from an import: its text was never given to us.
                version = PromptTemplateVersion.objects.create(template=template, version=1, text="")
            self._templates[name] = version.pk
        return self._templates[name]


def import_batch_create(
    access: ProjectAccess,
    *,
    path: Path,
    file_name: str,
    fmt: str,
    origin: str,
    generator_name: str = "",
    template_name: str = "",
    mapping: FieldMapping | None = None,
) -> ImportBatch:
    if fmt not in ImportFormat.values:
        raise ValueError(f"unknown format {fmt!r}")
    if origin not in Origin.values:
        raise ValueError(f"origin must be real or synthetic, got {origin!r}")
    if origin == Origin.REAL and (generator_name or template_name):
        raise ValueError("real samples have no generator or template; drop --generator/--template")
    return ImportBatch.objects.create(
        project=access.project,
        file_name=file_name[:255],
        stored_path=str(path),
        format=fmt,
        field_mapping=(mapping or FieldMapping()).as_dict(),
        default_origin=origin,
        default_generator=generator_name,
        default_template=template_name,
        created_by=signed_in_account(access.actor),
    )


def import_upload_start(
    access: ProjectAccess,
    *,
    upload: UploadedFile,
    fmt: str,
    origin: str,
    generator_name: str = "",
    template_name: str = "",
    mapping: FieldMapping | None = None,
) -> ImportBatch:
    """Store an uploaded file and queue its import; a worker runs it (import_batch_run)."""
    # The stored name is ours alone; the user's file name is only ever displayed.
    folder = settings.DATA_DIR / "imports" / str(access.project.pk)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.{fmt}"
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    with transaction.atomic():
        batch = import_batch_create(
            access,
            path=path,
            file_name=upload.name or path.name,
            fmt=fmt,
            origin=origin,
            generator_name=generator_name,
            template_name=template_name,
            mapping=mapping,
        )
        enqueue_on_commit("generation.tasks.import_batch_task", batch.pk)
    return batch


def import_batch_run(
    *, batch_id: int, progress: ProgressCallback | None = None, use_copy: bool | None = None
) -> ImportBatch:
    """Import a queued batch. Safe to call twice: a batch is claimed once, and a
    worker that dies mid-import rolls back and leaves the batch queued for retry."""
    try:
        with transaction.atomic():
            batch = (
                ImportBatch.objects.select_for_update(skip_locked=True)
                .filter(pk=batch_id, status=ImportStatus.QUEUED)
                .select_related("project")
                .first()
            )
            if batch is None:
                return ImportBatch.objects.get(pk=batch_id)
            _import_rows(batch, progress=progress, use_copy=use_copy)
            return batch
    except ImportRejected as rejected:
        ImportBatch.objects.filter(pk=batch_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.FAILED, errors=rejected.errors, finished_at=timezone.now()
        )
        return ImportBatch.objects.get(pk=batch_id)


def _import_rows(batch: ImportBatch, *, progress: ProgressCallback | None, use_copy: bool | None) -> None:
    path = Path(batch.stored_path)
    if not path.is_file():
        raise ImportRejected([f"the file {batch.file_name} is no longer there"])
    is_parquet = batch.format == ImportFormat.PARQUET
    total_units = parquet_row_count(path) if is_parquet else os.path.getsize(path)
    unit = "row" if is_parquet else "line"

    mapper = RowMapper(
        FieldMapping(batch.field_mapping),
        default_origin=batch.default_origin,
        default_generator=batch.default_generator,
        default_template=batch.default_template,
    )
    lineage = _LineageCache(batch.project)
    sink = sink_for_connection(project_id=batch.project_id, batch_id=batch.pk, lineage=lineage, use_copy=use_copy)
    errors: list[str] = []
    rows_read = 0
    check_surrogates = batch.format in (ImportFormat.JSONL, ImportFormat.JSON)

    try:
        with open(path, "rb") as fh:
            for item in read_rows(fh, batch.format, max_line_bytes=settings.IMPORT_MAX_LINE_BYTES):
                if isinstance(item, RowError):
                    errors.append(str(item) if item.unit == unit else f"{unit} {item.line}: {item.reason}")
                    if item.fatal or len(errors) >= MAX_REPORTED_ERRORS:
                        break
                    continue
                rows_read += 1
                try:
                    row = mapper.map(item.line, item.data, check_surrogates=check_surrogates)
                except RowInvalid as invalid:
                    errors.append(f"{unit} {item.line}: {invalid}")
                    if len(errors) >= MAX_REPORTED_ERRORS:
                        break
                    continue
                if not errors:
                    sink.write(row)
                if progress is not None and rows_read % PROGRESS_EVERY_ROWS == 0:
                    done = item.line if is_parquet else fh.tell()
                    progress(ImportProgress(rows_read, done, total_units, "rows" if is_parquet else "bytes"))
    except BaseException:
        sink.abandon()
        raise
    if not errors and rows_read == 0:
        errors.append("the file holds no samples")
    if errors:
        sink.abandon()
        if len(errors) >= MAX_REPORTED_ERRORS:
            errors.append(f"stopped after {MAX_REPORTED_ERRORS} errors; fix these and import again")
        raise ImportRejected(errors)

    inserted = sink.finish()
    imported = sum(inserted.values())
    for origin, count in inserted.items():
        sample_count_add(project_id=batch.project_id, origin=origin, status=SampleStatus.PENDING, delta=count)
    batch.status = ImportStatus.COMPLETED
    batch.rows_read = rows_read
    batch.rows_imported = imported
    batch.rows_duplicate = rows_read - imported
    batch.duplicate_lines = sink.duplicate_lines
    batch.duplicates_by_source = {
        source: counts for source, counts in sink.duplicates_by_source.items() if counts["repeated"]
    }
    batch.finished_at = timezone.now()
    batch.save(
        update_fields=[
            "status",
            "rows_read",
            "rows_imported",
            "rows_duplicate",
            "duplicate_lines",
            "duplicates_by_source",
            "finished_at",
        ]
    )
    if imported:
        samples_arrived.send(sender=ImportBatch, project_id=batch.project_id, requested_by=batch.created_by)
        _checks_request(batch_id=batch.pk)
    audit_log_record(
        project=batch.project,
        actor=batch.created_by or IMPORT_WORKER,
        action="import",
        obj=batch,
        details={
            "file": batch.file_name,
            "imported": imported,
            "duplicates": batch.rows_duplicate,
            "by_origin": dict(inserted),
        },
    )
    if progress is not None:
        progress(ImportProgress(rows_read, total_units or rows_read, total_units, "rows" if is_parquet else "bytes"))


def _checks_request(*, batch_id: int) -> None:
    enqueue_on_commit("generation.tasks.checks_for_import_task", batch_id)


def import_batch_mark_failed(*, batch_id: int, reason: str) -> None:
    """For a batch whose import broke off on an unexpected error: nothing was
    imported (the transaction rolled back), and the page must say so rather than
    wait for a worker forever."""
    ImportBatch.objects.filter(pk=batch_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.FAILED, errors=[reason], finished_at=timezone.now()
    )
