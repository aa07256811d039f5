"""Site operators make projects from the project list; the maker becomes the project's admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from synthreview.projects.models import AuditLog, Membership, Project, Role

pytestmark = pytest.mark.django_db

URL = "/projects/new/"


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("operator", "op@example.com", "pw-for-tests")


def _post(client: Client, **data: str):
    return client.post(URL, {"name": "Code review", "slug": "code-review", "description": "Diffs.", **data})


def test_the_page_is_at_projects_new():
    assert reverse("project_new") == URL


def test_an_operator_creates_a_project_and_becomes_its_admin(operator, client_for):
    response = _post(client_for(operator))
    assert response.status_code == 302
    project = Project.objects.get(slug="code-review")
    assert response["Location"] == reverse("member_list", args=[project.slug])
    assert (project.name, project.description) == ("Code review", "Diffs.")
    assert Membership.objects.get(project=project).user == operator
    assert Membership.objects.get(project=project).role == Role.ADMIN


def test_creating_a_project_writes_the_audit_log(operator, client_for):
    _post(client_for(operator))
    project = Project.objects.get(slug="code-review")
    rows = AuditLog.objects.filter(project=project).order_by("id")
    assert [(row.action, row.actor) for row in rows] == [("project.create", operator), ("membership.add", operator)]
    assert rows[1].details == {"user": "operator", "role": "admin", "invited": False}


@pytest.mark.parametrize("who", ["expert", "lead", "admin_member", "outsider"])
def test_everyone_else_gets_403_and_no_project(who, request, client_for):
    client = client_for(request.getfixturevalue(who))
    before = Project.objects.count()
    assert client.get(URL).status_code == 403
    assert _post(client).status_code == 403
    assert Project.objects.count() == before
    assert not Project.objects.filter(slug="code-review").exists()


def test_the_403_says_who_creates_projects(admin_member, client_for):
    assert b"Only the site&#x27;s administrators create projects" in client_for(admin_member).get(URL).content


def test_anonymous_is_sent_to_login(client, db):
    for response in (client.get(URL), _post(client)):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"slug": "math"}, "slug", "exists already"),
        ({"slug": "has spaces"}, "slug", "valid “slug”"),
        ({"slug": ""}, "slug", "required"),
        ({"name": ""}, "name", "required"),
        ({"name": "x" * 201}, "name", "at most 200"),
    ],
)
def test_bad_input_names_the_field_and_makes_no_project(data, field, says, operator, project, client_for):
    before = Project.objects.count()
    response = _post(client_for(operator), **data)
    assert response.status_code == 400
    errors = response.content.decode().split(f'data-testid="error-{field}"', 1)[1].split("</div>", 1)[0]
    assert says in errors
    assert Project.objects.count() == before


def test_the_project_list_offers_new_project_to_operators_only(operator, admin_member, client_for):
    assert f'href="{URL}"'.encode() in client_for(operator).get("/").content
    assert f'href="{URL}"'.encode() not in client_for(admin_member).get("/").content


def test_a_description_with_markup_is_escaped_on_the_list(operator, client_for):
    client = client_for(operator)
    _post(client, description="<script>alert(1)</script>", name="<b>bold</b>")
    body = client.get("/").content.decode()
    assert "<script>alert(1)</script>" not in body and "<b>bold</b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&lt;b&gt;bold&lt;/b&gt;" in body
