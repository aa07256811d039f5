"""The noise floor pooled over closed audits, comparing two generators, unsure and
split verdicts, frozen figures, and who sees an open audit's figures.

Every expected figure is worked by hand in a comment beside it.
"""

from __future__ import annotations

import copy
import json

import pytest
from django.urls import reverse

from reviews.models import (
    AuditItem,
    Verdict,
)
from reviews.selectors.audits import audit_figures, audit_figures_compute
from reviews.selectors.noise_floor import noise_floor_by, noise_floor_compare
from reviews.services.audits import (
    AuditClosed,
    audit_adjudicate,
    audit_close,
    audit_verdict_record,
)
from synthreview.projects.access import project_access
from tests.reviews.audit_helpers import audit_drawn, first_wrong, review_all, scored_items
from tests.reviews.review_helpers import (
    add_samples,
    body,
    generator,
    run,
    template_version,
)

pytestmark = pytest.mark.django_db


# --- Pooling ---------------------------------------------------------------------------------------


def test_generator_row_pools_two_runs_audits_into_one_wilson_interval(project, lead, expert, client_for):
    version = template_version(project)
    x = generator(project, "gen-x")
    first_run, second_run = run(project, "run-1", version, x), run(project, "run-2", version, x)
    add_samples(project, 30, gen=x, run=first_run, template_version=version)
    add_samples(project, 30, gen=x, run=second_run, template_version=version)
    first = review_all(audit_drawn(project, lead, scope="run", object_id=first_run.pk, size=30), expert, first_wrong(2))
    second = review_all(
        audit_drawn(project, lead, scope="run", object_id=second_run.pk, size=30, seed=2), expert, first_wrong(3)
    )
    assert first.status == second.status == "closed"

    row = next(entry for entry in noise_floor_by(project, "generator") if entry.ident == x.pk).as_row()
    assert (row["audits"], row["wrong"], row["correct"], row["judged"]) == (2, 5, 55, 60)
    # Wilson (1927), 5 wrong of 60, z = 1.959964, z² = 3.841459, p = 5/60 = 0.083333:
    #   denominator = 1 + z²/n = 1 + 3.841459/60 = 1.064024
    #   centre = (p + z²/2n) / denominator = (0.083333 + 0.032012) / 1.064024 = 0.108405
    #   half = z·√(p(1−p)/n + z²/4n²) / denominator = 1.959964·√(0.00127315 + 0.00026677) / 1.064024 = 0.072284
    #   interval = 0.108405 ∓ 0.072284 = 0.036121 to 0.180689 (the 0.036–0.181)
    assert row["rate"] == pytest.approx(5 / 60)
    assert row["low"] == pytest.approx(0.03612, abs=5e-5)
    assert row["high"] == pytest.approx(0.18069, abs=5e-5)
    runs = {entry.ident: (entry.wrong, entry.floor.judged, entry.audits) for entry in noise_floor_by(project, "run")}
    assert runs == {first_run.pk: (2, 30, 1), second_run.pk: (3, 30, 1)}

    page = body(client_for(lead).get(reverse("noise_floor", args=[project.slug])))
    assert "3.6%–18.1%" in page  # the pooled interval, as the table prints it
    download = client_for(lead).get(
        reverse("dashboard_figure", args=[project.slug, "noise-floor-by-generator", "json"])
    )
    pooled = next(r for r in json.loads(download.content) if r["id"] == x.pk)
    assert (pooled["wrong"], pooled["judged"]) == (5, 60)


# --- Comparing two generators ------------------------------------------------------------------------


def _two_generators_audited(project, lead, expert, *, wrong_steady: int, wrong_noisy: int):
    version = template_version(project)
    steady, noisy = generator(project, "steady"), generator(project, "noisy")
    add_samples(project, 60, gen=steady, template_version=version)
    add_samples(project, 60, gen=noisy, template_version=version)
    # 60:60 stratified into 120 items draws every sample of both generators.
    audit = audit_drawn(project, lead, size=120)
    seen = {steady.pk: 0, noisy.pk: 0}
    wrong = {steady.pk: wrong_steady, noisy.pk: wrong_noisy}

    def outcome(index: int, item: AuditItem) -> str:
        generator_id = item.sample.generator_id
        seen[generator_id] += 1
        return "wrong" if seen[generator_id] <= wrong[generator_id] else "correct"

    assert review_all(audit, expert, outcome).status == "closed"
    assert seen == {steady.pk: 60, noisy.pk: 60}
    return steady, noisy


