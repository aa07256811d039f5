"""Exports: ask (web or CLI), then a worker decides the gates and streams the file.

The counts the gates judge, the manifest's figures and the rows written are read
from one snapshot of the database (REPEATABLE READ on PostgreSQL), so the
manifest always describes the file exactly, even while reviewers keep working.
The reads are in reviews/selectors/exports.py, the manifest is built by
reviews/governance/manifest.py, and this module asks, claims, decides, writes and
finishes.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from generation.models import Generator, Origin
from reviews.governance.gates import GateDecision, GroupCount, Outcome, lineage_names, mix_gate, recursion_gate
from reviews.governance.manifest import export_manifest
from reviews.governance.writers import BATCH_ROWS, EXTENSIONS, WRITERS
from reviews.models import EvalSetVersion, Export, ExportFormat, ExportSplit, ExportStatus
from reviews.selectors.audit_gate import audit_gate, audit_marks
from reviews.selectors.exports import (
    export_jsonl_chunks,
    export_manifest_reads,
    export_rows,
    export_selection_counts,
    export_template_versions,
)
from reviews.services.eval_leaks import eval_leak_check
from reviews.services.eval_sets import eval_set_latest
from synthreview.projects.access import ProjectAccess, SystemActor, project_access
from synthreview.projects.models import Project
from synthreview.projects.queue import enqueue_on_commit
from synthreview.projects.services import audit_log_record

ProgressCallback = Callable[[int, int, str], None]
# The worker that decides the gates and writes the file: the log names it for a failure, and
# for an export no member asked for.
EXPORT_WORKER = SystemActor("task:export")


class ExportError(ValueError):
    """The export request itself is wrong (before any gate)."""


def export_dir(project_id: int) -> Path:
    return Path(settings.DATA_DIR) / "exports" / str(int(project_id))


def export_file_path(export: Export) -> Path | None:
    """A completed export's file, only if it lies where export_run put it: a stored path that
    points anywhere else (a tampered row) is never served."""
    if export.status != ExportStatus.COMPLETED or not export.stored_path:
        return None
    path = Path(export.stored_path).resolve()
    if path.parent != export_dir(export.project_id).resolve() or not path.is_file():
        return None
    return path


@dataclass(frozen=True)
class ExportOptions:
    """An export's options once checked: what export_request stores and export_check judges."""

    format: str
    split: str
    target_model: str
    max_generation_depth: int
    eval_set_version: EvalSetVersion | None
    excluded: list[Generator]
    audit_override_reason: str

    def export_fields(self) -> dict[str, Any]:
        """The Export row's own fields (the generators left out are a relation, set apart)."""
        return {
            "format": self.format,
            "split": self.split,
            "target_model": self.target_model,
            "max_generation_depth": self.max_generation_depth,
            "eval_set_version": self.eval_set_version,
            "audit_override_reason": self.audit_override_reason,
        }


def export_options(
    project: Project,
    *,
    format: str,
    split: str,
    target_model: str,
    max_generation_depth: int | None,
    eval_set_version: EvalSetVersion | None,
    excluded_generator_ids: list[int] | None,
    audit_override_reason: str,
) -> ExportOptions:
    if format not in ExportFormat.values:
        raise ExportError(f"Unknown format {format!r}: choose {', '.join(ExportFormat.values)}.")
    if split not in ExportSplit.values:
        raise ExportError(f"Unknown split {split!r}: choose train or eval.")
    if eval_set_version is not None and eval_set_version.project_id != project.pk:
        raise ExportError("That eval-set version belongs to another project.")
    if eval_set_version is None:
        eval_set_version = eval_set_latest(project.pk)
    if split == ExportSplit.EVAL and eval_set_version is None:
        raise ExportError("The project has no eval-set version yet: freeze one on the Eval set page first.")
    depth = project.max_generation_depth if max_generation_depth is None else int(max_generation_depth)
    if depth < 0:
        raise ExportError("The generation depth cap is 0 or more.")
    return ExportOptions(
        format=format,
        split=split,
        target_model=target_model.strip()[:200],
        max_generation_depth=depth,
        eval_set_version=eval_set_version,
        excluded=list(Generator.objects.filter(project=project, pk__in=excluded_generator_ids or []).order_by("name")),
        audit_override_reason=audit_override_reason.strip(),
    )


