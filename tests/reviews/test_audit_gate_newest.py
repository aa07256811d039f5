"""The newest closed audit that saw a generator's samples decides for them, whatever
its scope and however few items it judged: an older passing audit never clears a
generator that a newer audit found failing, and the audit a refusal advises is the
one that then clears it. Walked as a lead walks it: audits closed on the audit page,
exports asked for on the export page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import Audit, Export
from reviews.services.audits import audit_verdict_record
from synthreview.projects.access import project_access
from tests.reviews.audit_helpers import audit_drawn, first_wrong, review_all, scored_items
from tests.reviews.export_helpers import refusal_reasons, synthetic_run, wilson_upper

pytestmark = pytest.mark.django_db


def _page_export(project, lead, client_for, capture) -> Export:
    with capture(execute=True):
        response = client_for(lead).post(
            reverse("export_list", args=[project.slug]),
            {"format": "jsonl", "split": "train", "max_generation_depth": 1},
        )
    assert response.status_code == 302
    return Export.objects.filter(project=project).latest("id")


def test_a_newer_audit_closed_early_at_twelve_wrong_of_forty_refuses_what_an_older_one_cleared(
    project, lead, expert, client_for, django_capture_on_commit_callbacks, run_tasks_inline
):
    generation_run, _ = synthetic_run(project, "run-a", 60)
    older = review_all(
        audit_drawn(project, lead, scope="run", object_id=generation_run.pk, size=50), expert, first_wrong(0)
    )
    assert older.status == "closed"
    # 0 of 50: upper bound 3.8415 / 53.8415 = 7.1%, within 10%: the older audit clears the run.
    assert wilson_upper(0, 50) == pytest.approx(0.0713, abs=5e-4)
    assert _page_export(project, lead, client_for, django_capture_on_commit_callbacks).status == "completed"

    newer = audit_drawn(project, lead, scope="run", object_id=generation_run.pk, size=50, seed=2)
    for index, item in enumerate(scored_items(newer)[:40]):
        value = "wrong" if index < 12 else "correct"
        audit_verdict_record(
            project_access(expert, project),
            audit=newer,
            sample_id=item.sample_id,
            value=value,
            error_category="hallucination" if value == "wrong" else "",
        )
    closed = client_for(lead).post(
        reverse("audit_close", args=[project.slug, newer.pk]), {"reason": "Twelve wrong in forty: stopping here."}
    )
    assert closed.status_code == 302
    assert Audit.objects.get(pk=newer.pk).status == "closed"

    refused = _page_export(project, lead, client_for, django_capture_on_commit_callbacks)
    assert refused.status == "refused"
    reason = refusal_reasons(refused)["audit"]
    assert (
        f"not audited: no closed audit of at least 50 verdicts on gen-a's own items (audit {newer.name!r} "
        "judged only 40 of them, 12 wrong), and the newest audit that saw these samples decides"
    ) in reason
    # 12 of 40 is 30% wrong, above the 10% limit: no size will pass at that rate.
    assert "at its observed 30.0% wrong (12 of 40) no audit size brings gen-a's upper bound under the limit" in reason


def test_following_the_advice_to_audit_the_generator_on_its_own_clears_a_failing_run_audit(
    project, lead, expert, client_for, django_capture_on_commit_callbacks, run_tasks_inline
):
    """A failing run audit used to outrank every generator audit, so "audit gen-a on its own" never cleared."""
    generation_run, samples = synthetic_run(project, "run-a", 60)
    review_all(audit_drawn(project, lead, scope="run", object_id=generation_run.pk, size=60), expert, first_wrong(4))
    refused = _page_export(project, lead, client_for, django_capture_on_commit_callbacks)
    assert refused.status == "refused"
    reason = refusal_reasons(refused)["audit"]
    assert "advice: audit gen-a on its own with at least 362 items" in reason

    # The lead follows it (at this generator's size, the whole of it), and this time the reviewer finds none wrong.
    generator_id = samples[0].generator_id
    own = review_all(
        audit_drawn(project, lead, scope="generator", object_id=generator_id, size=60, seed=5), expert, first_wrong(0)
    )
    assert own.status == "closed"
    # 0 of 60: upper bound 3.8415 / 63.8415 = 6.0%, within 10%.
    assert own.frozen_figures["noise_floor"]["high"] == pytest.approx(0.0602, abs=5e-4)
    passed = _page_export(project, lead, client_for, django_capture_on_commit_callbacks)
    assert passed.status == "completed", passed.refusals
    assert [a["id"] for a in passed.manifest["audits"]] == [own.pk]
