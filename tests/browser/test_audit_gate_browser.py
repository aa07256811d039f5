"""The audit gate in Chromium: a lead's export is refused because one generator,
five of five wrong inside a 100-item template audit that passes pooled, was never
audited on its own items; the refusal says so with advice whose numbers are true.
The lead audits that generator on its own through the Audits page and the queue,
exports again, and the export page and manifest say which audit cleared what."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from reviews.models import Audit, AuditStatus, Export, ExportStatus
from synthreview.projects.models import Project
from tests.browser.conftest import nav_to
from tests.reviews.audit_helpers import audit_drawn, review_all
from tests.reviews.export_helpers import synthetic_run, wilson_upper
from tests.reviews.review_helpers import generator, template_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
GEN_A, GEN_B, OWN_AUDIT = 950, 50, 50


@pytest.fixture
def pooled_audit(project: Project, lead, expert) -> Audit:
    """gen-a (950) and gen-b (50) on one template version; a 100-item template audit draws 95 and 5 of them,
    and every gen-b item is wrong: 5 of 100 pooled, upper bound 11.2%, under the project's 15%."""
    version = template_version(project)
    gen_a, gen_b = generator(project, "gen-a"), generator(project, "gen-b")
    synthetic_run(project, "run-a", GEN_A, gen=gen_a, template_version=version)
    synthetic_run(project, "run-b", GEN_B, gen=gen_b, template_version=version)
    audit = review_all(
        audit_drawn(project, lead, scope="template_version", object_id=version.pk, size=100),
        expert,
        lambda index, item: "wrong" if item.sample.generator_id == gen_b.pk else "correct",
    )
    assert audit.status == AuditStatus.CLOSED
    high = audit.frozen_figures["noise_floor"]["high"]
    assert high == pytest.approx(wilson_upper(5, 100), abs=1e-6) and high < 0.15
    project.noise_floor_limit = 0.15
    project.save(update_fields=["noise_floor_limit"])
    return audit


def _export(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    nav_to(page, "Data", "Exports")
    page.wait_for_url(f"{base}/exports/")
    page.get_by_test_id("export-form").get_by_role("button", name="Export").click()
    page.wait_for_url(f"{base}/exports/*/")


def test_a_generator_hidden_in_a_passing_pooled_audit_is_refused_until_audited_on_its_own(
    open_page, live_server, project, lead, pooled_audit, run_tasks_inline
):
    base = f"{live_server.url}/p/{project.slug}"
    page = open_page(lead)

    _export(page, base)
    status = page.get_by_test_id("export-status")
    expect(status).to_have_attribute("data-status", "refused")
    audit_refusal = page.get_by_test_id("refusals").locator("li[data-gate='audit']")
    expect(audit_refusal).to_contain_text(f"run run-b (gen-b: {GEN_B} samples): not audited")
    expect(audit_refusal).to_contain_text(f"audit '{pooled_audit.name}' judged only 5 of them, 5 wrong")
    expect(audit_refusal).to_contain_text(
        "at its observed 100.0% wrong (5 of 5) no audit size brings gen-b's upper bound under the limit of 15%"
    )
    expect(audit_refusal).not_to_contain_text("run-a")
    page.screenshot(path=str(SCREENSHOTS / "audit_gate_refused.png"), full_page=True)

    # Audit gen-b on its own: drawn on the Audits page, every item reviewed with the keyboard.
    nav_to(page, "Review", "Audits")
    page.wait_for_url(f"{base}/audits/", wait_until="load")
    page.select_option("#id_scope", "generator")
    page.select_option("#id_generator", label="gen-b")
    page.fill("#id_sample_size", str(OWN_AUDIT))
    page.get_by_role("button", name="Draw the audit").click()
    page.wait_for_url(f"{base}/audits/*/")
    own = Audit.objects.exclude(pk=pooled_audit.pk).get(project=project)
    assert (own.scope, own.generator.name, own.sample_size) == ("generator", "gen-b", OWN_AUDIT)
    page.get_by_test_id("review-audit").click()
    page.wait_for_url(f"**/queue/?audit={own.pk}", wait_until="load")
    for reviewed in range(OWN_AUDIT):
        expect(page.get_by_test_id("audit-item")).to_have_text(f"Item {reviewed + 1} of {OWN_AUDIT}")
        before = page.locator("#card").get_attribute("data-sample") or ""
        page.keyboard.press("c")
        expect(page.locator("#card")).not_to_have_attribute("data-sample", before)
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    own.refresh_from_db()
    assert own.status == AuditStatus.CLOSED
    # 0 of 50: upper bound 3.8415 / 53.8415 = 7.1%, under 15%.
    assert own.frozen_figures["noise_floor"]["high"] == pytest.approx(wilson_upper(0, OWN_AUDIT), abs=1e-6)

    _export(page, base)
    expect(page.get_by_test_id("export-status")).to_have_attribute("data-status", "completed")
    completed = Export.objects.filter(project=project).latest("id")
    assert completed.status == ExportStatus.COMPLETED
    expect(page.get_by_test_id(f"audit-used-{pooled_audit.pk}")).to_contain_text(f"run run-a × gen-a: {GEN_A} samples")
    expect(page.get_by_test_id(f"audit-used-{pooled_audit.pk}")).not_to_contain_text("gen-b")
    expect(page.get_by_test_id(f"audit-used-{own.pk}")).to_contain_text(f"run run-b × gen-b: {GEN_B} samples")
    page.screenshot(path=str(SCREENSHOTS / "audit_gate_completed.png"), full_page=True)

    with page.expect_download() as manifest_download:
        page.get_by_test_id("download-manifest").click()
    manifest = json.loads(Path(manifest_download.value.path()).read_text(encoding="utf-8"))
    cleared = {
        a["id"]: [(c["generator"], c["samples"], c["sample_ids_through"]) for c in a["cleared"]]
        for a in manifest["audits"]
    }
    assert cleared == {
        pooled_audit.pk: [("gen-a", GEN_A, pooled_audit.drawn_through_sample_id)],
        own.pk: [("gen-b", GEN_B, own.drawn_through_sample_id)],
    }
    assert page.errors.unexpected() == []
