"""An export's check: its gates run on what it would take now, with nothing written.

A lead tries options (a generator left out, a model named) until the gates pass, then asks for the
export; only the export itself leaves a record (an Export row, its history line and audit-log
entries), so refused tries no longer pile up there. A check is not logged: it changes nothing and
releases no data, and the export that follows it is logged in full, refusals included.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from generation.models import Generator, Origin
from reviews.governance.gates import GateDecision, lineage_names
from reviews.models import EvalSetVersion, Export, ExportFormat, ExportSplit
from reviews.selectors.audit_gate import audit_marks
from reviews.selectors.exports import ExportSelection, export_selection_counts
from reviews.services.exports import export_gates, export_options, export_snapshot
from synthreview.projects.access import ProjectAccess


@dataclass(frozen=True)
class ExportCheck:
    """What the gates would decide for an export asked for now, and what it would take, with no Export
    row, no file and no audit-log entry: a check changes nothing and releases nothing."""

    decisions: list[GateDecision]
    real: int
    synthetic: int
    # Samples held back by reason, as an export counts them (leak_unchecked apart: see `unchecked`).
    held_back: dict[str, int]
    # Included samples that arrived after the last eval-leak check: the export checks them first, and
    # holds back any that leak, so its figures can come out a little lower than the check's.
    unchecked: int
    excluded_generators: list[str]
    max_generation_depth: int
    eval_set_version: EvalSetVersion | None

    @property
    def total(self) -> int:
        return self.real + self.synthetic

    @property
    def real_share(self) -> float | None:
        return self.real / self.total if self.total else None

    @property
    def refused(self) -> bool:
        return any(decision.refused for decision in self.decisions)


def export_check(
    access: ProjectAccess,
    *,
    format: str = ExportFormat.JSONL,
    split: str = ExportSplit.TRAIN,
    target_model: str = "",
    max_generation_depth: int | None = None,
    eval_set_version: EvalSetVersion | None = None,
    excluded_generator_ids: list[int] | None = None,
    audit_override_reason: str = "",
) -> ExportCheck:
    """Run an export's gates on what it would take now, and write nothing. The eval-leak check (which
    may embed samples) is left to the export itself; see ExportCheck.unchecked."""
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
    # Never saved: the gates read its fields, as they read a real export's.
    draft = Export(project=project, created_by=access.user, **options.export_fields())
    selection = ExportSelection(
        project_id=project.pk,
        split=options.split,
        max_generation_depth=options.max_generation_depth,
        eval_set_version_id=options.eval_set_version.pk if options.eval_set_version else None,
        excluded_generator_ids=tuple(g.pk for g in options.excluded),
    )
    with export_snapshot():
        names = lineage_names(project)
        generators = list(Generator.objects.filter(project=project))
        marks = audit_marks(project) if options.split == ExportSplit.TRAIN else None
        groups, held_back = export_selection_counts(selection, marks, hold_unchecked=False)
        decisions, _ = export_gates(draft, groups, names, generators)
    by_origin: defaultdict[str, int] = defaultdict(int)
    for group in groups:
        by_origin[group.origin] += group.count
    return ExportCheck(
        decisions=decisions,
        real=by_origin[Origin.REAL],
        synthetic=by_origin[Origin.SYNTHETIC],
        held_back={
            reason: held_back.get(reason, 0)
            for reason in ("eval_leak", "eval_member", "too_deep", "excluded_generator")
        },
        unchecked=held_back.get("leak_unchecked", 0),
        excluded_generators=sorted(g.name for g in options.excluded),
        max_generation_depth=options.max_generation_depth,
        eval_set_version=options.eval_set_version,
    )
