"""Audits for the demo project, so its dashboard has figures and its export page
a story on first start.

The closed audits' verdicts come from the rule-based generator's answer key
(each demo sample records whether its answer was made wrong on purpose), given
by a reviewer named "answer-key" and saying so in every note: nothing here
pretends a person reviewed them. The demo itself draws the audits, marks the
gold items, decides samples by the answer key and freezes the eval set, as the
system actor DEMO, which the audit log names: no lead is said to have done it.
One more audit, open, waits for the demo's own expert and lead to review it in
the browser.

The export story: one audit per run pools its generators, so none of them has
the 50 judged items of its own that clear it; then arith-sloppy is audited on
its own (its noise floor is far over the limit: refused) and arith-careful on
its own, large enough that its upper bound is under the limit (cleared). The
answer key accepts the right samples of both and rejects the wrong ones, and
the hand-written anchors are accepted, so a training export without arith-sloppy
passes every gate, and one with it is refused by the audit gate.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from generation.models import GenerationRun, Generator, Origin, RunStatus, Sample, SampleStatus
from generation.services.demo import DEMO
from reviews.models import Audit, AuditItem
from reviews.services.audits import audit_create, audit_verdict_record, gold_sample_set
from reviews.services.bulk import samples_bulk_set_status
from reviews.services.eval_sets import eval_set_version_create, eval_split_draw
from synthreview.projects.access import ProjectAccess, project_access
from synthreview.projects.models import Project, Role

ANSWER_KEY_USER = "answer-key"
NOTE = "Verdict from the demo generator's answer key, not a person."
# Generator audits, drawn after the run audits, so each is the newest to judge its generator.
# (name, items): 100 items hold arith-careful's upper bound under 10% even at its worst
# draw (3 wrong in 100: 8.5%); 60 show arith-sloppy's share wrong far above it.
GENERATOR_AUDITS = (("arith-sloppy", 60), ("arith-careful", 100))
# The generators whose samples the answer key decides outside audits, so a training export has
# accepted samples of a cleared generator and of a refused one; the rest wait in the queue.
DECIDED_BY_ANSWER_KEY = ("arith-careful", "arith-sloppy")


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
            audits.append(_answer_key_review(answer_key_access, audit))
        generators = dict(Generator.objects.filter(project=project).values_list("name", "pk"))
        for index, (name, items) in enumerate(GENERATOR_AUDITS):
            if name not in generators:
                # A project seeded without the demo's generators (an older demo, a test) has nothing to audit here.
                continue
            audit = audit_create(
                access,
                scope="generator",
                object_id=generators[name],
                sample_size=items,
                gold_items=2,
                seed=6000 + index,
                name=f"Generator {name} on its own (answer key)",
            )
            audits.append(_answer_key_review(answer_key_access, audit))
        _answer_key_decide(access, project=project)
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


def _answer_key_review(answer_key_access: ProjectAccess, audit: Audit) -> Audit:
    """Every item's verdict from the answer key; the last one closes the audit."""
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
    audit.refresh_from_db()
    return audit


def _answer_key_decide(access: ProjectAccess, *, project: Project) -> None:
    """Accept the hand-written anchors, and the answer key's right samples of DECIDED_BY_ANSWER_KEY;
    reject its wrong ones. As the demo, in bulk, so the audit log says who decided and why."""
    samples = Sample.objects.filter(project=project)
    decisions = [
        (samples.filter(origin=Origin.REAL), SampleStatus.ACCEPTED, "hand-written anchors"),
        *(
            (
                samples.filter(generator__name=name, metadata__deliberately_wrong=wrong),
                SampleStatus.REJECTED if wrong else SampleStatus.ACCEPTED,
                f"{name}: {'wrong' if wrong else 'right'} by the answer key",
            )
            for name in DECIDED_BY_ANSWER_KEY
            for wrong in (False, True)
        ),
    ]
    for queryset, status, why in decisions:
        count = queryset.count()
        if not count:
            continue
        samples_bulk_set_status(
            access,
            queryset=queryset,
            status=status,
            expected_count=count,
            description={"demo": why},
            page_size=count,
        )
