"""Audits: drawing a stratified random sample for experts, recording their
verdicts, adjudicating disagreements, and closing with frozen figures.

An audit measures the generator's raw output, so it draws from every synthetic
sample in scope whatever its review status, and its verdicts never change a
sample's status: two reviewers on one item may disagree, and neither decides.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from typing import cast

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from generation.models import GenerationRun, Generator, Origin, PromptTemplateVersion, Sample
from reviews.metrics import NoiseFloorFigures
from reviews.models import (
    Audit,
    AuditAdjudication,
    AuditItem,
    AuditScope,
    AuditStatus,
    GoldSample,
    Verdict,
    VerdictValue,
)
from reviews.quality.audit_sampling import MAX_AUDIT_SIZE, MIN_AUDIT_SIZE, stratified_draw
from reviews.selectors.audits import audit_figures_compute
from reviews.services.alerts import alerts_evaluate_audit
from reviews.services.verdicts import signed_in_reviewer, validated_verdict
from synthreview.projects.access import ProjectAccess, SystemActor, signed_in_account
from synthreview.projects.models import Project
from synthreview.projects.services import audit_log_record

MAX_OVERLAP = 5

# What an audit of one run, generator or template version names; an audit of the project names none.
AuditScopeObject = GenerationRun | Generator | PromptTemplateVersion


class AuditClosed(Exception):
    """The audit is closed; its figures are frozen."""


class AuditItemFull(Exception):
    """The item already has the verdicts the overlap asks for."""


def audit_scope_samples(project: Project, scope: str, scope_object: AuditScopeObject | None) -> QuerySet[Sample]:
    """The synthetic samples of the scope; `scope_object` is the scope's own kind of object (_scope_object)."""
    samples = Sample.objects.filter(project=project, origin=Origin.SYNTHETIC)
    if scope == AuditScope.RUN:
        return samples.filter(run=cast(GenerationRun, scope_object))
    if scope == AuditScope.GENERATOR:
        return samples.filter(generator=cast(Generator, scope_object))
    if scope == AuditScope.TEMPLATE_VERSION:
        return samples.filter(template_version=cast(PromptTemplateVersion, scope_object))
    return samples


def _scope_object(project: Project, scope: str, object_id: int | None) -> AuditScopeObject | None:
    """The run, generator or template version the scope names (None for the project), in the project."""
    scope_models: dict[AuditScope, type[AuditScopeObject]] = {
        AuditScope.RUN: GenerationRun,
        AuditScope.GENERATOR: Generator,
        AuditScope.TEMPLATE_VERSION: PromptTemplateVersion,
    }
    model = scope_models.get(AuditScope(scope))
    if model is None:
        return None
    lookup = {"template__project": project} if model is PromptTemplateVersion else {"project": project}
    found = model.objects.filter(pk=object_id, **lookup).first() if object_id else None
    if found is None:
        raise ValidationError(f"Pick the {AuditScope(scope).label.lower().removeprefix('one ')} to audit.")
    return found


def _default_name(scope: str, scope_object: AuditScopeObject | None) -> str:
    stamp = timezone.localdate().isoformat()
    if scope_object is None:
        return f"All synthetic samples, {stamp}"
    if isinstance(scope_object, PromptTemplateVersion):
        return f"Template {scope_object.template.name} v{scope_object.version}, {stamp}"
    return f"{AuditScope(scope).label.removeprefix('One ').capitalize()} {scope_object}, {stamp}"


