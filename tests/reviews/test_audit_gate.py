"""The audit gate clears exactly what was audited: each generator on its own items
in a pooled audit, only the samples an audit could have seen, with advice whose
numbers are true, and charts coloured by what the gate judges.

Walked as a lead walks it: the export page and `manage.py export_samples`.
Expected figures are worked by hand from the Wilson formula (z = 1.95996).
"""

from __future__ import annotations

import math
import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from reviews.metrics import audit_size_to_clear
from reviews.models import Audit, AuditAdjudication, Export
from reviews.services.audits import audit_close
from synthreview.projects.access import project_access
from tests.reviews.audit_helpers import audit_drawn, review_all
from tests.reviews.export_helpers import (
    closed_run_audit,
    decision,
    exported,
    refusal_reasons,
    synthetic_run,
    wilson_upper,
)
from tests.reviews.review_helpers import add_samples, generator, template_version

pytestmark = pytest.mark.django_db


def _cli_export(project, tmp_path) -> str:
    """The CLI's answer: its output when the export completes, the refusal text when it is refused."""
    try:
        return (
            call_command(
                "export_samples",
                project.slug,
                format="jsonl",
                out=tmp_path / "out.jsonl",
                no_progress=True,
                stdout=StringIO(),
                stderr=StringIO(),
            )
            or "completed"
        )
    except CommandError as error:
        return str(error)


def _page_export(project, lead, client_for, capture) -> Export:
    with capture(execute=True):
        response = client_for(lead).post(
            reverse("export_list", args=[project.slug]),
            {"format": "jsonl", "split": "train", "max_generation_depth": 1},
        )
    assert response.status_code == 302
    return Export.objects.filter(project=project).latest("id")


def _pooled_template_audit(
    project,
    lead,
    expert,
    *,
    gen_a_samples: int,
    gen_b_samples: int,
):
    """One template version, two generators; a 100-item template audit in which every gen-b item is wrong."""
    version = template_version(project)
    gen_a, gen_b = generator(project, "gen-a"), generator(project, "gen-b")
    synthetic_run(project, "run-a", gen_a_samples, gen=gen_a, template_version=version)
    synthetic_run(project, "run-b", gen_b_samples, gen=gen_b, template_version=version)
    audit = audit_drawn(project, lead, scope="template_version", object_id=version.pk, size=100)
    audit = review_all(
        audit, expert, lambda index, item: "wrong" if item.sample.generator_id == gen_b.pk else "correct"
    )
    assert audit.status == "closed"
    floor = audit.frozen_figures["noise_floor"]
    assert (floor["wrong"], floor["judged"]) == (5, 100)
    # Wilson upper bound of 5 of 100: (0.05 + 0.019207 + 1.96·√(0.000475 + 0.0000960)) / 1.038415 = 11.2%.
    assert floor["high"] == pytest.approx(0.1118, abs=5e-4)
    # A limit above the pooled bound: the pooled figure alone would clear every generator in the audit.
    project.noise_floor_limit = 0.15
    project.save(update_fields=["noise_floor_limit"])
    return audit, gen_a, gen_b


# --- per stratum -----------------------------------------------------------------------------------------------


def test_a_pooled_template_audit_does_not_clear_a_generator_with_five_of_five_wrong(project, lead, expert, tmp_path):
    audit, _, _ = _pooled_template_audit(project, lead, expert, gen_a_samples=95, gen_b_samples=5)
    answer = _cli_export(project, tmp_path)
    assert "refused" in answer
    assert (
        "run run-b (gen-b: 5 samples): not audited: no closed audit of at least 50 verdicts on gen-b's own "
        f"items (audit {audit.name!r} judged only 5 of them, 5 wrong)"
    ) in answer
    assert (
        "at its observed 100.0% wrong (5 of 5) no audit size brings gen-b's upper bound under the limit of 15%"
        in answer
    )
    # gen-a had 95 of its own items judged, none wrong (upper bound 3.84 / 98.84 = 3.9%): cleared, not named.
    assert "run-a" not in answer


def test_the_manifest_lists_only_the_generator_the_pooled_audit_cleared(project, lead, expert):
    audit, _, _ = _pooled_template_audit(project, lead, expert, gen_a_samples=95, gen_b_samples=5)
    export = exported(project, lead)
    assert export.status == "refused"
    [used] = export.manifest["audits"]
    assert used["id"] == audit.pk and used["samples_cleared"] == 95
    [cleared] = used["cleared"]
    assert (cleared["generator"], cleared["samples"], cleared["generator_judged"], cleared["generator_wrong"]) == (
        "gen-a",
        95,
        95,
        0,
    )
    assert cleared["generator_upper_bound"] == pytest.approx(wilson_upper(0, 95), abs=1e-6)
    assert [f["generator"] for f in decision(export, "audit")["details"]["failing"]] == ["gen-b"]


