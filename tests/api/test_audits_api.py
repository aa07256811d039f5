"""GET/POST /projects/{slug}/audits, GET /audits/{audit_id}, POST /audits/{audit_id}/close and
GET /noise-floor: the audit pages' figures, form and refusals, with experts kept from the figures
an open audit hides. Expected figures are worked out here from the verdicts given, not read back."""

from __future__ import annotations

import math

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviews.models import Audit, AuditStatus
from reviews.services.audits import audit_verdict_record
from synthreview.projects.access import project_access
from synthreview.projects.models import AuditLog, Membership, Role
from tests.reviews.audit_helpers import audit_drawn, first_wrong, review_all, scored_items
from tests.reviews.review_helpers import add_samples, generator, run, template_version

pytestmark = pytest.mark.django_db

AUDITS = "projects/math/audits"
NOISE_FLOOR = "projects/math/noise-floor"
HUGE = 2**63
Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson(wrong: int, n: int) -> tuple[float, float]:
    """Wilson's score interval at 95%, written out from Wilson (1927) for the test."""
    p = wrong / n
    centre = p + Z95**2 / (2 * n)
    spread = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return (centre - spread) / (1 + Z95**2 / n), (centre + spread) / (1 + Z95**2 / n)


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def audit_path(audit_id: int, tail: str = "") -> str:
    return f"{AUDITS}/{audit_id}{tail}"


@pytest.fixture
def fay(project):
    user = get_user_model().objects.create_user(username="fay-expert", password="x")
    Membership.objects.create(user=user, project=project, role=Role.EXPERT)
    return user


def test_the_wilson_formula_here_is_where_the_score_test_meets_z():
    # Wilson's bounds are the shares p at which |p̂ - p| / sqrt(p(1-p)/n) = z; found here by bisection.
    def score(p: float) -> float:
        return abs(0.3 - p) / math.sqrt(p * (1 - p) / 10) - Z95

    def root(low: float, high: float) -> float:
        for _ in range(100):
            middle = (low + high) / 2
            low, high = (middle, high) if (score(low) > 0) == (score(middle) > 0) else (low, middle)
        return low

    assert wilson(3, 10) == pytest.approx((root(1e-9, 0.3), root(0.3, 1 - 1e-9)), abs=1e-9)
    assert (round(wilson(3, 10)[0], 3), round(wilson(3, 10)[1], 3)) == (0.108, 0.603)


# --- reading --------------------------------------------------------------------------------------


def test_a_closed_audit_reads_3_wrong_of_10_as_0_3_with_its_wilson_interval(project, lead, expert, api_for):
    add_samples(project, 10)
    audit = review_all(audit_drawn(project, lead, size=10), expert, first_wrong(3))
    assert audit.status == AuditStatus.CLOSED  # complete with nothing to decide: it closed itself
    for reader in (lead, expert):
        body = problem(api_for(reader).get(audit_path(audit.pk)), 200)
        floor = body["figures"]["noise_floor"]
        assert (floor["wrong"], floor["correct"], floor["judged"]) == (3, 7, 10)
        assert floor["rate"] == pytest.approx(0.3)
        low, high = wilson(3, 10)
        assert floor["low"] == pytest.approx(low, abs=1e-9) and floor["high"] == pytest.approx(high, abs=1e-9)
        assert body["noise_floor"]["rate"] == pytest.approx(0.3)
        assert (body["status"], body["blind"], body["sample_size"], body["overlap"]) == ("closed", False, 10, 1)
        assert body["scope"] == {"kind": "project", "id": None, "label": "All synthetic samples of the project"}
        assert body["progress"]["verdicts_given"] == body["progress"]["verdicts_needed"] == 10
        assert body["figures"]["error_categories"][0]["category"] == "hallucination"
        assert body["figures"]["error_categories"][0]["count"] == 3
        generators = body["figures"]["breakdowns"]["generator"]
        assert [(row["label"], row["wrong"], row["judged"]) for row in generators] == [("gen-a", 3, 10)]
    assert problem(api_for(expert).get(audit_path(audit.pk)), 200)["progress"]["mine"] == 10


