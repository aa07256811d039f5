"""Issue 5's must-show, in Chromium: a lead creates an audit, two experts review
it with overlap 2 (a gold item among the items), and the lead sees the noise
floor with its interval, κ and each expert's gold accuracy on the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from reviews.models import Audit, AuditAdjudication, AuditItem, AuditStatus, Verdict
from reviews.services.audits import gold_sample_set
from synthreview.projects.access import project_access
from synthreview.projects.models import Membership, Project, Role
from tests.browser.conftest import nav_to
from tests.conftest import PASSWORD
from tests.reviews.review_helpers import add_samples, generator, template_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# The sample's own text says what it deserves, so each expert decides from what the card shows.
FLAWED = "WRONG"
# Keys 1–7 pick the error categories in ErrorCategory's order; 2 is hallucination.
HALLUCINATION_KEY = "2"


@pytest.fixture
def second_expert(project: Project):
    user = get_user_model().objects.create_user(username="fay-expert", password=PASSWORD)
    Membership.objects.create(user=user, project=project, role=Role.EXPERT)
    return user


@pytest.fixture
def audit_material(project: Project, lead) -> dict:
    """Ten synthetic samples, the audit's minimum size, so drawing 10 takes every
    one and the counts below do not hang on the seed: gen-a has 3 flawed of 6,
    gen-b 1 flawed of 4. Two real samples are gold, known to be correct."""
    version = template_version(project)
    gen_a, gen_b = generator(project, "gen-a"), generator(project, "gen-b")
    texts_a = [(f"What is {n} + {n}?", f"{2 * n}") for n in (1, 2, 3)] + [
        (f"What is {n} × {n}?", f"{n * n + 1} ({FLAWED}: off by one)") for n in (4, 5, 6)
    ]
    texts_b = [(f"Spell {word} backwards.", word[::-1]) for word in ("cat", "dog", "owl")] + [
        ("Spell emu backwards.", f"ume ({FLAWED}: letters swapped)")
    ]
    synthetic_a = add_samples(project, 6, gen=gen_a, template_version=version, texts=texts_a)
    synthetic_b = add_samples(project, 4, gen=gen_b, template_version=version, texts=texts_b)
    real = add_samples(
        project, 2, origin="real", texts=[("Capital of France?", "Paris"), ("Capital of Italy?", "Rome")]
    )
    for sample in real:
        gold_sample_set(project_access(lead, project), sample_id=sample.pk, expected_value="correct")
    flawed = [s for s in synthetic_a + synthetic_b if FLAWED in s.output]
    return {
        "gold_ids": {s.pk for s in real},
        "flawed_ids": {s.pk for s in flawed},
        # The one item on which fay-expert misses the flaw that erin-expert sees.
        "missed_id": flawed[0].pk,
    }


def _shown(page: Page) -> str:
    return page.locator("#card").get_attribute("data-sample") or ""


def _review_every_item(page: Page, decide: Callable[[int, str], str], *, keyboard: bool) -> list[str]:
    """Give a verdict on each card until the audit has nothing left for this
    reviewer; returns the "Item N of M" headings in the order shown."""
    headings = []
    while page.get_by_test_id("queue-empty").count() == 0:
        before = _shown(page)
        headings.append(page.get_by_test_id("audit-item").inner_text())
        value = decide(int(before), page.get_by_test_id("sample-output").inner_text())
        if keyboard:
            if value == "wrong":
                page.keyboard.press(HALLUCINATION_KEY)
            page.keyboard.press(value[0])
        else:
            if value == "wrong":
                page.locator("#verdict-form label.category", has_text="Hallucination").click()
            page.locator(f'#verdict-form button[name="value"][value="{value}"]').click()
        expect(page.locator("#card")).not_to_have_attribute("data-sample", before)
        assert len(headings) <= 11, "the queue kept offering items past the audit's 11"
    return headings


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_lead_audits_with_two_experts_and_sees_noise_floor_kappa_and_gold_accuracy(
    open_page, live_server, project, lead, expert, second_expert, audit_material, run_tasks_inline
):
    gold_ids, flawed_ids, missed_id = (audit_material[key] for key in ("gold_ids", "flawed_ids", "missed_id"))
    base = f"{live_server.url}/p/{project.slug}"

    # The lead plans and draws the audit.
    lead_page = open_page(lead)
    lead_page.goto(f"{base}/")
    nav_to(lead_page, "Review", "Audits")
    # htmx wires the planner once the page has loaded; a person types no sooner.
    lead_page.wait_for_url(f"{base}/audits/", wait_until="load")
    planner = lead_page.get_by_test_id("planner")
    expect(planner).to_contain_text("n = 60")
    lead_page.select_option("#id_scope", label="All synthetic samples of the project")
    lead_page.fill("#id_sample_size", "10")
    lead_page.keyboard.press("Tab")
    # Planner at n = 10 and the default 10% expected: 1 wrong of 10, Wilson 95% (z = 1.95996, z² = 3.84146):
    # centre (0.1 + 0.19207) / 1.38415 = 0.21101, half 1.95996·√(0.009 + 0.0096037) / 1.38415 = 0.19314,
    # so 1.8%–40.4%, a width of 0.38627.
    expect(lead_page.get_by_test_id("plan-width")).to_have_text("38.6%")
    expect(planner).to_contain_text("n = 10")
    lead_page.fill("#id_overlap", "2")
    lead_page.fill("#id_gold_items", "1")
    _screenshot(lead_page, "audits-new-audit-form.png")
    lead_page.get_by_role("button", name="Draw the audit").click()
    lead_page.wait_for_url("**/audits/*/")
    audit = Audit.objects.get(project=project)
    items = list(AuditItem.objects.filter(audit=audit))
    assert (audit.scope, audit.sample_size, audit.overlap, audit.gold_items) == ("project", 10, 2, 1)
    assert len(items) == 11
    assert next(item.sample_id for item in items if item.is_gold) in gold_ids
    assert lead_page.errors.unexpected() == []

    # erin-expert sees every flaw and knows the gold answer; she uses the keyboard alone.
    def erin_decides(sample_id: int, output: str) -> str:
        return "wrong" if FLAWED in output else "correct"

    erin = open_page(expert)
    erin.goto(f"{base}/audits/")
    erin.get_by_test_id("audit-table").get_by_role("link", name="Review").click()
    # The keys are wired by a deferred script: wait for the load event, as a person's first key would.
    erin.wait_for_url(f"**/queue/?audit={audit.pk}", wait_until="load")
    expect(erin.get_by_test_id("audit-item")).to_have_text("Item 1 of 11")
    headings = _review_every_item(erin, erin_decides, keyboard=True)
    assert headings == [f"Item {n} of 11" for n in range(1, 12)]
    expect(erin.get_by_test_id("queue-empty")).to_contain_text("Nothing left for you in this audit")

    # fay-expert clicks: she misses one flaw and gets the gold item wrong.
    def fay_decides(sample_id: int, output: str) -> str:
        if sample_id in gold_ids or (FLAWED in output and sample_id != missed_id):
            return "wrong"
        return "correct"

    fay = open_page(second_expert)
    fay.goto(f"{base}/audits/")
    fay.get_by_test_id("audit-table").get_by_role("link", name="Review").click()
    fay.wait_for_url(f"**/queue/?audit={audit.pk}", wait_until="load")
    headings = _review_every_item(fay, fay_decides, keyboard=False)
    assert headings == [f"Item {n} of 11" for n in range(1, 12)]
    assert erin.errors.unexpected() == [] and fay.errors.unexpected() == []

    verdicts = {(v.reviewer_id, v.sample_id): (v.value, v.error_category) for v in Verdict.objects.filter(audit=audit)}
    assert len(verdicts) == 22
    assert {verdicts[(expert.pk, s)] for s in flawed_ids} == {("wrong", "hallucination")}
    assert verdicts[(second_expert.pk, missed_id)] == ("correct", "")
    # One disagreement on a scored item awaits the lead, so the audit stays open.
    assert Audit.objects.get(pk=audit.pk).status == AuditStatus.OPEN

    # The lead decides the disagreement; the audit then closes by itself.
    lead_page.goto(f"{base}/audits/")
    lead_page.get_by_test_id("audit-table").get_by_role("link", name=audit.name).click()
    expect(lead_page.get_by_test_id("audit-status")).to_have_text("Open")
    expect(lead_page.get_by_test_id("audit-verdicts")).to_have_text("22 of 22 verdicts")
    disagreement = lead_page.get_by_test_id("disagreement")
    expect(disagreement).to_have_count(1)
    expect(disagreement).to_contain_text(f"Sample #{missed_id}")
    expect(disagreement).to_contain_text("erin-expert: wrong (hallucination)")
    expect(disagreement).to_contain_text("fay-expert: correct")
    disagreement.get_by_label("Decision").select_option("wrong")
    disagreement.get_by_label("Error category").select_option("hallucination")
    disagreement.get_by_label("Note").fill("off by one: 4 × 4 is 16")
    disagreement.get_by_role("button", name="Decide").click()
    expect(lead_page.get_by_test_id("audit-status")).to_have_text("Closed")
    assert AuditAdjudication.objects.get(audit=audit).sample_id == missed_id

    # 4 wrong of 10 judged (3 both saw, 1 decided by the lead). Wilson 95%, z = 1.95996, z² = 3.84146:
    #   denominator 1 + 3.84146/10 = 1.38415
    #   centre (0.4 + 3.84146/20) / 1.38415 = 0.59207 / 1.38415 = 0.42776
    #   half 1.95996 · √(0.4·0.6/10 + 3.84146/400) / 1.38415 = 1.95996 · √0.0336037 / 1.38415 = 0.25957
    #   → 0.16818 to 0.68733: 16.8%–68.7%.
    expect(lead_page.get_by_test_id("noise-floor-rate")).to_have_text("40.0%")
    expect(lead_page.get_by_test_id("noise-floor-interval")).to_have_text("16.8% – 68.7%")
    # Cohen's κ over the 11 items both rated, the gold item among them (the page counts it):
    #                fay correct  fay wrong
    #   erin correct      6           1      (the gold item)
    #   erin wrong        1           3      (the missed flaw)
    # (no unsure verdicts: the third column of the 2×3 table is empty)
    #   p_o = (6 + 3)/11 = 99/121; p_e = (7·7 + 4·4)/121 = 65/121; κ = (99 − 65)/(121 − 65) = 34/56 = 0.607.
    expect(lead_page.get_by_test_id("kappa")).to_have_text("Cohen's κ = 0.61")
    # The gold item is known correct: erin said correct (1 of 1), fay wrong (0 of 1).
    expect(lead_page.get_by_test_id("gold-accuracy")).to_have_text(["100% (1/1)", "0% (0/1)"])
    _screenshot(lead_page, "audit-detail-closed.png")

    nav_to(lead_page, "Quality", "Dashboard")
    expect(lead_page.get_by_test_id("dash-rate")).to_have_text("40.0% (4/10)")
    expect(lead_page.get_by_test_id("dash-interval")).to_have_text("16.8%–68.7%")
    expect(lead_page.get_by_test_id("dash-kappa")).to_have_text("Cohen's κ 0.61")
    expect(lead_page.get_by_test_id("dash-gold")).to_have_text("erin-expert 100% (1/1), fay-expert 0% (0/1)")
    # The pooled chart per generator: gen-a 3 flawed of 6, gen-b 1 of 4.
    chart = lead_page.get_by_test_id("dash-noise-floor")
    expect(chart).to_contain_text("3 wrong of 6")
    expect(chart).to_contain_text("1 wrong of 4")
    # 68.7% is over the default limit of 10%, so the audit raised an alert the lead sees.
    expect(lead_page.get_by_test_id("alert-row")).to_contain_text("68.7%")
    _screenshot(lead_page, "dashboard-after-audit.png")
    assert lead_page.errors.unexpected() == []