def audit_create(
    access: ProjectAccess,
    *,
    scope: str,
    object_id: int | None = None,
    sample_size: int = 60,
    overlap: int = 1,
    gold_items: int = 0,
    expected_error_rate: float = 0.10,
    name: str = "",
    seed: int | None = None,
) -> Audit:
    """Draw the audit: n synthetic samples stratified across the generators and
    template versions in scope, plus gold items shuffled in blind. The seed is
    stored, so the same scope and seed draw the same audit again."""
    project = access.project
    if scope not in AuditScope.values:
        raise ValidationError(f"Unknown audit scope {scope!r}.")
    if not MIN_AUDIT_SIZE <= sample_size <= MAX_AUDIT_SIZE:
        raise ValidationError(f"An audit holds {MIN_AUDIT_SIZE} to {MAX_AUDIT_SIZE} items; 50 to 100 is usual.")
    if not 1 <= overlap <= MAX_OVERLAP:
        raise ValidationError(f"Overlap is 1 to {MAX_OVERLAP} reviewers per item.")
    if not 0 < expected_error_rate < 1:
        raise ValidationError("The expected error rate is a share between 0 and 1.")
    scope_object = _scope_object(project, scope, object_id)
    seed = secrets.randbits(62) if seed is None else seed
    # Read before the scope: a sample arriving while the draw runs lies above the mark, so no later gate
    # takes this audit to have seen it.
    drawn_through = Sample.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0
    strata: dict[tuple, list[int]] = defaultdict(list)
    # One pass over the scope's ids; at a million samples this is a few megabytes, once per audit.
    rows = audit_scope_samples(project, scope, scope_object).values_list("generator_id", "template_version_id", "pk")
    for generator_id, version_id, pk in rows.iterator(chunk_size=20_000):
        strata[(generator_id, version_id)].append(pk)
    if not strata:
        raise ValidationError("There are no synthetic samples in this scope to audit.")
    drawn = stratified_draw(strata, sample_size, seed)
    gold_pool = sorted(GoldSample.objects.filter(project=project).values_list("sample_id", "expected_value"))
    if gold_items > len(gold_pool):
        raise ValidationError(f"The project has {len(gold_pool)} gold samples; ask for at most that many.")
    # Gold items are drawn and placed from the same seed, so a redraw places them the same way.
    rng = random.Random(seed)
    gold = rng.sample(gold_pool, gold_items)
    drawn_set = set(drawn)
    stratum_of = {pk: key for key, ids in strata.items() for pk in ids if pk in drawn_set}
    entries: list[tuple[int, bool, str]] = [(pk, False, "") for pk in drawn] + [(pk, True, v) for pk, v in gold]
    rng.shuffle(entries)
    with transaction.atomic():
        audit = Audit.objects.create(
            project=project,
            name=(name.strip() or _default_name(scope, scope_object))[:200],
            scope=scope,
            run=cast(GenerationRun, scope_object) if scope == AuditScope.RUN else None,
            generator=cast(Generator, scope_object) if scope == AuditScope.GENERATOR else None,
            template_version=cast(PromptTemplateVersion, scope_object)
            if scope == AuditScope.TEMPLATE_VERSION
            else None,
            sample_size=len(drawn),
            overlap=overlap,
            gold_items=len(gold),
            expected_error_rate=expected_error_rate,
            seed=seed,
            drawn_through_sample_id=drawn_through,
            created_by=signed_in_account(access.actor),
        )
        AuditItem.objects.bulk_create(
            [
                AuditItem(
                    audit=audit,
                    sample_id=pk,
                    position=position,
                    is_gold=is_gold,
                    gold_verdict=gold_value,
                    stratum="" if is_gold else "g{}:t{}".format(*stratum_of[pk]),
                )
                for position, (pk, is_gold, gold_value) in enumerate(entries, start=1)
            ]
        )
        audit_log_record(
            project=project,
            actor=access.actor,
            action="audit.create",
            obj=audit,
            details={
                "scope": scope,
                "object_id": object_id,
                "requested": sample_size,
                "drawn": len(drawn),
                "gold_items": len(gold),
                "overlap": overlap,
                "seed": seed,
                "strata": len(strata),
                "drawn_through_sample_id": drawn_through,
            },
        )
    return audit