def test_two_reviewers_agreement_is_cohens_kappa_worked_out_by_hand(project, lead, expert, fay, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10, overlap=2)
    review_all(audit, expert, first_wrong(3))
    review_all(audit, fay, first_wrong(2))  # they split on the third item
    body = problem(api_for(lead).get(audit_path(audit.pk)), 200)
    figures = body["figures"]
    # Observed agreement 9/10; chance agreement 0.3·0.2 + 0.7·0.8 = 0.62.
    assert figures["agreement"]["method"] == "Cohen's κ"
    assert figures["agreement"]["value"] == pytest.approx((0.9 - 0.62) / (1 - 0.62))
    # The split item stays out of the rate: 2 wrong of 9 judged.
    floor = figures["noise_floor"]
    assert (floor["wrong"], floor["judged"], floor["split"]) == (2, 9, 1)
    assert floor["rate"] == pytest.approx(2 / 9)
    assert floor["high"] == pytest.approx(wilson(2, 9)[1], abs=1e-9)
    assert figures["open_disagreements"] == 1
    assert [row["username"] for row in figures["reviewers"]] == ["erin-expert", "fay-expert"]
    assert body["status"] == "open" and body["blind"] is True


def test_an_expert_sees_an_open_audits_progress_but_none_of_its_figures(project, lead, expert, fay, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10, overlap=2)
    item = scored_items(audit)[0]
    audit_verdict_record(
        project_access(fay, project), audit=audit, sample_id=item.sample_id, value="wrong", note="FAYS-NOTE"
    )
    response = api_for(expert).get(audit_path(audit.pk))
    body = problem(response, 200)
    assert body["figures"] is None and body["noise_floor"] is None
    assert (body["progress"]["verdicts_given"], body["progress"]["verdicts_needed"], body["progress"]["mine"]) == (
        1,
        20,
        0,
    )
    text = response.content.decode()
    assert "fay-expert" not in text and "FAYS-NOTE" not in text
    assert problem(api_for(lead, role_cap="expert").get(audit_path(audit.pk)), 200)["figures"] is None
    assert problem(api_for(lead).get(audit_path(audit.pk)), 200)["figures"]["noise_floor"]["wrong"] == 1


def test_a_closed_audit_hides_from_experts_the_disagreements_on_items_an_open_audit_holds(
    project, lead, expert, fay, api_for
):
    add_samples(project, 10)
    first = audit_drawn(project, lead, size=10, overlap=2)
    review_all(first, expert, first_wrong(3))
    review_all(first, fay, first_wrong(2))
    split = scored_items(first)[2].sample_id
    problem(api_for(lead).post(audit_path(first.pk, "/close"), {"reason": "split item left undecided"}), 200)
    audit_drawn(project, lead, size=10, seed=2)  # open, and holds every sample again
    lead_view = problem(api_for(lead).get(audit_path(first.pk)), 200)["figures"]["disagreements"]
    assert [row["sample_id"] for row in lead_view] == [split]
    assert {v["reviewer"] for v in lead_view[0]["verdicts"]} == {"erin-expert", "fay-expert"}
    expert_view = problem(api_for(expert).get(audit_path(first.pk)), 200)
    assert expert_view["figures"]["disagreements"] == []
    assert expert_view["figures"]["noise_floor"]["wrong"] == 2  # the closed audit's figures are no secret


def test_the_list_pages_by_cursor_newest_first_with_frozen_floors_only(project, lead, expert, api_for):
    add_samples(project, 10)
    closed = review_all(audit_drawn(project, lead, size=10, seed=1), expert, first_wrong(1))
    opened = [audit_drawn(project, lead, size=10, seed=seed) for seed in (2, 3)]
    pages, cursor = [], None
    while True:
        body = problem(api_for(expert).get(AUDITS, {"limit": 2, **({"cursor": cursor} if cursor else {})}), 200)
        pages.append(body["items"])
        if (cursor := body["next_cursor"]) is None:
            break
    assert [[item["id"] for item in page] for page in pages] == [[opened[1].pk, opened[0].pk], [closed.pk]]
    last = pages[1][0]
    assert last["noise_floor"]["rate"] == pytest.approx(0.1) and last["status"] == "closed"
    assert all(item["noise_floor"] is None and item["blind"] for item in pages[0])
    assert pages[0][0]["progress"] == {"items": 10, "verdicts_given": 0, "verdicts_needed": 10, "mine": None}