def test_1_of_60_against_12_of_60_is_significant_and_names_the_noisier(project, lead, expert, client_for):
    steady, noisy = _two_generators_audited(project, lead, expert, wrong_steady=1, wrong_noisy=12)
    comparison = noise_floor_compare(project, "generator", steady.pk, noisy.pk)
    # Fisher's exact test on [[1, 59], [12, 48]]: margins 60 and 60 rows, 13 wrong, N = 120. Under the null
    # the first row's wrong count x is hypergeometric, P(x) = C(60, x)·C(60, 13 − x) / C(120, 13), with
    # C(120, 13) = 87,586,833,265,107,120:
    #   P(0) = C(60, 13) / C(120, 13) = 5,166,863,427,600 / … = 0.0000590
    #   P(1) = 60·C(60, 12) / C(120, 13) = 83,961,530,698,500 / … = 0.0009586
    # The rows are the same size, so P(x) = P(13 − x); the tables no likelier than x = 1 are x = 0, 1, 12, 13:
    #   p = 2·(0.0000590 + 0.0009586) = 0.002035
    assert comparison.p_value == pytest.approx(0.002035, rel=1e-3)
    assert comparison.significant
    assert comparison.sentence.startswith("noisy is noisier than steady")
    # The same, asked the other way round, still names the noisier one first.
    assert noise_floor_compare(project, "generator", noisy.pk, steady.pk).sentence.startswith(
        "noisy is noisier than steady"
    )
    url = f"{reverse('noise_floor', args=[project.slug])}?compare=generator&first={steady.pk}&second={noisy.pk}"
    page = body(client_for(lead).get(url))
    assert "noisy is noisier than steady" in page and "p = 0.002" in page


def test_3_of_60_against_5_of_60_is_too_small_to_tell_apart(project, lead, expert, client_for):
    steady, noisy = _two_generators_audited(project, lead, expert, wrong_steady=3, wrong_noisy=5)
    comparison = noise_floor_compare(project, "generator", steady.pk, noisy.pk)
    # [[3, 57], [5, 55]]: 8 wrong, P(x) = C(60, x)·C(60, 8 − x) / C(120, 8). The likeliest table is x = 4,
    # P(4) = C(60, 4)² / C(120, 8) = 487,635² / 840,261,910,995 = 0.28299; every other table is no likelier than
    # the observed P(3) = 0.22242 (P(3) = P(5)), so p = 1 − P(4) = 0.71701.
    assert comparison.p_value == pytest.approx(0.71701, rel=1e-3)
    assert not comparison.significant
    # Detectable difference (80% power, 5% level): (1.959964 + 0.841621)·√(p̄(1 − p̄)(1/60 + 1/60)),
    # p̄ = 8/120 = 0.066667: 2.801585·√(0.062222·0.033333) = 2.801585·0.045542 = 0.1276: "about 13 percentage points".
    assert comparison.detectable == pytest.approx(0.1276, abs=5e-4)
    assert "too small to tell steady and noisy apart" in comparison.sentence
    assert "about 13 percentage points" in comparison.sentence
    url = f"{reverse('noise_floor', args=[project.slug])}?compare=generator&first={steady.pk}&second={noisy.pk}"
    page = body(client_for(lead).get(url))
    assert "too small to tell steady and noisy apart" in page
    assert "is noisier than" not in page


# --- Unsure and split verdicts -------------------------------------------------------------------------


def test_unsure_is_shown_beside_the_noise_floor_not_in_it(project, lead, expert, client_for):
    add_samples(project, 10)
    values = ["wrong"] * 2 + ["correct"] * 6 + ["unsure"] * 2
    audit = review_all(audit_drawn(project, lead, size=10), expert, lambda index, item: values[index])
    assert audit.status == "closed"
    floor = audit.frozen_figures["noise_floor"]
    # wrong / (wrong + correct) = 2 / 8; the two unsure are beside it: 2 of the 10 items.
    assert (floor["wrong"], floor["correct"], floor["judged"], floor["unsure"], floor["split"]) == (2, 6, 8, 2, 0)
    assert floor["rate"] == pytest.approx(0.25)
    assert floor["unsure_share"] == pytest.approx(0.2)
    page = body(client_for(expert).get(reverse("audit_detail", args=[project.slug, audit.pk])))
    assert 'data-testid="noise-floor-rate">25.0%<' in page
    assert "(2 of 8 judged)" in page
    assert 'data-testid="noise-floor-unsure">2<' in page
    pooled = noise_floor_by(project, "generator")[0]
    assert (pooled.wrong, pooled.floor.judged, pooled.unsure) == (2, 8, 2)


