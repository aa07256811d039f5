"""A blind audit in Chromium: an expert reviews an overlap-2 audit that holds a
gold item, which another expert has already judged, and tries every way the
sample pages offer to learn what the audit hides; then a lead sees it all."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from reviews.models import SampleSimilarity
from reviews.services.audits import audit_create, audit_verdict_record, gold_sample_set
from synthreview.projects.access import project_access
from synthreview.projects.models import Membership, Project, Role
from tests.conftest import PASSWORD
from tests.reviews.review_helpers import add_samples, generator, template_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OTHER_NOTE = "OTHERNOTE-31337"
ANSWER_KEY = "ANSWERKEY-8675309"


@pytest.fixture
def fay(project: Project):
    user = get_user_model().objects.create_user(username="fay-expert", password=PASSWORD)
    Membership.objects.create(user=user, project=project, role=Role.EXPERT)
    return user


@pytest.fixture
def blind_audit(project: Project, lead, fay) -> dict:
    gen = generator(project, "gen-blindspot-7")
    synthetic = add_samples(
        project,
        10,
        gen=gen,
        template_version=template_version(project),
        texts=[(f"What is {n} + {n}?", f"{2 * n}") for n in range(10)],
    )
    gold = add_samples(
        project,
        1,
        origin="real",
        status="accepted",
        metadata={"expected_answer": ANSWER_KEY},
        texts=[("Capital of France?", "GOLDTEXT-Paris")],
    )[0]
    gold_sample_set(project_access(lead, project), sample_id=gold.pk, expected_value="correct")
    audit = audit_create(
        project_access(lead, project), scope="project", sample_size=10, overlap=2, gold_items=1, seed=3
    )
    audit_verdict_record(project_access(fay, project), audit=audit, sample_id=gold.pk, value="wrong", note=OTHER_NOTE)
    # Drawn after the audit, so not in it: a synthetic sample whose nearest neighbour is the gold item.
    beside = add_samples(project, 1, gen=generator(project, "gen-beside"), texts=[("Capital?", "BESIDE")])[0]
    SampleSimilarity.objects.create(
        sample=beside,
        project=project,
        novelty=0.05,
        top_similarity=0.97,
        neighbours=[[gold.pk, 0.97], [synthetic[0].pk, 0.6]],
        nearest_real=gold,
        nearest_real_similarity=0.97,
    )
    SampleSimilarity.objects.create(sample=gold, project=project, neighbours=[[beside.pk, 0.97]], novelty=0.03)
    return {"audit": audit, "gold": gold, "beside": beside}


def test_an_expert_in_a_blind_audit_cannot_learn_what_it_hides_and_a_lead_can(
    open_page, live_server, project, expert, lead, blind_audit
):
    base, slug = live_server.url, project.slug
    gold, audit, beside = blind_audit["gold"], blind_audit["audit"], blind_audit["beside"]
    page = open_page(expert)

    # The expert starts the audit and judges the first item with the keyboard.
    page.goto(f"{base}/p/{slug}/queue/?audit={audit.pk}")
    first = page.locator("#card").get_attribute("data-sample")
    expect(page.get_by_test_id("audit-item")).to_contain_text("Item")
    page.keyboard.press("c")
    expect(page.locator("#card")).not_to_have_attribute("data-sample", first)

    # The gold item's own page: its texts, but no origin, gold marker, other verdict or answer key.
    page.goto(f"{base}/p/{slug}/samples/{gold.pk}/")
    expect(page.get_by_test_id("sample-output")).to_have_text("GOLDTEXT-Paris")
    content = page.content()
    for secret in (OTHER_NOTE, ANSWER_KEY, "fay-expert", "origin-real", ">Real<", "gold.set", "gold item"):
        assert secret not in content, f"the expert sees {secret!r} on the gold item's page"
    expect(page.get_by_test_id("blind-note")).to_be_visible()

    # The browser's filters: origin=real with its id finds nothing, and so does origin=synthetic.
    for origin in ("real", "synthetic"):
        page.goto(f"{base}/p/{slug}/samples/?origin={origin}&ids={gold.pk}")
        expect(page.get_by_test_id("no-samples")).to_be_visible()
    page.goto(f"{base}/p/{slug}/samples/?verdict=wrong&ids={gold.pk}")
    expect(page.get_by_test_id("no-samples")).to_be_visible()
    # By its id alone it is listed, blind.
    page.goto(f"{base}/p/{slug}/samples/?ids={gold.pk}")
    row = page.locator("table.samples tbody tr", has=page.locator(f'a[href="/p/{slug}/samples/{gold.pk}/"]'))
    expect(row.get_by_test_id("blinded")).to_be_visible()
    expect(row).not_to_contain_text("Real")

    # Find similar from the gold item shows no neighbours; from its neighbour, the gold row is blind.
    page.goto(f"{base}/p/{slug}/samples/?similar_to={gold.pk}")
    expect(page.locator("#results")).to_contain_text("hidden while it is an item of an open audit")
    page.goto(f"{base}/p/{slug}/samples/{beside.pk}/")
    neighbour = page.locator(".neighbours li", has=page.locator(f'a[href="/p/{slug}/samples/{gold.pk}/"]'))
    expect(neighbour).to_contain_text("in an open audit")
    expect(neighbour).not_to_contain_text("Real")
    # A held nearest real reads as no anchor at all: "withheld" there would mark some held item real.
    expect(page.locator(".signal", has_text="Nearest real sample")).to_contain_text(
        "No real anchor to compare with yet."
    )
    assert page.errors.unexpected() == []

    # The lead sees everything.
    lead_page = open_page(lead)
    lead_page.goto(f"{base}/p/{slug}/samples/{gold.pk}/")
    expect(lead_page.locator(".facts .badge.origin-real")).to_have_text("Real")
    expect(lead_page.get_by_test_id("gold")).to_contain_text("This sample is a gold item")
    expect(lead_page.locator("body")).to_contain_text(OTHER_NOTE)
    expect(lead_page.locator("body")).to_contain_text(ANSWER_KEY)
    lead_page.goto(f"{base}/p/{slug}/samples/?origin=real&ids={gold.pk}")
    expect(lead_page.locator(f'table.samples a[href="/p/{slug}/samples/{gold.pk}/"]')).to_be_visible()
    lead_page.goto(f"{base}/p/{slug}/samples/{beside.pk}/")
    expect(lead_page.locator(".signal", has_text="Nearest real sample")).to_contain_text(f"#{gold.pk}")
    assert lead_page.errors.unexpected() == []
