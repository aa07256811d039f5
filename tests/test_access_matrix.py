"""Each role, an outsider and an anonymous visitor against each page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generation.models import ImportBatch

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture
def batch(project):
    return ImportBatch.objects.create(project=project, file_name="x.jsonl", format="jsonl", status="completed")


@pytest.fixture
def other_batch(other_project):
    return ImportBatch.objects.create(project=other_project, file_name="y.jsonl", format="jsonl")


def _pages(project, batch):
    return {
        "home": reverse("home"),
        "project": reverse("project_detail", args=[project.slug]),
        "import_new": reverse("import_new", args=[project.slug]),
        "import_detail": reverse("import_detail", args=[project.slug, batch.pk]),
    }


# page -> expected status for expert, lead, admin, outsider
EXPECTED = {
    "home": (200, 200, 200, 200),
    "project": (200, 200, 200, 404),
    "import_new": (403, 200, 200, 404),
    "import_detail": (403, 200, 200, 404),
}


@pytest.mark.parametrize("page", list(EXPECTED))
def test_role_matrix(page, project, batch, expert, lead, admin_member, outsider, client_for):
    url = _pages(project, batch)[page]
    for user, expected in zip((expert, lead, admin_member, outsider), EXPECTED[page]):
        response = client_for(user).get(url)
        assert response.status_code == expected, f"{user.username} on {page}: {response.status_code}"


@pytest.mark.parametrize("page", list(EXPECTED))
def test_anonymous_is_sent_to_login(page, project, batch, client):
    url = _pages(project, batch)[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_unknown_project_is_404_not_403(client_for, lead):
    assert client_for(lead).get("/p/does-not-exist/").status_code == 404


def test_lead_gets_404_for_other_projects_import_under_own_slug(project, other_batch, lead, client_for):
    url = reverse("import_detail", args=[project.slug, other_batch.pk])
    assert client_for(lead).get(url).status_code == 404


@pytest.mark.parametrize(("who", "expected"), [("outsider", 404), ("expert", 403)])
def test_post_to_import_without_the_role_creates_nothing(who, expected, request, project, client_for, tmp_path):
    upload = tmp_path / "a.jsonl"
    upload.write_text('{"input": "q", "output": "a"}\n')
    with open(upload, "rb") as fh:
        response = client_for(request.getfixturevalue(who)).post(
            reverse("import_new", args=[project.slug]), {"file": fh, "origin": "real"}
        )
    assert response.status_code == expected
    assert not ImportBatch.objects.filter(project=project).exists()


def test_home_lists_only_the_users_projects(project, other_project, lead, client_for):
    body = client_for(lead).get(reverse("home")).content.decode()
    assert project.name in body
    assert other_project.name not in body


def test_responses_forbid_inline_scripts(project, lead, client_for):
    response = client_for(lead).get(reverse("project_detail", args=[project.slug]))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
