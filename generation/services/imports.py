"""The import service: one file, one transaction, all or nothing."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from generation.ingest.mapping import INPUT_ALIASES, OUTPUT_ALIASES, FieldMapping, RowInvalid, RowMapper
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
# Past this many bad rows the rest are counted, not listed: the user has enough to fix.
MAX_REPORTED_ERRORS = 50
# A file's columns named in the hint for a missing output, at most.
HINT_MAX_COLUMNS = 20
# Columns that hold something other than the output, so never suggested as the output.
_NOT_OUTPUT_COLUMNS = frozenset(INPUT_ALIASES) | {"instruction", "label", "id", "origin", "generator", "template"}
# An upload's stored name (import_upload_path): only such files are ours to delete.
_UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z]+$")
PROGRESS_EVERY_ROWS = 5000


@dataclass(frozen=True)
class ImportProgress:
    rows_read: int
    done_units: int
    total_units: int | None
    unit: str  # "bytes" or "rows"


ProgressCallback = Callable[[ImportProgress], None]


class ImportRejected(Exception):
    def __init__(self, errors: list[str], *, total: int | None = None, hints: list[str] | None = None) -> None:
        super().__init__("; ".join(errors[:3]))
        self.errors = errors
        self.total = len(errors) if total is None else total
        self.hints = hints or []

    def stored(self) -> list[str | dict]:
        """As ImportBatch.errors holds it: the listed problems, then, when more were counted than listed
        or there is advice, one entry with the count and the hints."""
        if self.total == len(self.errors) and not self.hints:
            return list(self.errors)
        return [*self.errors, {"problems": self.total, "hints": self.hints}]


@dataclass(frozen=True)
class ImportProblems:
    """A refused import's problems as shown: those listed (the first MAX_REPORTED_ERRORS), how many
    the file had in all, and advice that holds for the whole file (said once, not per line)."""

    listed: list[str]
    total: int
    hints: list[str]

    @property
    def summary(self) -> str:
        if self.total > len(self.listed):
            return f"showing the first {len(self.listed):,} of {self.total:,} problems"
        return f"{self.total:,} problem{'' if self.total == 1 else 's'}"


def import_problems(errors: list) -> ImportProblems:
    """Read ImportBatch.errors: problem lines, then (since counts were kept) a {"problems", "hints"} entry."""
    listed = [str(entry) for entry in errors if not isinstance(entry, dict)]
    counts = next((entry for entry in errors if isinstance(entry, dict)), {})
    return ImportProblems(
        listed=listed,
        total=max(int(counts.get("problems", 0)), len(listed)),
        hints=[str(hint) for hint in counts.get("hints", [])],
    )


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
    idempotency_key: str = "",
    content_sha256: str = "",
) -> ImportBatch:
    if fmt not in ImportFormat.values:
        raise ValueError(f"unknown format {fmt!r}")
    if origin not in Origin.values:
        raise ValueError(f"origin must be real or synthetic, got {origin!r}")
    if origin == Origin.REAL and (generator_name or template_name):
        raise ValueError("real samples have no generator or template; drop --generator/--template")
    if origin == Origin.SYNTHETIC and not generator_name and "generator" not in (mapping or FieldMapping()).sources:
        # Said once, before reading, rather than on every row; the import page's form says the same.
        raise ValueError(
            "synthetic samples need a generator: pass --generator NAME (or --map generator=COLUMN), "
            "or --origin real if these are real samples"
        )
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
        idempotency_key=idempotency_key,
        content_sha256=content_sha256,
    )


def import_upload_path(project: Project, fmt: str) -> Path:
    """Where an upload of the project is stored: a name of ours alone (the user's is only ever displayed)."""
    folder = settings.DATA_DIR / "imports" / str(project.pk)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}.{fmt}"


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
    path = import_upload_path(access.project, fmt)
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    try:
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
    except BaseException:
        # No batch names the file, so nothing else would ever delete it.
        path.unlink(missing_ok=True)
        raise
    return batch


def import_batch_run(
    *, batch_id: int, progress: ProgressCallback | None = None, use_copy: bool | None = None
) -> ImportBatch:
    """Import a queued batch. Safe to call twice: a batch is claimed once, and a
    worker that dies mid-import rolls back and leaves the batch queued for retry.
    Once the batch ends (imported or refused) its uploaded file is deleted."""
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
            # After the commit: a rollback (the database failing at the end) leaves the batch
            # queued, and the retry needs its file.
            _upload_discard_on_commit(batch)
            return batch
    except ImportRejected as rejected:
        ImportBatch.objects.filter(pk=batch_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.FAILED, errors=rejected.stored(), finished_at=timezone.now()
        )
        batch = ImportBatch.objects.get(pk=batch_id)
        _upload_discard_on_commit(batch)
        return batch


