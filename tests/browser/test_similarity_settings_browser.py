"""A lead tries thresholds on the similarity settings page in Chromium: the preview follows
the typing, nothing is saved until Save, and saving regroups."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reviews.models import SampleSimilarity, SimilarityJob
from synthreview.projects.models import AuditLog, Project
from tests.browser.conftest import make_sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chain(project, generator):
    """a–b at 0.95 and c–d at 0.87: one set at 0.90, two at 0.85 (worked out by hand)."""
    a, b, c, d = (make_sample(project, generator, f"question {n}", f"answer {n}") for n in "abcd")
    for sample, neighbour, similarity in ((a, b, 0.95), (b, a, 0.95), (c, d, 0.87), (d, c, 0.87)):
        SampleSimilarity.objects.create(
            sample=sample,
            project=project,
            neighbours=[[neighbour.pk, similarity]],
            top_similarity=similarity,
            novelty=0.5,
        )
    return a, b, c, d


def test_lead_types_a_threshold_sees_the_preview_then_saves_it(
    open_page, live_server, project, lead, chain, monkeypatch
):
    from reviews.tasks import similarity_job_task

    monkeypatch.setattr(similarity_job_task, "delay", lambda job_id: None)
    page = open_page(lead)
    page.goto(f"{live_server.url}/p/{project.slug}/similarity/settings/")
    estimate = page.get_by_test_id("estimate")
    expect(estimate).to_contain_text("At 0.90: about 1 group holding 2 samples")
    page.fill("#id_near_duplicate_threshold", "0.85")
    expect(estimate).to_contain_text("At 0.85: about 2 groups holding 4 samples")
    expect(estimate).to_contain_text("about 1 holding 2 at the saved 0.90")
    assert Project.objects.get(pk=project.pk).near_duplicate_threshold == 0.9
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_contain_text("Regrouping from the stored neighbours")
    assert Project.objects.get(pk=project.pk).near_duplicate_threshold == 0.85
    assert AuditLog.objects.filter(action="similarity_settings.set").count() == 1
    assert list(SimilarityJob.objects.values_list("kind", flat=True)) == ["build"]
    assert page.errors.unexpected() == []