def test_a_split_item_counts_beside_the_noise_floor_until_a_lead_decides(
    project, lead, expert, django_user_model, client_for
):
    add_samples(project, 10)
    second = django_user_model.objects.create_user("second-expert", password="x")
    project.memberships.create(user=second, role="expert")
    audit = audit_drawn(project, lead, size=10, overlap=2)
    # Both reviewers: 2 wrong, 6 correct, 1 unsure; the last item is correct for one and wrong for the other.
    values = ["wrong"] * 2 + ["correct"] * 6 + ["unsure", "correct"]
    review_all(audit, expert, lambda index, item: values[index])
    review_all(audit, second, lambda index, item: "wrong" if index == 9 else values[index])
    assert audit.status == "open"  # a split waits for a decision
    response = client_for(lead).get(reverse("audit_detail", args=[project.slug, audit.pk]))
    assert "split verdicts awaiting a decision: <strong>1</strong>" in body(response)
    # Closing with an undecided split needs a written reason.
    audit_close(project_access(lead, project), audit=audit, reason="item 10 is ambiguous; left out")
    audit.refresh_from_db()
    floor = audit.frozen_figures["noise_floor"]
    assert (floor["wrong"], floor["correct"], floor["judged"], floor["unsure"], floor["split"]) == (2, 6, 8, 1, 1)
    # Unsure share: (1 unsure + 1 split) / 10 items.
    assert floor["unsure_share"] == pytest.approx(0.2)
    pooled = noise_floor_by(project, "generator")[0]
    assert (pooled.wrong, pooled.floor.judged, pooled.unsure, pooled.split) == (2, 8, 1, 1)


# --- Frozen figures --------------------------------------------------------------------------------------


def test_closed_audits_figures_do_not_move(project, lead, expert, client_for):
    add_samples(project, 10)
    audit = review_all(audit_drawn(project, lead, size=10), expert, first_wrong(2))
    assert audit.status == "closed"
    frozen = copy.deepcopy(audit.frozen_figures)
    items = scored_items(audit)

    Verdict.objects.filter(audit=audit, sample_id=items[0].sample_id).delete()
    # The live count would now read 1 wrong of 9: the deletion is real, the frozen figure ignores it.
    assert audit_figures_compute(audit)["noise_floor"]["wrong"] == 1
    with pytest.raises(AuditClosed):
        audit_adjudicate(project_access(lead, project), audit=audit, sample_id=items[1].sample_id, value="correct")
    with pytest.raises(AuditClosed):
        audit_verdict_record(
            project_access(expert, project), audit=audit, sample_id=items[0].sample_id, value="correct"
        )
    with pytest.raises(AuditClosed):
        audit_close(project_access(lead, project), audit=audit, reason="again")
    adjudicate = reverse("audit_adjudicate", args=[project.slug, audit.pk])
    client_for(lead).post(adjudicate, {"sample": items[1].sample_id, "value": "correct"})

    audit.refresh_from_db()
    assert audit.frozen_figures == frozen
    assert audit_figures(audit) == frozen
    assert noise_floor_by(project, "generator")[0].wrong == 2
    page = body(client_for(lead).get(reverse("audit_detail", args=[project.slug, audit.pk])))
    assert 'data-testid="noise-floor-rate">20.0%<' in page


# --- Who sees an open audit's figures ----------------------------------------------------------------------


def test_experts_see_progress_not_the_running_noise_floor_leads_see_both(project, lead, expert, client_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    values = ["wrong", "correct", "correct"]
    for item, value in zip(scored_items(audit), values):
        audit_verdict_record(project_access(expert, project), audit=audit, sample_id=item.sample_id, value=value)
    url = reverse("audit_detail", args=[project.slug, audit.pk])
    as_expert, as_lead = body(client_for(expert).get(url)), body(client_for(lead).get(url))
    assert 'data-testid="audit-verdicts">3 of 10 verdicts<' in as_expert
    assert 'data-testid="noise-floor"' not in as_expert
    assert "33.3%" not in as_expert
    assert 'data-testid="audit-verdicts">3 of 10 verdicts<' in as_lead
    assert 'data-testid="noise-floor-rate">33.3%<' in as_lead  # 1 wrong of 3 judged
