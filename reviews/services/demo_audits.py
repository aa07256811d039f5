"""Audits for the demo project, so its dashboard has figures on first start.

The closed audits' verdicts come from the rule-based generator's answer key
(each demo sample records whether its answer was made wrong on purpose), given
by a reviewer named "answer-key" and saying so in every note: nothing here
pretends a person reviewed them. The demo itself draws the audits, marks the
gold items and freezes the eval set, as the system actor DEMO, which the audit
log names: no lead is said to have done it. One more audit, open, waits for the
demo's own expert and lead to review it in the browser.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from generation.models import GenerationRun, Origin, RunStatus, Sample
from generation.services.demo import DEMO
from reviews.models import Audit, AuditItem
from reviews.services.audits import audit_create, audit_verdict_record, gold_sample_set
from reviews.services.eval_sets import eval_set_version_create, eval_split_draw
from synthreview.projects.access import ProjectAccess, project_access
from synthreview.projects.models import Project, Role

ANSWER_KEY_USER = "answer-key"
NOTE = "Verdict from the demo generator's answer key, not a person."


class RunsNotFinished(Exception):
    pass


def demo_audits_create(*, project_id: int) -> list[Audit]:
    project = Project.objects.get(pk=project_id)
    if Audit.objects.filter(project=project).exists():
        return []
    runs = list(GenerationRun.objects.filter(project=project).order_by("created_at", "id"))
    if any(run.status != RunStatus.COMPLETED for run in runs):
        raise RunsNotFinished("The demo's generation runs are still going.")
    user_model = get_user_model()
    answer_key, created = user_model.objects.get_or_create(username=ANSWER_KEY_USER)
    if created:
        answer_key.set_unusable_password()
        answer_key.save(update_fields=["password"])
    project.memberships.get_or_create(user=answer_key, defaults={"role": Role.EXPERT})
    answer_key_access = project_access(answer_key, project)
    if answer_key_access is None:
        raise RuntimeError(f"{ANSWER_KEY_USER} is not a member of {project.slug}, so it cannot record verdicts.")
    access = ProjectAccess.for_system(project, DEMO)
    audits = []
    with transaction.atomic():
        # The hand-written anchors are right: the first four serve as gold items.
        for sample_id in (
            Sample.objects.filter(project=project, origin=Origin.REAL).order_by("id")[:4].values_list("pk", flat=True)
        ):
            gold_sample_set(access, sample_id=sample_id, expected_value="correct")
        for index, run in enumerate(runs):
            audit = audit_create(
                access,
                scope="run",
                object_id=run.pk,
                sample_size=60,
                gold_items=2,
                seed=5000 + index,
                name=f"Run {run.name} (answer key)",
            )
            for item in AuditItem.objects.filter(audit=audit).select_related("sample").order_by("position"):
                wrong = bool(item.sample.metadata.get("deliberately_wrong"))
                audit_verdict_record(
                    answer_key_access,
                    audit=audit,
                    sample_id=item.sample_id,
                    value="wrong" if wrong else "correct",
                    error_category="wrong_label" if wrong else "",
                    note=NOTE,
                )
            audits.append(audit)
        audits.append(
            audit_create(
                access,
                scope="project",
                sample_size=50,
                overlap=2,
                gold_items=2,
                seed=7777,
                name="Whole project, for the demo's reviewers",
            )
        )
        # A frozen eval set, so the export page has one to check leaks against.
        eval_split_draw(access, count=8, seed=2026)
        eval_set_version_create(access, note="Eight hand-written anchors, drawn at random.")
    return audits