# --- freshness -------------------------------------------------------------------------------------------------


def test_an_old_generator_audit_does_not_clear_samples_imported_after_it(project, lead, expert, tmp_path):
    gen = generator(project, "gen-a")
    _, drawn_from = synthetic_run(project, "run-june", 50, gen=gen)
    audit = review_all(
        audit_drawn(project, lead, scope="generator", object_id=gen.pk, size=50), expert, lambda index, item: "correct"
    )
    assert audit.status == "closed"
    refusals = [("Why is the sky blue?", "I'm sorry, but I can't help with that request.")] * 60
    add_samples(project, 60, gen=gen, status="accepted", texts=refusals)

    answer = _cli_export(project, tmp_path)
    assert (
        f"samples imported without a run (gen-a: 60 samples): not audited: these samples arrived after audit "
        f"{audit.name!r} was drawn (it saw samples up to #{drawn_from[-1].pk})"
    ) in answer
    assert "run-june" not in answer
    assert audit.drawn_through_sample_id == drawn_from[-1].pk
    export = exported(project, lead)
    [used] = export.manifest["audits"]
    assert used["drawn_through_sample_id"] == drawn_from[-1].pk
    assert [(c["source"], c["samples"]) for c in used["cleared"]] == [("run run-june", 50)]


def test_a_new_audit_of_the_generator_clears_the_samples_imported_later(project, lead, expert):
    gen = generator(project, "gen-a")
    synthetic_run(project, "run-june", 50, gen=gen)
    review_all(
        audit_drawn(project, lead, scope="generator", object_id=gen.pk, size=50), expert, lambda index, item: "correct"
    )
    add_samples(project, 60, gen=gen, status="accepted")
    assert exported(project, lead).status == "refused"
    again = review_all(
        audit_drawn(project, lead, scope="generator", object_id=gen.pk, size=50, seed=2),
        expert,
        lambda index, item: "correct",
    )
    export = exported(project, lead)
    assert export.status == "completed", export.refusals
    assert {a["id"]: a["samples_cleared"] for a in export.manifest["audits"]} == {again.pk: 110}


def test_an_audit_closed_before_per_generator_figures_and_marks_is_judged_from_its_verdicts(project, lead, expert):
    generation_run, samples = synthetic_run(project, "run-a", 50)
    audit = closed_run_audit(project, lead, expert, generation_run, wrong=0)
    legacy = {key: value for key, value in audit.frozen_figures.items() if key != "breakdowns"}
    Audit.objects.filter(pk=audit.pk).update(frozen_figures=legacy, drawn_through_sample_id=None)
    export = exported(project, lead)
    assert export.status == "completed", export.refusals
    # Without a mark it saw at least what it drew: all 50 samples, so through the last one.
    [used] = export.manifest["audits"]
    assert used["drawn_through_sample_id"] == samples[-1].pk
    assert [(c["generator"], c["generator_judged"], c["generator_wrong"]) for c in used["cleared"]] == [
        ("gen-a", 50, 0)
    ]
    add_samples(project, 10, status="accepted", run=generation_run, template_version=generation_run.template_version)
    assert (
        f"run run-a (gen-a: 10 samples): not audited: these samples arrived after audit {audit.name!r} was "
        f"drawn (it saw samples up to #{samples[-1].pk})"
    ) in refusal_reasons(exported(project, lead))["audit"]


# --- advice ----------------------------------------------------------------------------------------------------


