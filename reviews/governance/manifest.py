"""An export's manifest: what was selected and held back, where every sample came from,
what the gates decided, and the settings in force.

Pure: the export service reads the counts and `ManifestReads` inside the export's
snapshot and passes them in, so the manifest describes the file exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from generation.models import Generator, Origin, SampleStatus
from reviews.governance.gates import GateDecision, GroupCount, Outcome, ancestors, lineage_graph, recursion_targets
from reviews.governance.mix_policy import minimum_real_share
from reviews.governance.target_models import model_key
from reviews.models import EvalLeakCheck, EvalSetVersion, Export, ExportSplit
from synthreview.projects.models import Project


@dataclass(frozen=True)
class ManifestReads:
    """What the manifest names besides the counts: read in the export's snapshot."""

    created_by: str | None
    excluded_generators: list[str]
    eval_set_version: EvalSetVersion | None
    leak_check: EvalLeakCheck | None
    # The project's generators, by name.
    generators: list[Generator]
    # Which eval item each held-back leak is too close to (train exports against an eval set only).
    leaks_held_back: dict | None


def _by(groups: list[GroupCount], attribute: str, labels: dict) -> list[dict]:
    counts: Counter = Counter()
    for group in groups:
        counts[getattr(group, attribute)] += group.count
    rows = [
        {"id": key, "name": labels.get(key) if key is not None else None, "samples": n} for key, n in counts.items()
    ]
    return sorted(rows, key=lambda row: (row["name"] is not None, row["name"] or ""))


def _lineage(export: Export, project: Project, groups: list[GroupCount], generators: list[Generator]) -> dict:
    """The models being trained and each exported generator's model with everything it derives from."""
    declared = project.target_models or []
    in_export = {group.generator_id for group in groups if group.generator_id is not None}
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


def export_manifest(
    export: Export,
    *,
    project: Project,
    reads: ManifestReads,
    groups: list[GroupCount],
    held_back: Counter,
    decisions: list[GateDecision],
    audits_used: list[dict],
    names: dict,
    embedding_model: str,
) -> dict:
    by_origin: Counter[str] = Counter()
    for group in groups:
        by_origin[group.origin] += group.count
    total = sum(by_origin.values())
    version = reads.eval_set_version
    leak_check = reads.leak_check
    override = next((d for d in decisions if d.outcome == Outcome.OVERRIDDEN), None)
    return {
        "synthreview_manifest": 1,
        "export_id": export.pk,
        "project": {"slug": project.slug, "name": project.name},
        "created_by": reads.created_by,
        "requested_at": export.created_at.isoformat(),
        "selection": {
            "split": export.split,
            "status": SampleStatus.ACCEPTED if export.split == "train" else None,
            "target_model": export.target_model or None,
            "max_generation_depth": export.max_generation_depth,
            "excluded_generators": reads.excluded_generators,
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
        "lineage": _lineage(export, project, groups, reads.generators),
        "eval_leaks_held_back": reads.leaks_held_back,
        "decisions": [d.as_dict() for d in decisions],
        "override": None
        if override is None
        else {
            "gate": override.gate,
            "reason": export.audit_override_reason,
            "by": reads.created_by,
        },
        "settings": {
            "phase": project.phase,
            "custom_min_real_share": project.min_real_share,
            "min_real_share_in_force": float(minimum_real_share(project.phase, project.min_real_share)),
            "noise_floor_limit": project.noise_floor_limit,
            "eval_leak_threshold": project.eval_leak_threshold,
            "generator_caps": project.generator_caps or {},
            "project_max_generation_depth": project.max_generation_depth,
            "embedding_model": embedding_model,
        },
    }
