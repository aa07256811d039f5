"""Tokens: the lesser of owner and cap, project limits, revocation, expiry, last use, sessions with CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from synthreview.projects.models import ApiToken
from synthreview.projects.services.api_tokens import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_hashed_and_shown_once(lead):
    made = api_token_create(lead, name="pipeline")
    stored = ApiToken.objects.get(pk=made.token.pk)
    assert made.secret.startswith("srv_") and len(made.secret) > 40
    assert made.secret not in (stored.secret_sha256, stored.prefix)
    assert made.secret.startswith(stored.prefix)


def test_anonymous_call_gets_401_in_the_error_shape(api_for, project):
    response = api_for(None).get("projects")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthenticated" and "Bearer" in body["message"]


def test_token_calls_as_its_owner_and_records_its_use(api_for, lead, project):
    client = api_for(lead)
    response = client.get("projects")
    assert response.status_code == 200
    assert [(p["slug"], p["role"]) for p in response.json()] == [("math", "lead")]
    assert ApiToken.objects.get(user=lead).last_used_at is not None


def test_a_token_capped_at_expert_may_not_act_as_lead(api_for, lead, project):
    capped = api_for(lead, role_cap="expert")
    assert capped.get("projects").json()[0]["role"] == "expert"


def test_a_token_limited_to_a_project_sees_no_other(api_for, outsider, project, other_project):
    from synthreview.projects.models import Membership

    Membership.objects.create(user=outsider, project=project, role="expert")
    limited = api_for(outsider, project=other_project)
    assert [p["slug"] for p in limited.get("projects").json()] == ["other"]


def test_a_cap_above_the_owners_role_is_refused(expert, project):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        api_token_create(expert, name="x", project=project, role_cap="admin")
    assert "role_cap" in refused.value.message_dict


def test_revoked_and_expired_tokens_answer_401(api_for, lead, project):
    made = api_token_create(lead, name="soon revoked")
    api_token_revoke(lead, token_id=made.token.pk)
    expired = api_token_create(lead, name="expired", expires_at=timezone.now() + timedelta(seconds=30))
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for secret in (made.secret, expired.secret, "srv_not-a-token", "x" * 5000):
        response = Client().get("/api/v1/projects", HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 401, secret[:20]


def test_a_session_may_read_but_writes_need_the_csrf_token(lead, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    assert client.get("/api/v1/projects").status_code == 200
    refused = client.post("/api/v1/projects/math/audits", "{}", content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]


def test_the_openapi_schema_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "synthreview API"
    assert "/api/v1/projects" in schema["paths"]


def test_the_rate_limit_answers_429_with_retry_after(api_for, lead, project, settings):
    # A day's window: a minute's could roll over between the calls.
    settings.API_RATE_LIMIT = "3/day"
    client = api_for(lead)
    statuses = [client.get("projects").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    last = client.get("projects")
    assert last.json()["code"] == "rate_limited" and int(last["Retry-After"]) >= 1


def test_a_refusal_says_what_the_role_may_not_do_and_what_it_takes(api_for, expert, project):
    from synthreview.projects.access import NEED_PHRASES, NEEDS

    assert set(NEED_PHRASES) == set(NEEDS)
    body = api_for(expert).get("projects/math/quality").json()
    assert body["code"] == "forbidden"
    assert body["message"] == "Your role (Expert) may not read the dashboard in this project; that takes a lead."


def test_each_token_has_its_own_window(api_for, lead, expert, project, settings):
    settings.API_RATE_LIMIT = "2/day"
    first, second = api_for(lead), api_for(expert)
    assert [first.get("projects").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("projects").status_code == 200


def test_a_users_tokens_share_one_window_and_another_users_is_apart(api_for, lead, expert, project, settings):
    settings.API_RATE_LIMIT = "3/day"
    first, second, someone_else = api_for(lead), api_for(lead), api_for(expert)
    assert [first.get("projects").status_code for _ in range(2)] == [200, 200]
    # More tokens buy no more calls: the owner's third call, on another token, is the last.
    assert [second.get("projects").status_code for _ in range(2)] == [200, 429]
    assert first.get("projects").status_code == 429
    assert someone_else.get("projects").status_code == 200


def test_a_token_and_its_owners_session_share_one_window(api_for, lead, project, settings):
    settings.API_RATE_LIMIT = "2/day"
    session = Client()
    session.force_login(lead)
    assert api_for(lead).get("projects").status_code == 200
    assert session.get("/api/v1/projects").status_code == 200
    assert session.get("/api/v1/projects").status_code == 429


def test_a_malformed_rate_limit_setting_is_named(api_for, lead, project, settings):
    from django.core.exceptions import ImproperlyConfigured

    from synthreview.projects.api.throttling import parse_rate

    assert parse_rate("1200/min") == (1200, 60) and parse_rate("5/s") == (5, 1)
    with pytest.raises(ImproperlyConfigured, match="API_RATE_LIMIT"):
        parse_rate("lots")


def test_a_nul_character_is_a_422_not_a_server_error(api_for, expert, project):
    """PostgreSQL's text takes no NUL; SQLite does, so this matters on the production database."""
    from tests.reviews.review_helpers import add_sample

    sample = add_sample(project)
    client = api_for(expert)
    listed = client.get("projects/math/verdicts", {"reviewer": "erin\x00expert"})
    assert listed.status_code in (200, 422)
    recorded = client.post(
        "projects/math/verdicts",
        {
            "sample_id": sample.pk,
            "verdict": "wrong",
            "error_category": "other",
            "note": "bad\x00note",
            "revision": sample.revision,
        },
    )
    from django.db import connection

    assert recorded.status_code == (422 if connection.vendor == "postgresql" else 200), recorded.content
    if recorded.status_code == 422:
        assert recorded.json()["code"] == "invalid"