def test_audit_size_to_clear_by_hand():
    # The upper bound (p + z²/2n + z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n) ≤ L is a quadratic in n:
    # a²n² + (2ab − z²p(1−p))n − z⁴L(1−L) ≥ 0 with a = L − p, b = z²(L − ½).
    # p = 1/15, L = 0.10: a² = 0.0011111, 2ab − z²p(1−p) = −0.10244 − 0.23902 = −0.34146,
    # n = (0.34146 + √(0.116595 + 0.0059028)) / 0.0022222 = 311.2 at the rate itself, but an audit finds
    # whole wrong items: 312 items at 1/15 means ceil(20.8) = 21 wrong, and 21 of 312 is over the limit.
    assert wilson_upper(21, 312) == pytest.approx(0.1007, abs=5e-4)
    # Each extra wrong item lifts the bound again; the last size that fails is 361 (ceil(24.07) = 25 wrong):
    # p = 0.069252, (0.069252 + 0.0053206 + 1.96·√(0.00017855 + 0.0000073692)) / 1.010641 = 10.023%.
    # At 362 (25 wrong): (0.069061 + 0.0053059 + 1.96·√(0.00017760 + 0.0000073287)) / 1.010612 = 9.996%.
    assert wilson_upper(25, 361) == pytest.approx(0.10023, abs=2e-5)
    assert wilson_upper(25, 362) == pytest.approx(0.09996, abs=2e-5)
    assert audit_size_to_clear(1 / 15, 0.10) == 362
    # And "at least 362" holds for every larger audit at that rate.
    assert all(wilson_upper(math.ceil(round(n / 15, 9)), n) <= 0.10 for n in range(362, 3000))
    # p = 0.05, L = 0.10: 138.3 at the rate itself; with whole wrong items 165 fails (9 wrong: 10.04%),
    # 166 passes (9 wrong: 9.98%) and every size after it.
    assert wilson_upper(9, 165) > 0.10 >= wilson_upper(9, 166)
    assert audit_size_to_clear(0.05, 0.10) == 166
    # p = 0: z² / (n + z²) ≤ 0.10 needs n ≥ 9 · 3.8415 = 34.57, so 35.
    assert audit_size_to_clear(0.0, 0.10) == 35
    # At or above the limit no size passes: the bound only falls towards the rate.
    assert audit_size_to_clear(0.10, 0.10) is None
    assert audit_size_to_clear(0.25, 0.10) is None


def test_a_sixty_item_audit_at_six_point_seven_percent_is_told_about_362_items(
    project, lead, expert, client_for, django_capture_on_commit_callbacks, run_tasks_inline
):
    generation_run, _ = synthetic_run(project, "run-a", 60)
    closed_run_audit(project, lead, expert, generation_run, size=60, wrong=4)
    export = _page_export(project, lead, client_for, django_capture_on_commit_callbacks)
    reason = refusal_reasons(export)["audit"]
    # 4 of 60: upper bound (0.0667 + 0.0320 + 0.0708) / 1.0640 = 15.9%.
    assert f"upper bound at {wilson_upper(4, 60):.1%}, above the limit of 10%" in reason
    assert "audit gen-a on its own with at least 362 items: at its observed 6.7% wrong (4 of 60)" in reason
    assert "at least 50 items" not in reason
    page = client_for(lead).get(reverse("export_detail", args=[project.slug, export.pk])).content.decode()
    assert "at least 362 items" in page


def test_a_rate_above_the_limit_is_told_that_no_size_will_pass(project, lead, expert, tmp_path):
    generation_run, _ = synthetic_run(project, "run-a", 50)
    closed_run_audit(project, lead, expert, generation_run, size=50, wrong=6)
    answer = _cli_export(project, tmp_path)
    assert (
        "at its observed 12.0% wrong (6 of 50) no audit size brings gen-a's upper bound under the limit of 10%"
        in answer
    )
    assert re.search(r"at least \d+ items", answer) is None


# --- charts agree with the gate ---------------------------------------------------------------------------------


def test_the_noise_floor_chart_marks_a_generator_whose_upper_bound_is_over_the_limit(project, lead, expert, client_for):
    over_run, _ = synthetic_run(project, "run-a", 60, gen=generator(project, "gen-a"))
    closed_run_audit(project, lead, expert, over_run, size=60, wrong=4)
    page = client_for(lead).get(reverse("noise_floor", args=[project.slug])).content.decode()
    generators = page.split('data-testid="breakdown-generator"')[1].split("</section>")[0]
    # 6.7% wrong is under the 10% limit, but the upper bound (15.9%) is over it: the gate refuses, so red.
    assert generators.count("chart-row chart-over-limit") == 1
    assert "upper bound above the limit" in generators


def test_the_noise_floor_chart_leaves_a_generator_the_gate_clears_unmarked(project, lead, expert, client_for):
    passing_run, _ = synthetic_run(project, "run-b", 60, gen=generator(project, "gen-b"))
    closed_run_audit(project, lead, expert, passing_run, size=60, wrong=0)
    page = client_for(lead).get(reverse("noise_floor", args=[project.slug])).content.decode()
    # 0 of 60: upper bound 3.84 / 63.84 = 6.0%, within the limit.
    assert "chart-over-limit" not in page


# --- split verdicts and adjudication ---------------------------------------------------------------------------


