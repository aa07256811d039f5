"""Exports: ask (web or CLI), then a worker decides the gates and streams the file.

The counts the gates judge, the manifest's figures and the rows written are read
from one snapshot of the database (REPEATABLE READ on PostgreSQL), so the
manifest always describes the file exactly, even while reviewers keep working.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Substr
from django.utils import timezone

from generation.models import Generator, Origin, PromptTemplateVersion, Sample, SampleStatus, Split
from reviews.governance.audit_gate import audit_gate, audit_marks
from reviews.governance.gates import (
    GateDecision,
    GroupCount,
    Outcome,
    ancestors,
    lineage_graph,
    lineage_names,
    mix_gate,
    recursion_gate,
    recursion_targets,
)
from reviews.governance.mix_policy import minimum_real_share
from reviews.governance.target_models import model_key
from reviews.governance.writers import EXTENSIONS, WRITERS
from reviews.models import (
    EvalLeak,
    EvalLeakCheck,
    EvalSetMember,
    EvalSetVersion,
    Export,
    ExportFormat,
    ExportSplit,
    ExportStatus,
)
from reviews.services.eval_sets import eval_set_latest
from synthreview.projects.access import ProjectAccess
from synthreview.projects.queue import enqueue_on_commit
from synthreview.projects.services import audit_log_record

ProgressCallback = Callable[[int, int, str], None]
ROW_FIELDS = (
    "id",
    "input",
    "output",
    "label",
    "origin",
    "generator_id",
    "template_version_id",
    "run_id",
    "generation_depth",
    "split",
    "content_hash",
    "metadata_text",
)
READ_CHUNK = 5000
# A held-back sample is counted under the first of these that applies.
HELD_BACK_ORDER = ("eval_member", "eval_leak", "leak_unchecked", "excluded_generator", "too_deep")
# Held-back leaks the manifest names one by one (with the eval item each is too close to); the rest are counted.
LISTED_LEAKS = 1000
LEAK_SNIPPET_CHARS = 120


class ExportError(ValueError):
    """The export request itself is wrong (before any gate)."""


def export_dir(project_id: int) -> Path:
    return Path(settings.DATA_DIR) / "exports" / str(int(project_id))


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
    excluded = list(Generator.objects.filter(project=project, pk__in=excluded_generator_ids or []))
    with transaction.atomic():
        export = Export.objects.create(
            project=project,
            format=format,
            split=split,
            target_model=target_model.strip()[:200],
            max_generation_depth=depth,
            eval_set_version=eval_set_version,
            audit_override_reason=audit_override_reason.strip(),
            created_by=access.user,
        )
        export.excluded_generators.set(excluded)
        audit_log_record(
            project=project,
            actor=access.actor,
            action="export.request",
            obj=export,
            details={
                "format": format,
                "split": split,
                "target_model": export.target_model,
                "max_generation_depth": depth,
                "eval_set_version": eval_set_version.version if eval_set_version else None,
                "excluded_generators": sorted(g.name for g in excluded),
                "audit_override_reason": export.audit_override_reason,
            },
        )
        if enqueue:
            enqueue_on_commit("reviews.tasks.export_task", export.pk)
    return export


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
            from reviews.services.eval_leaks import eval_leak_check

            eval_leak_check(version_id=export.eval_set_version_id)
        with _snapshot():
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
            actor=None,
            action="export.failed",
            obj=export,
            details={"error": f"{type(error).__name__}: {error}"},
        )
        raise
    return Export.objects.get(pk=export.pk)


class _snapshot:
    """One consistent view for the counts and the rows (REPEATABLE READ on PostgreSQL)."""

    def __enter__(self) -> None:
        self.atomic = transaction.atomic()
        outermost = not connection.in_atomic_block
        self.atomic.__enter__()
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.atomic.__exit__(kind, error, traceback)


def _train_selection(export: Export) -> tuple[QuerySet[Sample], dict[str, Q]]:
    """Accepted samples outside the eval split, each marked with why it is held back, if it is."""
    samples = Sample.objects.filter(project_id=export.project_id, status=SampleStatus.ACCEPTED).exclude(
        split=Split.EVAL
    )
    held = {"too_deep": Q(generation_depth__gt=export.max_generation_depth)}
    excluded_ids = list(export.excluded_generators.values_list("id", flat=True))
    if excluded_ids:
        held["excluded_generator"] = Q(generator_id__in=excluded_ids)
    if export.eval_set_version_id:
        held["eval_member"] = Q(
            Exists(EvalSetMember.objects.filter(version_id=export.eval_set_version_id, sample_id=OuterRef("pk")))
        )
        held["eval_leak"] = Q(
            Exists(EvalLeak.objects.filter(version_id=export.eval_set_version_id, sample_id=OuterRef("pk")))
        )
        # Samples that arrived after the leak check finished are not known to be clean: held back, counted.
        checked_through = (
            EvalLeakCheck.objects.filter(version_id=export.eval_set_version_id)
            .values_list("checked_through_id", flat=True)
            .first()
            or 0
        )
        held["leak_unchecked"] = Q(id__gt=checked_through)
    return samples, held


def _selection_counts(export: Export, marks: list[int] | None = None) -> tuple[list[GroupCount], Counter]:
    """The included samples by origin × generator × template version × run × audit freshness mark, and the
    held-back ones by reason. `marks` are the closed audits' drawn-through sample ids, ascending: each
    synthetic sample falls under the first mark at or above its id (None above them all), so one grouped
    pass tells the audit gate how many samples each audit could have seen."""
    if export.split == ExportSplit.EVAL:
        rows = (
            Sample.objects.filter(eval_memberships__version_id=export.eval_set_version_id)
            .values("origin", "generator_id", "template_version_id", "run_id")
            .annotate(n=Count("id"))
        )
        return [
            GroupCount(r["origin"], r["generator_id"], r["template_version_id"], r["run_id"], r["n"]) for r in rows
        ], Counter()
    samples, held = _train_selection(export)
    # One pass: each sample gets the first reason that holds it back (or none), then grouped.
    reason = Case(
        *(When(held[name], then=Value(name)) for name in HELD_BACK_ORDER if name in held),
        default=Value(""),
        output_field=CharField(),
    )
    mark = Case(
        *(When(Q(origin=Origin.SYNTHETIC, id__lte=m), then=Value(m)) for m in marks or ()),
        default=Value(None),
        output_field=BigIntegerField(),
    )
    groups: list[GroupCount] = []
    held_back: Counter = Counter()
    for row in (
        samples.annotate(held=reason, mark=mark)
        .values("held", "origin", "generator_id", "template_version_id", "run_id", "mark")
        .annotate(n=Count("id"))
        .order_by()
    ):
        if row["held"]:
            held_back[row["held"]] += row["n"]
        else:
            groups.append(
                GroupCount(
                    row["origin"], row["generator_id"], row["template_version_id"], row["run_id"], row["n"], row["mark"]
                )
            )
    return groups, held_back


def _included_rows(export: Export) -> QuerySet[Sample, tuple[Any, ...]]:
    if export.split == ExportSplit.EVAL:
        query = Sample.objects.filter(eval_memberships__version_id=export.eval_set_version_id)
    else:
        query, held = _train_selection(export)
        for condition in held.values():
            query = query.exclude(condition)
    return (
        query.annotate(metadata_text=Cast("metadata", output_field=TextField())).order_by("id").values_list(*ROW_FIELDS)
    )


def _rows(export: Export, names: dict, versions: dict, models: dict) -> Iterator[tuple]:
    generator_names, run_names = names["generator"], names["run"]
    for (
        pk,
        input_text,
        output_text,
        label,
        origin,
        generator_id,
        version_id,
        run_id,
        depth,
        split,
        content_hash,
        metadata,
    ) in _included_rows(export).iterator(chunk_size=READ_CHUNK):
        template, version = versions.get(version_id, (None, None))
        yield (
            pk,
            input_text,
            output_text,
            label,
            origin,
            origin == Origin.SYNTHETIC,
            generator_names.get(generator_id),
            models.get(generator_id),
            template,
            version,
            run_names.get(run_id),
            depth,
            split or None,
            content_hash,
            metadata,
        )


def _decide_and_write(export: Export, progress: ProgressCallback | None) -> None:
    project = export.project
    names = lineage_names(project)
    generators = list(Generator.objects.filter(project=project))
    if progress:
        progress(0, 0, "counting")
    groups, held_back = _selection_counts(export, audit_marks(project) if export.split == ExportSplit.TRAIN else None)
    decisions, audits_used = _gates(export, groups, names, generators)
    manifest = _manifest(export, groups, held_back, decisions, audits_used, names)
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
    versions = {
        pk: (name, number)
        for pk, name, number in PromptTemplateVersion.objects.filter(template__project=project).values_list(
            "id", "template__name", "version"
        )
    }
    models = {generator.pk: generator.model_name for generator in generators}
    on_batch = (lambda written: progress(written, total, "writing")) if progress else None
    sha256, size, written = WRITERS[export.format](_rows(export, names, versions, models), partial_path, on_batch)
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


def _gates(
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
    audit_decision, audits_used = audit_gate(
        project=project, groups=groups, override_reason=export.audit_override_reason, names=names
    )
    decisions.append(audit_decision)
    decisions.append(mix_gate(project=project, groups=groups, names=names))
    return decisions, audits_used


def _by(groups: list[GroupCount], attribute: str, labels: dict) -> list[dict]:
    counts: Counter = Counter()
    for group in groups:
        counts[getattr(group, attribute)] += group.count
    rows = [
        {"id": key, "name": labels.get(key) if key is not None else None, "samples": n} for key, n in counts.items()
    ]
    return sorted(rows, key=lambda row: (row["name"] is not None, row["name"] or ""))


def _lineage(export: Export, groups: list[GroupCount]) -> dict:
    """The models being trained and each exported generator's model with everything it derives from."""
    declared = export.project.target_models or []
    in_export = {group.generator_id for group in groups if group.generator_id is not None}
    generators = list(Generator.objects.filter(project_id=export.project_id).order_by("name"))
    parents = lineage_graph(generators, declared)
    return {
        "target_models": declared,
        "checked_against": []
        if export.split != ExportSplit.TRAIN
        else [model["name"] for model in recursion_targets(target_model=export.target_model, declared=declared)[0]],
        "generators": [
            {
                "name": generator.name,
                "model": generator.model_name,
                "derived_from": generator.derived_from,
                "lineage": generator.lineage,
                "all_ancestors": sorted(
                    set().union(*(ancestors(name, parents) for name in generator.lineage))
                    - {model_key(generator.model_name)}
                ),
            }
            for generator in generators
            if generator.pk in in_export
        ],
    }