def export_request(
    access: ProjectAccess,
    *,
    format: str,
    split: str = ExportSplit.TRAIN,
    target_model: str = "",
    max_generation_depth: int | None = None,
    eval_set_version: EvalSetVersion | None = None,
    excluded_generator_ids: list[int] | None = None,
    audit_override_reason: str = "",
    enqueue: bool = True,
) -> Export:
    project = access.project
    options = export_options(
        project,
        format=format,
        split=split,
        target_model=target_model,
        max_generation_depth=max_generation_depth,
        eval_set_version=eval_set_version,
        excluded_generator_ids=excluded_generator_ids,
        audit_override_reason=audit_override_reason,
    )
    with transaction.atomic():
        export = Export.objects.create(project=project, created_by=access.user, **options.export_fields())
        export.excluded_generators.set(options.excluded)
        audit_log_record(
            project=project,
            actor=access.actor,
            action="export.request",
            obj=export,
            details={
                "format": options.format,
                "split": options.split,
                "target_model": export.target_model,
                "max_generation_depth": options.max_generation_depth,
                "eval_set_version": options.eval_set_version.version if options.eval_set_version else None,
                "excluded_generators": sorted(g.name for g in options.excluded),
                "audit_override_reason": export.audit_override_reason,
            },
        )
        if enqueue:
            enqueue_on_commit("reviews.tasks.export_task", export.pk)
    return export


def override_author(user: User | None, project: Project) -> str:
    """Who overrode a gate, as the reason names them: their name and their role in the project now."""
    if user is None:
        return "a command-line run"
    access = project_access(user, project)
    role = access.role.label.lower() if access is not None and access.role is not None else "no longer a member"
    return f"{user.get_full_name() or user.get_username()} ({role})"


def _claim(export_id: int) -> Export | None:
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.finished:
            return None  # a redelivered task: the record is final
        # A worker that died mid-export left it running: start again; the file is rewritten from scratch.
        export.status, export.stage, export.started_at = ExportStatus.RUNNING, "starting", timezone.now()
        export.save(update_fields=["status", "stage", "started_at"])
    return export


def export_run(*, export_id: int, progress: ProgressCallback | None = None) -> Export:
    """Decide the gates and, if they hold, write the file. Idempotent: a finished export is left as it is."""
    export = _claim(export_id)
    if export is None:
        return Export.objects.get(pk=export_id)
    try:
        if export.split == ExportSplit.TRAIN and export.eval_set_version_id:
            if progress:
                progress(0, 0, "checking for eval leaks")
            eval_leak_check(version_id=export.eval_set_version_id)
        with export_snapshot():
            # A second delivery of the same task waits here for the first, then finds the export finished.
            locked = Export.objects.select_for_update().get(pk=export.pk)
            if not locked.finished:
                _decide_and_write(export, progress)
    except Exception as error:
        marked = Export.objects.filter(pk=export.pk, status__in=(ExportStatus.QUEUED, ExportStatus.RUNNING)).update(
            status=ExportStatus.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        if not marked:
            # Another worker finished it while this one waited (a serialisation failure on the finished row).
            return Export.objects.get(pk=export.pk)
        audit_log_record(
            project=export.project,
            actor=EXPORT_WORKER,
            action="export.failed",
            obj=export,
            details={"error": f"{type(error).__name__}: {error}"},
        )
        raise
    return Export.objects.get(pk=export.pk)


class export_snapshot:
    """One consistent view for the counts and the rows (REPEATABLE READ on PostgreSQL)."""

    def __enter__(self) -> None:
        self.atomic = transaction.atomic()
        outermost = not connection.in_atomic_block
        self.atomic.__enter__()
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                # Each read here is one pass over the selection: JIT would spend seconds compiling
                # (more under load) to save less than that.
                cursor.execute("SET LOCAL jit = off")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.atomic.__exit__(kind, error, traceback)


def _decide_and_write(export: Export, progress: ProgressCallback | None) -> None:
    project = export.project
    names = lineage_names(project)
    generators = list(Generator.objects.filter(project=project))
    if progress:
        progress(0, 0, "counting")
    groups, held_back = export_selection_counts(
        export, audit_marks(project) if export.split == ExportSplit.TRAIN else None
    )
    decisions, audits_used = export_gates(export, groups, names, generators)
    manifest = export_manifest(
        export,
        project=project,
        reads=export_manifest_reads(export),
        groups=groups,
        held_back=held_back,
        decisions=decisions,
        audits_used=audits_used,
        names=names,
        embedding_model=settings.EMBEDDING_MODEL,
    )
    refused = [d for d in decisions if d.refused]
    if refused:
        _finish(export, status=ExportStatus.REFUSED, manifest=manifest, refusals=[d.as_dict() for d in refused])
        return
    total = sum(g.count for g in groups)
    Export.objects.filter(pk=export.pk).update(stage="writing", rows_total=total)
    directory = export_dir(project.pk)
    directory.mkdir(parents=True, exist_ok=True)
    extension = EXTENSIONS[export.format]
    final_path = directory / f"export-{export.pk}.{extension}"
    partial_path = directory / f"export-{export.pk}.{extension}.partial"
    versions = export_template_versions(project)
    models = {generator.pk: generator.model_name for generator in generators}
    on_batch = (lambda written: progress(written, total, "writing")) if progress else None
    if export.format == ExportFormat.JSONL and connection.vendor == "postgresql":
        sha256, size, written = _write_jsonl_from_copy(export, partial_path, on_batch)
    else:
        rows = export_rows(export, names, versions, models)
        sha256, size, written = WRITERS[export.format](rows, partial_path, on_batch)
    if written != total:
        raise RuntimeError(f"wrote {written} rows where the snapshot counted {total}")
    os.replace(partial_path, final_path)
    file_name = f"{project.slug}-{export.split}-export-{export.pk}.{extension}"
    manifest["file"] = {
        "name": file_name,
        "format": export.format,
        "rows": written,
        "bytes": size,
        "sha256": sha256,
        "order": "sample id, ascending",
    }
    _finish(
        export,
        status=ExportStatus.COMPLETED,
        manifest=manifest,
        stored_path=str(final_path),
        file_name=file_name,
        sha256=sha256,
        size_bytes=size,
        rows_written=written,
    )


def _write_jsonl_from_copy(
    export: Export, path: Path, on_batch: Callable[[int], object] | None
) -> tuple[str, int, int]:
    """The JSONL file as PostgreSQL builds it (the same bytes as the Python writer), hashed and written a
    chunk at a time in a thread of its own, so that the next chunk is read meanwhile (sha256, the writes
    and the wait for the database all release the GIL); the COPY stays on this thread, inside the
    snapshot. Progress every BATCH_ROWS lines, as the writers report it."""
    digest = hashlib.sha256()
    size = written = 0
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=8)  # at most ~8 chunks held: bounded memory
    failures: list[BaseException] = []

    def drain(handle: BinaryIO) -> None:
        while (data := pending.get()) is not None:
            if failures:
                continue  # keep taking chunks, so the reader never blocks on a full queue
            try:
                digest.update(data)
                handle.write(data)
            except BaseException as error:  # noqa: BLE001  # raised again on the reading thread
                failures.append(error)

    with open(path, "wb") as handle:
        writer = threading.Thread(target=drain, args=(handle,), name="export-file-writer", daemon=True)
        writer.start()
        try:
            # Closed at once on a failure, so the COPY ends before the transaction rolls back.
            with closing(export_jsonl_chunks(export)) as chunks:
                for data, lines in chunks:
                    if failures:
                        raise failures[0]
                    pending.put(data)
                    size += len(data)
                    reported = written // BATCH_ROWS
                    written += lines
                    if on_batch and written // BATCH_ROWS > reported:
                        on_batch(written)
        finally:
            pending.put(None)
            writer.join()
    if failures:
        raise failures[0]
    return digest.hexdigest(), size, written