@pytest.fixture
def split_audit(project, lead, expert, django_user_model):
    """Ten items, two reviewers each; they disagree on the last one and nobody decides."""
    add_samples(project, 10)
    second = django_user_model.objects.create_user("second-expert", password="x")
    project.memberships.create(user=second, role="expert")
    audit = audit_drawn(project, lead, size=10, overlap=2)
    review_all(audit, expert, lambda index, item: "correct")
    review_all(audit, second, lambda index, item: "wrong" if index == 9 else "correct")
    audit.refresh_from_db()
    assert audit.status == "open"
    return audit


def test_closing_with_an_open_split_needs_a_written_reason(project, lead, client_for, split_audit):
    url = reverse("audit_close", args=[project.slug, split_audit.pk])
    response = client_for(lead).post(url, {"reason": "  "})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-testid="error-reason"' in body
    assert "1 item still split between reviewers with no decision" in body
    split_audit.refresh_from_db()
    assert split_audit.status == "open"
    # The service refuses too, naming the same field.
    with pytest.raises(ValidationError) as refused:
        audit_close(project_access(lead, project), audit=split_audit)
    assert "reason" in refused.value.message_dict

    response = client_for(lead).post(url, {"reason": "Item 10 is ambiguous; we leave it out."})
    assert response.status_code == 302
    split_audit.refresh_from_db()
    assert split_audit.status == "closed" and split_audit.closed_reason == "Item 10 is ambiguous; we leave it out."
    detail = client_for(lead).get(reverse("audit_detail", args=[project.slug, split_audit.pk])).content.decode()
    assert "split items (reviewers disagreed, nobody decided): <strong>1</strong>" in detail
    floor_page = client_for(lead).get(reverse("noise_floor", args=[project.slug])).content.decode()
    assert '<strong data-testid="split-left-out">1</strong> split item (reviewers disagreed' in floor_page


def test_adjudication_has_no_default_and_asks_for_a_choice(project, lead, client_for, split_audit):
    page = client_for(lead).get(reverse("audit_detail", args=[project.slug, split_audit.pk])).content.decode()
    [select] = re.findall(r'<select name="value"[^>]*>.*?</select>', page, re.S)
    assert re.findall(r'<option value="([^"]*)" selected', select) == [""]
    assert "required" in select.split(">")[0]
    item = split_audit.items.order_by("position").last()
    client = client_for(lead)
    response = client.post(
        reverse("audit_adjudicate", args=[project.slug, split_audit.pk]),
        {"sample": item.sample_id, "value": "", "note": ""},
        follow=True,
    )
    assert (
        "The decision was not saved. Decision: Choose a decision: correct, wrong or unsure."
        in response.content.decode()
    )
    assert not AuditAdjudication.objects.filter(audit=split_audit).exists()


# --- the export path -------------------------------------------------------------------------------------------


def test_a_failing_generator_inside_a_passing_pooled_audit_is_refused_until_audited_on_its_own(
    project, lead, expert, client_for, django_capture_on_commit_callbacks, run_tasks_inline
):
    template_audit, _, gen_b = _pooled_template_audit(project, lead, expert, gen_a_samples=950, gen_b_samples=50)
    refused = _page_export(project, lead, client_for, django_capture_on_commit_callbacks)
    assert refused.status == "refused"
    reason = refusal_reasons(refused)["audit"]
    assert "run run-b (gen-b: 50 samples): not audited" in reason
    assert "no audit size brings gen-b's upper bound under the limit of 15%" in reason
    assert "run-a" not in reason

    own = review_all(
        audit_drawn(project, lead, scope="generator", object_id=gen_b.pk, size=50),
        expert,
        lambda index, item: "wrong" if index == 0 else "correct",
    )
    # 1 of 50: upper bound (0.02 + 0.03842 + 0.0546) / 1.07683 = 10.5%, within 15%.
    high = own.frozen_figures["noise_floor"]["high"]
    assert high == pytest.approx(wilson_upper(1, 50), abs=1e-6) and high < 0.15
    passed = _page_export(project, lead, client_for, django_capture_on_commit_callbacks)
    assert passed.status == "completed", passed.refusals
    cleared = {a["id"]: [(c["generator"], c["samples"]) for c in a["cleared"]] for a in passed.manifest["audits"]}
    assert cleared == {template_audit.pk: [("gen-a", 950)], own.pk: [("gen-b", 50)]}
    page = client_for(lead).get(reverse("export_detail", args=[project.slug, passed.pk])).content.decode()
    assert "run run-b × gen-b: 50 samples" in page and "run run-a × gen-a: 950 samples" in page