def _leaks_held_back(export: Export) -> dict | None:
    """Which eval item each held-back leak is too close to; the first LISTED_LEAKS by sample id."""
    if export.split != ExportSplit.TRAIN or not export.eval_set_version_id:
        return None
    leaks = EvalLeak.objects.filter(
        version_id=export.eval_set_version_id,
        sample__project_id=export.project_id,
        sample__status=SampleStatus.ACCEPTED,
    ).exclude(sample__split=Split.EVAL)
    rows = leaks.order_by("sample_id").annotate(eval_input=Substr("eval_sample__input", 1, LEAK_SNIPPET_CHARS + 1))
    listed = [
        {
            "sample_id": row["sample_id"],
            "eval_sample_id": row["eval_sample_id"],
            "kind": row["kind"],
            "similarity": round(row["similarity"], 4),
            "eval_input": (
                row["eval_input"][:LEAK_SNIPPET_CHARS] + "…"
                if len(row["eval_input"]) > LEAK_SNIPPET_CHARS
                else row["eval_input"]
            ),
        }
        for row in rows.values("sample_id", "eval_sample_id", "kind", "similarity", "eval_input")[:LISTED_LEAKS]
    ]
    total = len(listed) if len(listed) < LISTED_LEAKS else leaks.count()
    return {"total": total, "listed": listed}


