"""The similarity card on the project page: job progress that polls, and a rerun
button for leads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import SimilarityJob

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def test_status_polls_while_a_job_is_queued_and_stops_after(project, expert, client_for):
    job = SimilarityJob.objects.create(project=project, kind="embed")
    client = client_for(expert)
    url = reverse("similarity_status", args=[project.slug])
    polling = client.get(url, headers=HTMX)
    assert polling.status_code == 200 and b'hx-trigger="every 2s"' in polling.content
    SimilarityJob.objects.filter(pk=job.pk).update(status="completed", summary={"embedded": 12})
    done = client.get(url, headers=HTMX)
    assert done.status_code == 286
    assert b"12 embedded" in done.content and b"hx-trigger" not in done.content


def test_plain_get_of_the_status_goes_to_the_project_page(project, expert, client_for):
    response = client_for(expert).get(reverse("similarity_status", args=[project.slug]))
    assert response.status_code == 302 and response["Location"] == reverse("project_detail", args=[project.slug])


@pytest.mark.parametrize(
    ("who", "expected"), [("expert", 403), ("lead", 302), ("admin_member", 302), ("outsider", 404), (None, 302)]
)
def test_rerun_is_for_leads_and_admins(who, expected, request, project, client_for):
    user = request.getfixturevalue(who) if who else None
    response = client_for(user).post(reverse("similarity_rerun", args=[project.slug]))
    assert response.status_code == expected
    queued = SimilarityJob.objects.filter(project=project, kind="embed", status="queued").exists()
    assert queued == (expected == 302 and who is not None)
    if who is None:
        assert response["Location"].startswith("/accounts/login/")


def test_outsider_cannot_read_another_projects_status(project, outsider, client_for):
    assert client_for(outsider).get(reverse("similarity_status", args=[project.slug]), headers=HTMX).status_code == 404


def test_rerun_needs_csrf(project, lead):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    assert client.post(reverse("similarity_rerun", args=[project.slug])).status_code == 403
    assert not SimilarityJob.objects.filter(project=project).exists()


def test_a_failed_job_shows_its_error_escaped(project, lead, client_for):
    SimilarityJob.objects.create(project=project, kind="build", status="failed", error="<script>x</script> broke")
    body = client_for(lead).get(reverse("project_detail", args=[project.slug])).content.decode()
    assert "&lt;script&gt;x&lt;/script&gt; broke" in body and "<script>x" not in body