def audit_verdict_record(
    access: ProjectAccess,
    *,
    audit: Audit,
    sample_id: int,
    value: str,
    error_category: str = "",
    note: str = "",
    time_spent_ms: int | None = None,
) -> Verdict:
    """A reviewer's verdict on one audit item. A reviewer may revise their own
    verdict while the audit is open; a new reviewer is turned away once the item
    has as many verdicts as the overlap asks for."""
    reviewer = signed_in_reviewer(access, "An audit verdict")
    _require_in_project(access, audit)
    value, error_category = validated_verdict(value, error_category)
    with transaction.atomic():
        locked = Audit.objects.select_for_update().get(pk=audit.pk)
        if locked.status == AuditStatus.CLOSED:
            raise AuditClosed(f"The audit “{locked.name}” is closed; its figures are frozen.")
        # Locking the item serialises reviewers racing for its last place.
        item = AuditItem.objects.select_for_update().filter(audit=locked, sample_id=sample_id).first()
        if item is None:
            raise ValidationError("That sample is not part of this audit.")
        verdict = Verdict.objects.filter(audit=locked, sample_id=sample_id, reviewer=reviewer).first()
        if verdict is None:
            others = Verdict.objects.filter(audit=locked, sample_id=sample_id).count()
            if others >= locked.overlap:
                raise AuditItemFull(
                    f"Item {item.position} already has its {locked.overlap} "
                    f"verdict{'s' if locked.overlap > 1 else ''}; the queue moves on to the next."
                )
            verdict = Verdict(audit=locked, sample_id=sample_id, reviewer=reviewer)
        else:
            verdict.previous_value, verdict.previous_error_category = verdict.value, verdict.error_category
        verdict.value, verdict.error_category, verdict.note = value, error_category, note.strip()
        verdict.time_spent_ms = time_spent_ms
        verdict.save()
        audit_log_record(
            project=locked.project,
            actor=reviewer,
            action="audit.verdict",
            obj=item.sample,
            details={"audit": locked.pk, "value": value, "error_category": error_category},
        )
        _close_if_complete(locked)
    return verdict


def _require_in_project(access: ProjectAccess, audit: Audit) -> None:
    # Views fetch the audit through get_audit_for_user; this only stops a caller mixing projects.
    if audit.project_id != access.project.pk:
        raise ValueError(f"Audit {audit.pk} belongs to another project than {access.project.slug!r}.")


def _close_if_complete(audit: Audit) -> None:
    """A complete audit with nothing left to adjudicate closes itself, freezing its figures."""
    # Two small counts first: every verdict but the last would otherwise recompute every figure of the
    # audit only to find it incomplete. Fewer verdicts than items × overlap cannot make it complete.
    needed = AuditItem.objects.filter(audit=audit).count() * audit.overlap
    if Verdict.objects.filter(audit=audit).count() < needed:
        return
    figures = audit_figures_compute(audit)
    if figures["complete"] and not figures["open_disagreements"]:
        _freeze(audit, figures, actor=None, reason="")


def _freeze(audit: Audit, figures: dict, *, actor: User | SystemActor | None, reason: str) -> None:
    audit.status = AuditStatus.CLOSED
    audit.frozen_figures = figures
    audit.closed_reason = reason
    audit.closed_at = timezone.now()
    audit.closed_by = signed_in_account(actor)
    audit.save(update_fields=["status", "frozen_figures", "closed_reason", "closed_at", "closed_by"])
    floor = NoiseFloorFigures.from_json(figures["noise_floor"])
    audit_log_record(
        project=audit.project,
        actor=actor,
        action="audit.close",
        obj=audit,
        details={
            "reason": reason or "complete",
            "wrong": floor.wrong,
            "judged": floor.judged,
            "high": floor.high,
        },
    )

    alerts_evaluate_audit(audit)


def audit_close_refusal(figures: dict, reason: str) -> str:
    """Why the audit may not close without a written reason, or "" if it may: closing early, or with
    split verdicts that nobody decided (they leave the noise floor), must say why."""
    if reason.strip():
        return ""
    if not figures["complete"]:
        return (
            f"The audit has {figures['verdicts_given']} of {figures['verdicts_needed']} verdicts; "
            "say why you close it early."
        )
    if figures["open_disagreements"]:
        count = figures["open_disagreements"]
        them = "them" if count != 1 else "it"
        return (
            f"{count} item{'s' if count != 1 else ''} still split between reviewers with no decision; "
            f"decide {them}, or say why you close without {them} (split items are left out of the noise floor)."
        )
    return ""


def audit_close(access: ProjectAccess, *, audit: Audit, reason: str = "") -> Audit:
    """Close the audit and freeze its figures; closing early or with undecided disagreements needs a reason."""
    _require_in_project(access, audit)
    with transaction.atomic():
        locked = Audit.objects.select_for_update().get(pk=audit.pk)
        if locked.status == AuditStatus.CLOSED:
            raise AuditClosed("This audit is already closed.")
        figures = audit_figures_compute(locked)
        reason = reason.strip()
        refusal = audit_close_refusal(figures, reason)
        if refusal:
            raise ValidationError({"reason": [refusal]})
        _freeze(locked, figures, actor=access.actor, reason=reason)
    return locked