def test_the_list_reads_in_as_many_queries_for_many_audits_as_for_few(
    project, lead, expert, api_for, django_assert_num_queries
):
    add_samples(project, 10)
    review_all(audit_drawn(project, lead, size=10, seed=1), expert, first_wrong(1))
    for seed in (2, 3, 4, 5):
        audit_drawn(project, lead, size=10, seed=seed)
    client = api_for(lead)
    client.get(AUDITS)  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(AUDITS, {"limit": 1}).json()["items"]) == 1
    with django_assert_num_queries(len(few)):
        assert len(client.get(AUDITS, {"limit": 5}).json()["items"]) == 5


def test_reading_audits_access_per_role_and_ids(project, other_project, lead, outsider, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    add_samples(other_project, 10, gen=generator(other_project, "their-gen"))
    theirs = audit_drawn(other_project, outsider, size=10)
    for path in (AUDITS, audit_path(audit.pk)):
        assert problem(api_for(None).get(path), 401)["code"] == "unauthenticated"
        assert problem(api_for(outsider).get(path), 404)["code"] == "not_found"
    assert problem(api_for(lead).get(audit_path(theirs.pk)), 404)["code"] == "not_found"
    assert problem(api_for(lead).get(audit_path(HUGE)), 422)["field"] == "audit_id"
    assert problem(api_for(lead).get(AUDITS, {"cursor": "x" * 300}), 422)["field"] == "cursor"


# --- creating -------------------------------------------------------------------------------------


def test_a_lead_draws_an_audit_as_the_page_form_does_and_it_is_logged(project, lead, api_for):
    gen = generator(project, "gen-b")
    add_samples(project, 12, gen=gen)
    add_samples(project, 5)  # another generator, outside the scope
    body = problem(
        api_for(lead).post(
            AUDITS,
            {"scope": "generator", "generator": gen.pk, "sample_size": 10, "overlap": 2, "expected_error_rate": 15},
        ),
        201,
    )
    audit = Audit.objects.get(pk=body["id"])
    assert (audit.scope, audit.generator_id, audit.sample_size, audit.overlap) == ("generator", gen.pk, 10, 2)
    assert audit.expected_error_rate == pytest.approx(0.15)
    assert body["scope"] == {"kind": "generator", "id": gen.pk, "label": "gen-b"}
    assert (body["expected_error_rate"], body["created_by"], body["status"]) == (15, "lee-lead", "open")
    assert body["progress"]["verdicts_needed"] == 20
    assert body["figures"]["noise_floor"]["judged"] == 0  # a lead sees the (empty) figures at once
    entry = AuditLog.objects.get(action="audit.create")
    assert (entry.actor, entry.object_id, entry.details["drawn"]) == (lead, str(audit.pk), 10)


def test_the_same_seed_draws_the_same_items(project, lead, api_for):
    add_samples(project, 30)
    first = problem(api_for(lead).post(AUDITS, {"sample_size": 10, "seed": 99}), 201)
    second = problem(api_for(lead).post(AUDITS, {"sample_size": 10, "seed": 99}), 201)

    def items(audit_id: int) -> list[int]:
        return [item.sample_id for item in scored_items(Audit.objects.get(pk=audit_id))]

    assert items(first["id"]) == items(second["id"]) and first["seed"] == 99


def test_the_forms_refusals_are_422_naming_its_fields(project, other_project, lead, api_for):
    add_samples(project, 10)
    elsewhere = generator(other_project, "their-gen")
    version = template_version(project)
    theirs = run(other_project, "their-run", template_version(other_project))
    client = api_for(lead)
    cases = [
        ({"sample_size": 5}, "sample_size"),
        ({"sample_size": 501}, "sample_size"),
        ({"overlap": 6}, "overlap"),
        ({"expected_error_rate": 0}, "expected_error_rate"),
        ({"gold_items": 51}, "gold_items"),
        ({"scope": "everything"}, "scope"),
        ({"scope": "run"}, "run"),
        ({"scope": "run", "run": theirs.pk}, "run"),
        ({"scope": "generator", "generator": elsewhere.pk}, "generator"),
        ({"scope": "template_version", "template_version": version.pk + 1000}, "template_version"),
        ({"run": HUGE}, "run"),
        ({"seed": 2**62 + 1}, "seed"),
        ({"name": "n" * 201}, "name"),
    ]
    for change, field in cases:
        body = problem(client.post(AUDITS, change), 422)
        assert (body["code"], body["field"]) == ("invalid", field), change
    # A template version with no samples: the service's refusal names no field.
    empty = problem(client.post(AUDITS, {"scope": "template_version", "template_version": version.pk}), 422)
    assert empty["field"] is None and "no synthetic samples" in empty["message"]
    assert not Audit.objects.exists()


def test_creating_access_per_role(project, expert, outsider, api_for):
    add_samples(project, 10)
    assert problem(api_for(None).post(AUDITS, {}), 401)["code"] == "unauthenticated"
    assert problem(api_for(outsider).post(AUDITS, {}), 404)["code"] == "not_found"
    assert problem(api_for(expert).post(AUDITS, {"sample_size": 10}), 403)["code"] == "forbidden"
    assert not Audit.objects.exists()


# --- closing --------------------------------------------------------------------------------------


def test_closing_early_needs_a_reason_then_freezes_and_is_logged(project, lead, expert, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    item = scored_items(audit)[0]
    audit_verdict_record(project_access(expert, project), audit=audit, sample_id=item.sample_id, value="wrong")
    refused = problem(api_for(lead).post(audit_path(audit.pk, "/close"), {}), 422)
    assert refused["field"] == "reason" and "1 of 10 verdicts" in refused["message"]
    assert Audit.objects.get(pk=audit.pk).status == "open"
    body = problem(api_for(lead).post(audit_path(audit.pk, "/close"), {"reason": "  out of time  "}), 200)
    assert (body["status"], body["closed_reason"], body["closed_by"]) == ("closed", "out of time", "lee-lead")
    assert (body["figures"]["noise_floor"]["wrong"], body["figures"]["noise_floor"]["judged"]) == (1, 1)
    assert Audit.objects.get(pk=audit.pk).frozen_figures["noise_floor"]["wrong"] == 1
    entry = AuditLog.objects.get(action="audit.close")
    assert (entry.actor, entry.details["reason"]) == (lead, "out of time")
    again = problem(api_for(lead).post(audit_path(audit.pk, "/close"), {"reason": "twice"}), 409)
    assert again["code"] == "conflict"


def test_undecided_disagreements_need_a_reason_to_close(project, lead, expert, fay, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10, overlap=2)
    review_all(audit, expert, first_wrong(1))
    review_all(audit, fay, first_wrong(0))
    refused = problem(api_for(lead).post(audit_path(audit.pk, "/close"), {"reason": "   "}), 422)
    assert refused["field"] == "reason" and "still split" in refused["message"]
    assert (
        problem(api_for(lead).post(audit_path(audit.pk, "/close"), {"reason": "left split"}), 200)["status"] == "closed"
    )


def test_closing_access_per_role_and_ids(project, other_project, lead, expert, outsider, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    add_samples(other_project, 10, gen=generator(other_project, "their-gen"))
    theirs = audit_drawn(other_project, outsider, size=10)
    close = audit_path(audit.pk, "/close")
    assert problem(api_for(None).post(close, {"reason": "x"}), 401)["code"] == "unauthenticated"
    assert problem(api_for(outsider).post(close, {"reason": "x"}), 404)["code"] == "not_found"
    assert problem(api_for(expert).post(close, {"reason": "x"}), 403)["code"] == "forbidden"
    assert problem(api_for(lead).post(audit_path(theirs.pk, "/close"), {"reason": "x"}), 404)["code"] == "not_found"
    assert problem(api_for(lead).post(audit_path(HUGE, "/close"), {"reason": "x"}), 422)["field"] == "audit_id"
    assert problem(api_for(lead).post(close, {"reason": "r" * 2001}), 422)["field"] == "reason"
    assert Audit.objects.get(pk=theirs.pk).status == Audit.objects.get(pk=audit.pk).status == "open"


# --- the noise floor ------------------------------------------------------------------------------


def test_the_noise_floor_pools_closed_audits_per_generator_template_and_run(project, lead, expert, api_for):
    version = template_version(project, "tpl-pool")
    gen_a, gen_b = generator(project, "gen-a"), generator(project, "gen-b")
    batch = run(project, "run-pool", version, gen_a, gen_b)
    add_samples(project, 10, gen=gen_a, template_version=version, run=batch)
    add_samples(project, 10, gen=gen_b, template_version=version, run=batch)
    review_all(
        audit_drawn(project, lead, scope="generator", object_id=gen_a.pk, size=10, seed=1), expert, first_wrong(3)
    )
    review_all(
        audit_drawn(project, lead, scope="generator", object_id=gen_a.pk, size=10, seed=2), expert, first_wrong(1)
    )
    review_all(
        audit_drawn(project, lead, scope="generator", object_id=gen_b.pk, size=10, seed=3), expert, first_wrong(0)
    )
    audit_drawn(project, lead, size=10, seed=4)  # open: not pooled
    by_generator = problem(api_for(lead).get(NOISE_FLOOR, {"by": "generator"}), 200)
    assert (by_generator["by"], by_generator["audits"], by_generator["split_left_out"]) == ("generator", 3, 0)
    rows = {row["label"]: row for row in by_generator["rows"]}
    assert (rows["gen-a"]["wrong"], rows["gen-a"]["judged"], rows["gen-a"]["audits"]) == (4, 20, 2)
    assert rows["gen-a"]["rate"] == pytest.approx(0.2)
    assert (rows["gen-a"]["low"], rows["gen-a"]["high"]) == pytest.approx(wilson(4, 20))
    assert (rows["gen-b"]["wrong"], rows["gen-b"]["judged"], rows["gen-b"]["low"]) == (0, 10, 0.0)
    assert rows["gen-b"]["high"] == pytest.approx(wilson(0, 10)[1])
    assert rows["gen-a"]["id"] == gen_a.pk
    for by, label in (("template", "tpl-pool v1"), ("run", "run-pool")):
        pooled = problem(api_for(lead).get(NOISE_FLOOR, {"by": by}), 200)["rows"]
        assert [(row["label"], row["wrong"], row["judged"]) for row in pooled] == [(label, 4, 30)]
        assert (pooled[0]["low"], pooled[0]["high"]) == pytest.approx(wilson(4, 30))
    assert problem(api_for(lead).get(NOISE_FLOOR), 200)["by"] == "generator"


def test_the_noise_floor_needs_the_dashboard_and_a_known_breakdown(project, expert, lead, outsider, api_for):
    assert problem(api_for(None).get(NOISE_FLOOR), 401)["code"] == "unauthenticated"
    assert problem(api_for(outsider).get(NOISE_FLOOR), 404)["code"] == "not_found"
    assert problem(api_for(expert).get(NOISE_FLOOR), 403)["code"] == "forbidden"
    bad = problem(api_for(lead).get(NOISE_FLOOR, {"by": "reviewer"}), 422)
    assert (bad["code"], bad["field"]) == ("invalid", "by")
    empty = problem(api_for(lead).get(NOISE_FLOOR, {"by": "run"}), 200)
    assert (empty["rows"], empty["audits"]) == ([], 0)