def _upload_discard_on_commit(batch: ImportBatch) -> None:
    """Delete the batch's uploaded file once the batch has ended, imported or refused; never a file
    the batch only names (the CLI imports the user's own file in place, the demo a shipped one)."""
    path = Path(batch.stored_path) if batch.stored_path else None
    if path is None or not _UPLOAD_NAME.match(path.name):
        return
    uploads = (settings.DATA_DIR / "imports" / str(batch.project_id)).resolve()
    if path.resolve().parent != uploads:
        return
    transaction.on_commit(lambda: path.unlink(missing_ok=True))


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
    problems = 0
    # Rows with no output column at all, and the first one's columns: when every row lacks it,
    # the file is told once which names were looked for and which it has.
    rows_without_output = 0
    columns_without_output: list[str] = []
    output_source = batch.field_mapping.get("output")
    rows_read = 0
    check_surrogates = batch.format in (ImportFormat.JSONL, ImportFormat.JSON)

    def problem(message: str) -> None:
        nonlocal problems
        problems += 1
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.append(message)

    try:
        with open(path, "rb") as fh:
            for item in read_rows(fh, batch.format, max_line_bytes=settings.IMPORT_MAX_LINE_BYTES):
                if isinstance(item, RowError):
                    problem(str(item) if item.unit == unit else f"{unit} {item.line}: {item.reason}")
                    if item.fatal:
                        break
                    continue
                rows_read += 1
                try:
                    row = mapper.map(item.line, item.data, check_surrogates=check_surrogates)
                except RowInvalid as invalid:
                    problem(f"{unit} {item.line}: {invalid}")
                    if not _has_output_column(item.data, output_source):
                        rows_without_output += 1
                        columns_without_output = columns_without_output or [str(name) for name in item.data]
                    continue
                if not problems:
                    sink.write(row)
                if progress is not None and rows_read % PROGRESS_EVERY_ROWS == 0:
                    done = item.line if is_parquet else fh.tell()
                    progress(ImportProgress(rows_read, done, total_units, "rows" if is_parquet else "bytes"))
    except BaseException:
        sink.abandon()
        raise
    if not problems and rows_read == 0:
        problem("the file holds no samples")
    if problems:
        sink.abandon()
        hints: list[str] = []
        if rows_read and rows_without_output == rows_read:
            hints.append(_missing_output_hint(columns_without_output, output_source))
        raise ImportRejected(errors, total=problems, hints=hints)

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


def _has_output_column(data: dict, output_source: str | None) -> bool:
    if output_source:
        return output_source in data
    return any(alias in data for alias in OUTPUT_ALIASES)


def _missing_output_hint(columns: list[str], output_source: str | None) -> str:
    """Said once for a file whose rows lack the output column: what was looked for, what is there."""
    # Column names are the file's: control characters are escaped, long names cut.
    names = [name if name.isprintable() else repr(name) for name in columns[:HINT_MAX_COLUMNS]]
    names = [name if len(name) <= 60 else f"{name[:57]}…" for name in names]
    shown = ", ".join(names) + (", …" if len(columns) > HINT_MAX_COLUMNS else "")
    present = f"its columns are {shown}" if columns else "its rows have no columns"
    if output_source:
        return (
            f"the column {output_source[:60]!r} mapped to output is not in the file ({present}); "
            "map the output to one of them: --map output=COLUMN"
        )
    candidates = [name for name in columns if name not in _NOT_OUTPUT_COLUMNS]
    example = f", e.g. --map output={candidates[0]}" if candidates else ""
    return (
        f"no output column: looked for {', '.join(OUTPUT_ALIASES)} ({present}); "
        f"name the file's output column with --map output=COLUMN{example}"
    )


def _checks_request(*, batch_id: int) -> None:
    enqueue_on_commit("generation.tasks.checks_for_import_task", batch_id)


def import_batch_mark_failed(*, batch_id: int, reason: str) -> None:
    """For a batch whose import broke off on an unexpected error: nothing was
    imported (the transaction rolled back), and the page must say so rather than
    wait for a worker forever. Nothing will retry it, so its upload goes."""
    ImportBatch.objects.filter(pk=batch_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.FAILED, errors=[reason], finished_at=timezone.now()
    )
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is not None and batch.status in (ImportStatus.COMPLETED, ImportStatus.FAILED):
        _upload_discard_on_commit(batch)


# How the readers name a bad row's line ("line 3: missing output"), so a client is told the line by number.
_ERROR_LINE = re.compile(r"^(?:line|row) (\d+): (.*)$", re.S)


def import_error_lines(errors: list) -> list[tuple[int | None, str]]:
    """A refused import's listed problems as (line, reason): the line where the reader named one, else None."""
    found: list[tuple[int | None, str]] = []
    for error in import_problems(errors).listed:
        match = _ERROR_LINE.match(error)
        found.append((int(match.group(1)), match.group(2)) if match else (None, error))
    return found