def audit_adjudicate(
    access: ProjectAccess, *, audit: Audit, sample_id: int, value: str, error_category: str = "", note: str = ""
) -> AuditAdjudication:
    deciding = signed_in_reviewer(access, "Deciding a split item")
    _require_in_project(access, audit)
    value, error_category = validated_verdict(value, error_category)
    with transaction.atomic():
        locked = Audit.objects.select_for_update().get(pk=audit.pk)
        if locked.status == AuditStatus.CLOSED:
            raise AuditClosed("The audit is closed; its figures are frozen.")
        if not AuditItem.objects.filter(audit=locked, sample_id=sample_id, is_gold=False).exists():
            raise ValidationError("That sample is not an item of this audit.")
        adjudication, _ = AuditAdjudication.objects.update_or_create(
            audit=locked,
            sample_id=sample_id,
            defaults={"value": value, "error_category": error_category, "note": note.strip(), "decided_by": deciding},
        )
        audit_log_record(
            project=locked.project,
            actor=deciding,
            action="audit.adjudicate",
            object_type="generation.sample",
            object_id=str(sample_id),
            details={"audit": locked.pk, "value": value, "error_category": error_category},
        )
        _close_if_complete(locked)
    return adjudication


def gold_sample_set(
    access: ProjectAccess,
    *,
    sample_id: int,
    expected_value: str,
    expected_error_category: str = "",
    note: str = "",
) -> GoldSample:
    """Add a real sample to the gold set with the verdict the lead knows it deserves."""
    project = access.project
    if expected_value not in (VerdictValue.CORRECT, VerdictValue.WRONG):
        raise ValidationError("A gold sample's verdict is correct or wrong.")
    expected_value, expected_error_category = validated_verdict(expected_value, expected_error_category)
    sample = Sample.objects.filter(project=project, pk=sample_id).first()
    if sample is None:
        raise ValidationError("No such sample in this project.")
    if sample.origin != Origin.REAL:
        raise ValidationError("Gold samples are real samples: a synthetic one is what audits measure.")
    gold, _ = GoldSample.objects.update_or_create(
        project=project,
        sample=sample,
        defaults={
            "expected_value": expected_value,
            "expected_error_category": expected_error_category,
            "note": note.strip(),
            "created_by": signed_in_account(access.actor),
        },
    )
    audit_log_record(
        project=project,
        actor=access.actor,
        action="gold.set",
        obj=sample,
        details={"expected_value": expected_value, "error_category": expected_error_category},
    )
    return gold


def gold_sample_remove(access: ProjectAccess, *, sample_id: int) -> bool:
    project = access.project
    deleted, _ = GoldSample.objects.filter(project=project, sample_id=sample_id).delete()
    if deleted:
        audit_log_record(
            project=project,
            actor=access.actor,
            action="gold.remove",
            object_type="generation.sample",
            object_id=str(sample_id),
        )
    return bool(deleted)


def audit_verdict_undo(access: ProjectAccess, *, audit: Audit) -> int | None:
    """Take back the reviewer's latest verdict in an open audit; returns its sample id."""
    reviewer = signed_in_reviewer(access, "Undoing an audit verdict")
    _require_in_project(access, audit)
    with transaction.atomic():
        locked = Audit.objects.select_for_update().get(pk=audit.pk)
        if locked.status == AuditStatus.CLOSED:
            raise AuditClosed("The audit is closed; its figures are frozen.")
        verdict = Verdict.objects.filter(audit=locked, reviewer=reviewer).order_by("-updated_at", "-id").first()
        if verdict is None:
            return None
        sample_id = verdict.sample_id
        verdict.delete()
        audit_log_record(
            project=locked.project,
            actor=reviewer,
            action="audit.verdict_undo",
            object_type="generation.sample",
            object_id=str(sample_id),
            details={"audit": locked.pk},
        )
    return sample_id
