"""The project's governance policy: the mix-in phase or a custom minimum real
share, per-generator caps, the audit gate's noise-floor limit, the eval leak
threshold, the generation-depth cap, the models being trained (with their
lineage), the metadata keys hidden from reviewers and the quality-check
schedule. Admins set it; every change is one audit-log entry listing what moved."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from generation.models import Generator
from reviews.governance.target_models import target_models_problems
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import Phase, Project, QualityCheckSchedule
from synthreview.projects.services import audit_log_record

POLICY_FIELDS = (
    "phase",
    "min_real_share",
    "noise_floor_limit",
    "eval_leak_threshold",
    "max_generation_depth",
    "generator_caps",
    "target_models",
    "hidden_metadata_keys",
    "quality_check_schedule",
)
MAX_HIDDEN_METADATA_KEYS = 100
MAX_METADATA_KEY_CHARS = 100
# A depth beyond this is no cap at all: generations of generations of synthetic data.
MAX_GENERATION_DEPTH = 10


def _is_share(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def _validated(project: Project, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        errors["__all__"] = [f"Not a policy setting: {', '.join(unknown)}."]
    clean: dict[str, Any] = {}
    if "phase" in changes:
        if changes["phase"] in Phase.values and not isinstance(changes["phase"], bool):
            clean["phase"] = int(changes["phase"])
        else:
            errors["phase"] = [f"The phase is one of {', '.join(str(v) for v in Phase.values)}."]
    if "min_real_share" in changes:
        value = changes["min_real_share"]
        if value is None or _is_share(value):
            clean["min_real_share"] = None if value is None else float(value)
        else:
            errors["min_real_share"] = ["The custom minimum real share lies between 0% and 100% (or is left empty)."]
    for name, what in (
        ("noise_floor_limit", "The noise-floor limit"),
        ("eval_leak_threshold", "The eval leak threshold"),
    ):
        if name in changes:
            if _is_share(changes[name]):
                clean[name] = float(changes[name])
            else:
                errors[name] = [f"{what} lies between 0 and 1."]
    if "max_generation_depth" in changes:
        depth = changes["max_generation_depth"]
        if isinstance(depth, int) and not isinstance(depth, bool) and 0 <= depth <= MAX_GENERATION_DEPTH:
            clean["max_generation_depth"] = depth
        else:
            errors["max_generation_depth"] = [
                f"The generation depth is a whole number from 0 to {MAX_GENERATION_DEPTH}."
            ]
    if "generator_caps" in changes:
        caps = changes["generator_caps"] or {}
        if not isinstance(caps, dict):
            errors["generator_caps"] = ["Generator caps map a generator's name to a share."]
        else:
            names = set(Generator.objects.filter(project=project, name__in=list(caps)).values_list("name", flat=True))
            strangers = sorted(str(name) for name in caps if name not in names)
            bad = sorted(str(name) for name, cap in caps.items() if name in names and not _is_share(cap))
            problems = []
            if strangers:
                problems.append(
                    f"No generator named {', '.join(strangers)} in this project: caps are for its own generators only."
                )
            if bad:
                problems.append(f"A cap lies between 0% and 100%; not so for {', '.join(bad)}.")
            if problems:
                errors["generator_caps"] = problems
            else:
                clean["generator_caps"] = {name: float(caps[name]) for name in sorted(caps)}
    if "target_models" in changes:
        problems = target_models_problems(changes["target_models"])
        if problems:
            errors["target_models"] = problems
        else:
            clean["target_models"] = [
                {"name": model["name"].strip(), "derived_from": [name.strip() for name in model["derived_from"]]}
                for model in changes["target_models"]
            ]
    if "hidden_metadata_keys" in changes:
        keys = changes["hidden_metadata_keys"]
        if (
            not isinstance(keys, list)
            or len(keys) > MAX_HIDDEN_METADATA_KEYS
            or not all(isinstance(key, str) and key.strip() and len(key) <= MAX_METADATA_KEY_CHARS for key in keys)
        ):
            errors["hidden_metadata_keys"] = [
                f"Hidden metadata keys are up to {MAX_HIDDEN_METADATA_KEYS} names of "
                f"1 to {MAX_METADATA_KEY_CHARS} characters."
            ]
        else:
            clean["hidden_metadata_keys"] = list(dict.fromkeys(key.strip() for key in keys))
    if "quality_check_schedule" in changes:
        if changes["quality_check_schedule"] in QualityCheckSchedule.values:
            clean["quality_check_schedule"] = changes["quality_check_schedule"]
        else:
            errors["quality_check_schedule"] = [f"The schedule is one of {', '.join(QualityCheckSchedule.values)}."]
    if errors:
        raise ValidationError(errors)
    return clean


def project_policy_set(access: ProjectAccess, **changes: Any) -> Project:
    """Validate and save policy changes; record one "policy.set" entry with {field: [old, new]} for
    the fields that changed (none when nothing did)."""
    if not access.can("policy"):
        raise PermissionDenied("Only the project's admins change its policy.")
    project = access.project
    clean = _validated(project, changes)
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        moved = {
            name: [getattr(locked, name), value] for name, value in clean.items() if getattr(locked, name) != value
        }
        if moved:
            for name, (_, value) in moved.items():
                setattr(locked, name, value)
            locked.save(update_fields=list(moved))
            audit_log_record(project=locked, actor=access.actor, action="policy.set", obj=locked, details=moved)
    return locked