def export_gates(
    export: Export, groups: list[GroupCount], names: dict, generators: list[Generator]
) -> tuple[list[GateDecision], list[dict]]:
    project = export.project
    if export.split == ExportSplit.EVAL:
        synthetic = sum(g.count for g in groups if g.origin != Origin.REAL)
        outcome = Outcome.REFUSED if synthetic else Outcome.PASSED
        if synthetic:
            reason = f"The eval set holds {synthetic} synthetic samples; it must be real only."
        elif export.eval_set_version is None:  # export_request refuses an eval export without one
            raise ExportError("An eval-set export names the eval-set version it exports.")
        else:
            reason = f"Eval set v{export.eval_set_version.version}: real only, version-locked."
        return [GateDecision("eval_real_only", outcome, reason, {"synthetic": synthetic})], []
    synthetic_by_generator: dict[int, int] = defaultdict(int)
    for group in groups:
        if group.origin == Origin.SYNTHETIC and group.generator_id is not None:  # always, by a check constraint
            synthetic_by_generator[group.generator_id] += group.count
    decisions = [
        recursion_gate(
            target_model=export.target_model,
            declared=project.target_models or [],
            generators=generators,
            counts=synthetic_by_generator,
        )
    ]
    override_reason = export.audit_override_reason
    audit_decision, audits_used = audit_gate(
        project=project,
        groups=groups,
        override_reason=override_reason,
        names=names,
        override_by=override_author(export.created_by, project) if override_reason.strip() else "",
    )
    decisions.append(audit_decision)
    decisions.append(mix_gate(project=project, groups=groups, names=names))
    return decisions, audits_used


def _finish(export: Export, *, status: str, manifest: dict, refusals: list | None = None, **fields: object) -> None:
    now = timezone.now()
    manifest["finished_at"] = now.isoformat()
    manifest["status"] = status
    Export.objects.filter(pk=export.pk).update(
        status=status, stage="", manifest=manifest, refusals=refusals or [], finished_at=now, **fields
    )
    details = {
        "status": status,
        "sha256": fields.get("sha256", ""),
        "rows": fields.get("rows_written", 0),
        "real_share": manifest["real_share"],
        "refusals": [r["reason"] for r in refusals or []],
    }
    audit_log_record(
        project=export.project,
        actor=export.created_by or EXPORT_WORKER,
        action=f"export.{status}",
        obj=export,
        details=details,
    )
    if manifest.get("override"):
        audit_log_record(
            project=export.project,
            actor=export.created_by or EXPORT_WORKER,
            action="export.override",
            obj=export,
            details=manifest["override"],
        )
