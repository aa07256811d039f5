"""Issue 6's must-show, in Chromium: a lead asks for a training export and is
refused with the reasons (too little real data, no audit of the run), fixes both
through the real pages (imports and accepts real samples, audits the run), exports
again, and downloads the file and its manifest."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from generation.models import ImportBatch, Origin, Sample, SampleStatus
from reviews.models import Audit, AuditStatus, Export, ExportStatus, Verdict
from synthreview.projects.models import Project
from tests.browser.conftest import nav_to
from tests.reviews.export_helpers import synthetic_run
from tests.reviews.review_helpers import add_samples

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SYNTHETIC = 56
REAL_AT_START = 4
REAL_IMPORTED = 60
AUDIT_SIZE = 50
# The import runs the similarity build in the request (tasks run inline): the embedding model loads on first use.
SLOW_MS = 180_000


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def _real_to_add(real: int, synthetic: int) -> int:
    """The least a with (real + a) / (real + a + synthetic) ≥ 1/2, by counting up."""
    a = 0
    while 2 * (real + a) < real + a + synthetic:
        a += 1
    return a


def _accepted(project: Project, origin: str) -> int:
    return Sample.objects.filter(project=project, origin=origin, status=SampleStatus.ACCEPTED).count()


@pytest.fixture
def phase_one_project(project: Project):
    """Phase 1 (at least half real): one run of 56 accepted synthetic samples, and only 4 accepted real ones."""
    project.phase = 1
    project.save(update_fields=["phase"])
    generation_run, _ = synthetic_run(project, "run-june", SYNTHETIC, status="accepted")
    add_samples(
        project,
        REAL_AT_START,
        origin="real",
        status="accepted",
        texts=[(f"Real question {n}: what is {n} squared?", f"{n * n}") for n in range(1, REAL_AT_START + 1)],
    )
    return generation_run


def _real_file(tmp_path: Path) -> Path:
    """Real samples as a customer-support team might have them: a CSV with input and output columns."""
    lines = ["input,output"]
    for n in range(1, REAL_IMPORTED + 1):
        order, part, days = 1000 + n, n % 7, n % 5 + 1
        lines.append(
            f'"Ticket {n}: my order #{order} arrived without part {part}. What now?",'
            f'"Sorry about that: we have sent part {part} for order #{order}; it arrives in {days} days."'
        )
    path = tmp_path / "real-tickets.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ask_for_export(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    nav_to(page, "Data", "Exports")
    page.wait_for_url(f"{base}/exports/")
    expect(page.get_by_test_id("min-real-share")).to_have_text("50%")
    form = page.get_by_test_id("export-form")
    expect(form.locator("#id_format")).to_have_value("jsonl")
    expect(form.locator("#id_split")).to_have_value("train")
    form.get_by_role("button", name="Export").click()
    page.wait_for_url(f"{base}/exports/*/")


def _review_audit_all_correct(page: Page, base: str, audit: Audit) -> int:
    page.goto(f"{base}/audits/")
    page.get_by_test_id("audit-table").get_by_role("link", name="Review").click()
    # The keys are wired by a deferred script: wait for the load event, as a person's first key would.
    page.wait_for_url(f"**/queue/?audit={audit.pk}", wait_until="load")
    expect(page.get_by_test_id("audit-item")).to_have_text(f"Item 1 of {AUDIT_SIZE}")
    reviewed = 0
    while page.get_by_test_id("queue-empty").count() == 0:
        before = page.locator("#card").get_attribute("data-sample") or ""
        expect(page.get_by_test_id("audit-item")).to_have_text(f"Item {reviewed + 1} of {AUDIT_SIZE}")
        page.keyboard.press("c")
        expect(page.locator("#card")).not_to_have_attribute("data-sample", before)
        reviewed += 1
        assert reviewed <= AUDIT_SIZE, "the queue kept offering items past the audit's 50"
    return reviewed


def test_lead_is_refused_fixes_the_mix_and_the_audit_then_exports_and_downloads(
    open_page, live_server, project, lead, phase_one_project, tmp_path, run_tasks_inline
):
    generation_run = phase_one_project
    base = f"{live_server.url}/p/{project.slug}"
    page = open_page(lead)

    # a. The first export is refused: too little real data, and no audit of the run.
    assert (_accepted(project, Origin.REAL), _accepted(project, Origin.SYNTHETIC)) == (REAL_AT_START, SYNTHETIC)
    _ask_for_export(page, base)
    status = page.get_by_test_id("export-status")
    expect(status).to_have_attribute("data-status", "refused")
    expect(status.locator("h2")).to_have_text("Status: Refused")
    refused = Export.objects.get(project=project)
    assert page.url == f"{base}/exports/{refused.pk}/"
    assert refused.status == ExportStatus.REFUSED and not refused.sha256
    to_add = _real_to_add(REAL_AT_START, SYNTHETIC)
    assert to_add == 52  # (4 + 52) / (4 + 52 + 56) = 1/2 exactly; 51 gives 55/111 < 1/2
    share = f"{REAL_AT_START / (REAL_AT_START + SYNTHETIC):.1%}"
    assert share == "6.7%"
    refusals = page.get_by_test_id("refusals").locator("li")
    expect(refusals).to_have_count(2)
    mix = page.get_by_test_id("refusals").locator("li[data-gate='mix']")
    expect(mix).to_contain_text("Enough real data, and no generator over its cap:")
    expect(mix).to_contain_text(f"The export is {share} real, below the minimum of 50%")
    expect(mix).to_contain_text(f"add {to_add} real samples")
    audit_refusal = page.get_by_test_id("refusals").locator("li[data-gate='audit']")
    expect(audit_refusal).to_contain_text("Every synthetic sample is cleared by an expert audit:")
    expect(audit_refusal).to_contain_text(f"run {generation_run.name}")
    expect(audit_refusal).to_contain_text(f"{SYNTHETIC} samples")
    expect(audit_refusal).to_contain_text("no closed audit of at least 50 verdicts")
    # The recursion rule held (no target model named) and is listed as such.
    expect(page.get_by_test_id("decisions")).to_contain_text("No generator is related to the model being trained")
    _screenshot(page, "export_refused.png")

    # b1. Real samples: upload a CSV through the import page, as real data.
    page.goto(f"{base}/")
    # The page's button, not the empty imports section's link to the same page.
    page.get_by_role("link", name="Import samples").first.click()
    page.wait_for_url(f"{base}/imports/new/")
    page.set_input_files("#id_file", str(_real_file(tmp_path)))
    page.select_option("#id_origin", "real")
    # With tasks inline the upload's response waits for the import and the similarity build behind it.
    page.get_by_role("button", name="Import").click(timeout=SLOW_MS)
    page.wait_for_url(f"{base}/imports/*/", timeout=SLOW_MS)
    expect(page.locator("#import-status .status")).to_have_text("Completed", timeout=SLOW_MS)
    expect(page.locator("#import-status")).to_contain_text(f"Imported {REAL_IMPORTED}, skipped 0 duplicates")
    assert ImportBatch.objects.get(project=project).rows_imported == REAL_IMPORTED
    assert (
        Sample.objects.filter(project=project, origin=Origin.REAL, status=SampleStatus.PENDING).count() == REAL_IMPORTED
    )

    # b2. Accept them in the sample browser: filter real and pending, accept all matching, confirm.
    page.get_by_role("link", name="← Back to the project").click()
    page.wait_for_url(f"{base}/")
    nav_to(page, "Review", "Samples")
    page.wait_for_url(f"{base}/samples/", wait_until="load")
    page.select_option("#id_origin", "real")
    page.select_option("#id_status", "pending")
    page.locator("#filters").get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("match-count")).to_have_text(str(REAL_IMPORTED))
    page.get_by_role("link", name="Accept all matching…").click()
    page.wait_for_url(f"{base}/samples/bulk/*")
    expect(page.get_by_test_id("bulk-count")).to_have_text(str(REAL_IMPORTED))
    page.locator("#confirm-bulk").click()
    page.wait_for_url(f"{base}/samples/?*")
    expect(page.locator(".messages")).to_contain_text(f"Accepted {REAL_IMPORTED} of {REAL_IMPORTED} matching samples")
    assert _accepted(project, Origin.REAL) == REAL_AT_START + REAL_IMPORTED

    # b3. Audit the run: 50 items drawn from it, each reviewed correct with the keyboard.
    nav_to(page, "Review", "Audits")
    page.wait_for_url(f"{base}/audits/", wait_until="load")
    page.select_option("#id_scope", "run")
    page.select_option("#id_run", label=generation_run.name)
    page.fill("#id_sample_size", str(AUDIT_SIZE))
    page.get_by_role("button", name="Draw the audit").click()
    page.wait_for_url(f"{base}/audits/*/")
    audit = Audit.objects.get(project=project)
    assert (audit.scope, audit.run_id, audit.sample_size) == ("run", generation_run.pk, AUDIT_SIZE)
    assert _review_audit_all_correct(page, base, audit) == AUDIT_SIZE
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED, "the audit should close itself with its last verdict"
    assert Verdict.objects.filter(audit=audit, value="correct").count() == AUDIT_SIZE
    floor = audit.frozen_figures["noise_floor"]
    assert (floor["wrong"], floor["judged"]) == (0, AUDIT_SIZE)
    # Wilson 95% upper bound of 0 of 50: z² / (n + z²) = 3.84146 / 53.84146 = 7.13%, within the 10% limit.
    z2 = 1.959963984540054**2
    assert math.isclose(floor["high"], z2 / (AUDIT_SIZE + z2), rel_tol=1e-6)
    assert floor["high"] <= project.noise_floor_limit == 0.10

    # c. The second export completes; the lead downloads the file and the manifest.
    _ask_for_export(page, base)
    status = page.get_by_test_id("export-status")
    expect(status).to_have_attribute("data-status", "completed", timeout=SLOW_MS)
    expect(status.locator("h2")).to_have_text("Status: Completed")
    completed = Export.objects.exclude(pk=refused.pk).get(project=project)
    real, synthetic = _accepted(project, Origin.REAL), _accepted(project, Origin.SYNTHETIC)
    assert (real, synthetic) == (REAL_AT_START + REAL_IMPORTED, SYNTHETIC)
    shown_sha = page.get_by_test_id("export-sha256").inner_text().strip()
    assert shown_sha == completed.sha256
    expect(page.get_by_test_id("real-share")).to_have_text(f"{real / (real + synthetic):.1%}")
    expect(page.get_by_test_id("decisions").locator('[data-gate="audit"]')).to_contain_text("Passed")
    _screenshot(page, "export_completed.png")

    with page.expect_download() as file_download:
        page.get_by_test_id("download-file").click()
    download = file_download.value
    assert download.suggested_filename == f"{project.slug}-train-export-{completed.pk}.jsonl"
    assert page.get_by_test_id("download-file").inner_text().strip() == f"Download {download.suggested_filename}"
    data = Path(download.path()).read_bytes()
    with page.expect_download() as manifest_download:
        page.get_by_test_id("download-manifest").click()
    manifest = json.loads(Path(manifest_download.value.path()).read_text(encoding="utf-8"))

    assert hashlib.sha256(data).hexdigest() == shown_sha
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert len(rows) == manifest["counts"]["total"] == real + synthetic
    assert manifest["counts"]["by_origin"] == {"real": real, "synthetic": synthetic}
    assert sum(1 for row in rows if row["origin"] == "real") == real
    assert manifest["real_share"] == real / (real + synthetic)
    assert manifest["file"]["sha256"] == shown_sha and manifest["file"]["rows"] == len(rows)
    assert [a["id"] for a in manifest["audits"]] == [audit.pk]
    assert manifest["audits"][0]["judged"] == AUDIT_SIZE and manifest["audits"][0]["wrong"] == 0
    assert {d["gate"]: d["outcome"] for d in manifest["decisions"]} == {
        "recursion": "passed",
        "audit": "passed",
        "mix": "passed",
    }
    assert page.errors.unexpected() == []
