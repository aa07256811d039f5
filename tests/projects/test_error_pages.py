"""The 403, 404 and 500 pages: styled in the app's layout, saying what happened and where to go,
with DEBUG off as in production."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.test import Client
from django.urls import include, path

pytestmark = pytest.mark.django_db


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


# The app's own URLs, plus a view that fails, for the 500 page.
urlpatterns = [path("boom/", _boom), path("", include("synthreview.urls"))]


@pytest.fixture(autouse=True)
def production_debug(settings) -> None:
    settings.DEBUG = False


def _in_layout(body: str) -> None:
    assert 'class="topbar"' in body  # base.html's header
    assert "synthreview/app.css" in body


def test_an_unknown_address_renders_the_404_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'data-testid="error-404"' in body
    _in_layout(body)
    assert "There is nothing here" in body
    assert "<code>/no/such/page/</code>" in body
    assert 'href="/accounts/login/"' in body  # an anonymous visitor is offered to sign in


def test_a_project_the_user_is_not_in_renders_the_404_page_with_a_way_back(outsider, project, client_for):
    response = client_for(outsider).get(f"/p/{project.slug}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'data-testid="error-404"' in body
    assert "Back to your projects" in body
    assert project.name not in body  # the page never says the project exists
    assert "otto-outsider" in body  # the signed-in user's menu still shows


def test_the_404_page_shows_a_hostile_address_inert(client):
    body = client.get("/%3Cscript%3Ealert(1)%3C/script%3E/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "<code>/%3Cscript%3Ealert%281%29%3C/script%3E/</code>" in body


def test_a_role_too_low_renders_the_403_page_saying_why(expert, project, client_for):
    response = client_for(expert).get(f"/p/{project.slug}/members/")
    assert response.status_code == 403
    body = response.content.decode()
    assert 'data-testid="error-403"' in body
    _in_layout(body)
    assert "your role here is Expert" in body
    assert 'href="/"' in body and "Back to your projects" in body


@pytest.mark.urls(__name__)
def test_a_failing_view_renders_the_500_page():
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert 'data-testid="error-500"' in body
    _in_layout(body)
    assert "a bug in a view" not in body  # nothing of the error reaches the visitor


def test_the_base_layout_renders_with_no_request_user_or_project():
    body = render_to_string("base.html")
    _in_layout(body)
    assert "Log out" not in body
    assert "API tokens" not in body


@pytest.mark.parametrize("template", ["403.html", "404.html", "500.html"])
def test_each_error_page_renders_with_an_empty_context(template):
    body = render_to_string(template)
    _in_layout(body)
    assert f'data-testid="error-{template[:3]}"' in body
