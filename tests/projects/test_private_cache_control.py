"""Whatever a signed-in user is sent (pages, htmx partials, API JSON, downloads) carries
`Cache-Control: private, no-store`, so no shared proxy keeps it and no browser leaves it on disk."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from synthreview.middleware import PrivateCacheControlMiddleware
from synthreview.projects.services.api_tokens import api_token_create

pytestmark = pytest.mark.django_db


def _directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("home", {}),
        ("review_queue", {}),
        ("review_queue", {"HTTP_HX_REQUEST": "true"}),  # the partial htmx swaps in
        ("member_list", {}),
        ("audit_log_csv", {}),  # a streamed download
    ],
)
def test_a_signed_in_users_pages_and_downloads_are_private_and_not_stored(
    name, extra, project, admin_member, client_for
):
    url = reverse(name) if name == "home" else reverse(name, args=[project.slug])
    response = client_for(admin_member).get(url, **extra)
    assert response.status_code == 200
    assert {"private", "no-store"} <= _directives(response)


def test_api_json_for_a_bearer_token_is_private_and_not_stored(lead, project):
    secret = api_token_create(lead, name="pipeline").secret
    response = Client().get("/api/v1/projects", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert {"private", "no-store"} <= _directives(response)


def test_an_anonymous_response_is_left_alone(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "no-store" not in _directives(response)


def test_a_stricter_header_a_view_set_is_kept_and_a_public_one_gives_way(lead):
    def view_saying(header: str):
        def respond(request) -> HttpResponse:
            response = HttpResponse("x")
            response["Cache-Control"] = header
            return response

        return PrivateCacheControlMiddleware(respond)

    request = RequestFactory().get("/")
    request.user = lead
    kept = view_saying("no-cache, must-revalidate, max-age=0")(request)
    assert {"no-cache", "must-revalidate", "max-age=0", "private", "no-store"} == _directives(kept)
    public = view_saying("public, max-age=600")(request)
    assert "public" not in _directives(public) and {"private", "no-store"} <= _directives(public)

    request.user = AnonymousUser()
    assert _directives(view_saying("public, max-age=600")(request)) == {"public", "max-age=600"}