def _manifest(
    export: Export,
    groups: list[GroupCount],
    held_back: Counter,
    decisions: list[GateDecision],
    audits_used: list[dict],
    names: dict,
) -> dict:
    project = export.project
    by_origin: Counter[str] = Counter()
    for group in groups:
        by_origin[group.origin] += group.count
    total = sum(by_origin.values())
    version = export.eval_set_version
    leak_check = getattr(version, "leak_check", None) if version else None
    override = next((d for d in decisions if d.outcome == Outcome.OVERRIDDEN), None)
    return {
        "synthreview_manifest": 1,
        "export_id": export.pk,
        "project": {"slug": project.slug, "name": project.name},
        "created_by": export.created_by.get_username() if export.created_by else None,
        "requested_at": export.created_at.isoformat(),
        "selection": {
            "split": export.split,
            "status": SampleStatus.ACCEPTED if export.split == "train" else None,
            "target_model": export.target_model or None,
            "max_generation_depth": export.max_generation_depth,
            "excluded_generators": sorted(export.excluded_generators.values_list("name", flat=True)),
        },
        "counts": {
            "total": total,
            "by_origin": {origin: by_origin.get(origin, 0) for origin in (Origin.REAL, Origin.SYNTHETIC)},
            "by_generator": _by(groups, "generator_id", names["generator"]),
            "by_template_version": _by(groups, "template_version_id", names["template_version"]),
            "by_run": _by(groups, "run_id", names["run"]),
        },
        "real_share": by_origin.get(Origin.REAL, 0) / total if total else None,
        "synthetic_share": by_origin.get(Origin.SYNTHETIC, 0) / total if total else None,
        "held_back": {
            "eval_member": held_back.get("eval_member", 0),
            "eval_leak": held_back.get("eval_leak", 0),
            "leak_unchecked": held_back.get("leak_unchecked", 0),
            "excluded_generator": held_back.get("excluded_generator", 0),
            "too_deep": held_back.get("too_deep", 0),
        },
        "eval_set": None
        if version is None
        else {
            "version": version.version,
            "hash": version.content_hash,
            "members": version.member_count,
            "leak_check": None
            if leak_check is None
            else {
                "threshold": leak_check.threshold,
                "embedding_model": leak_check.model_name,
                "checked_through_sample_id": leak_check.checked_through_id,
                "leaks": leak_check.leaks_found,
            },
        },
        "audits": audits_used,
        "lineage": _lineage(export, groups),
        "eval_leaks_held_back": _leaks_held_back(export),
        "decisions": [d.as_dict() for d in decisions],
        "override": None
        if override is None
        else {
            "gate": override.gate,
            "reason": export.audit_override_reason,
            "by": export.created_by.get_username() if export.created_by else None,
        },
        "settings": {
            "phase": project.phase,
            "custom_min_real_share": project.min_real_share,
            "min_real_share_in_force": float(minimum_real_share(project.phase, project.min_real_share)),
            "noise_floor_limit": project.noise_floor_limit,
            "eval_leak_threshold": project.eval_leak_threshold,
            "generator_caps": project.generator_caps or {},
            "project_max_generation_depth": project.max_generation_depth,
            "embedding_model": settings.EMBEDDING_MODEL,
        },
    }


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
        project=export.project, actor=export.created_by, action=f"export.{status}", obj=export, details=details
    )
    if manifest.get("override"):
        audit_log_record(
            project=export.project,
            actor=export.created_by,
            action="export.override",
            obj=export,
            details=manifest["override"],
        )
