"""The tokens page: any signed-in user makes, sees and revokes their own API tokens; a new
token's secret is shown once."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from synthreview.projects.models import ApiToken, AuditLog, Role
from synthreview.projects.services.api_tokens import api_token_create

pytestmark = pytest.mark.django_db

URL = "/account/tokens/"
SECRET = re.compile(r"srv_[A-Za-z0-9_-]{20,}")


def _create(client: Client, **data: object):
    return client.post(URL, {"name": "nightly pipeline", "project": "", "role_cap": "", "expires_days": "", **data})


def test_the_page_is_at_account_tokens():
    assert reverse("api_tokens") == URL


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_anonymous_post_makes_no_token(client, expert):
    response = _create(client)
    assert response.status_code == 302
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("who", ["expert", "lead", "admin_member", "outsider"])
def test_every_signed_in_user_opens_their_tokens_page(who, request, client_for):
    response = client_for(request.getfixturevalue(who)).get(URL)
    assert response.status_code == 200
    assert b"New token" in response.content


def test_the_page_lists_only_the_users_own_tokens(expert, outsider, client_for):
    api_token_create(expert, name="erins notebook")
    api_token_create(outsider, name="ottos pipeline")
    body = client_for(expert).get(URL).content.decode()
    assert "erins notebook" in body
    assert "ottos pipeline" not in body


def test_the_nav_links_to_the_tokens_page(expert, project, client_for):
    body = client_for(expert).get(reverse("project_detail", args=[project.slug])).content.decode()
    assert f'href="{URL}"' in body


def test_creating_a_token_shows_its_secret_once(expert, project, client_for):
    client = client_for(expert)
    response = _create(client, project=project.slug, role_cap=Role.EXPERT, expires_days="30")
    assert response.status_code == 200
    body = response.content.decode()
    secrets_shown = set(SECRET.findall(body))
    assert len(secrets_shown) == 1
    secret = secrets_shown.pop()
    token = ApiToken.objects.get(user=expert)
    # The page showed the real secret: its digest is what the database holds.
    assert hashlib.sha256(secret.encode()).hexdigest() == token.secret_sha256
    assert "Authorization: Bearer &lt;token&gt;" in body
    assert "shown" in body and "Copy" in body
    assert "no-store" in response["Cache-Control"]

    again = client.get(URL).content.decode()
    assert secret not in again
    assert not SECRET.search(again)
    assert token.prefix in again  # the token is listed by its prefix only


def test_a_new_token_keeps_its_limits_and_expiry(expert, project, client_for):
    _create(client_for(expert), project=project.slug, role_cap=Role.EXPERT, expires_days="30")
    token = ApiToken.objects.get(user=expert)
    assert token.project == project
    assert token.role_cap == Role.EXPERT
    assert token.expires_at is not None
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


def test_a_token_with_no_expiry_never_expires(expert, client_for):
    _create(client_for(expert))
    token = ApiToken.objects.get(user=expert)
    assert token.expires_at is None
    assert token.project is None
    assert token.role_cap == ""


def test_creating_a_token_writes_the_audit_log(expert, project, client_for):
    _create(client_for(expert), project=project.slug)
    token = ApiToken.objects.get(user=expert)
    row = AuditLog.objects.get(action="api_token.create")
    assert (row.actor, row.project, row.object_id) == (expert, project, str(token.pk))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"expires_days": "0"}, "expires_days"),
        ({"expires_days": "3651"}, "expires_days"),
        ({"expires_days": "soon"}, "expires_days"),
        ({"role_cap": "owner"}, "role_cap"),
        ({"project": "no-such-project"}, "project"),
    ],
)
def test_bad_input_names_the_field_and_makes_no_token(data, field, expert, client_for):
    response = _create(client_for(expert), **data)
    assert response.status_code == 400
    assert f'data-testid="error-{field}"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_project_the_user_is_not_in_is_refused(expert, other_project, client_for):
    response = _create(client_for(expert), project=other_project.slug)
    assert response.status_code == 400
    assert 'data-testid="error-project"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_role_cap_above_the_users_role_is_refused_beside_the_field(expert, project, client_for):
    response = _create(client_for(expert), project=project.slug, role_cap=Role.ADMIN)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-testid="error-role_cap"' in body
    assert "cannot have more" in body
    assert not ApiToken.objects.exists()


def test_the_project_choices_are_the_users_projects_only(expert, project, other_project, client_for):
    body = client_for(expert).get(URL).content.decode()
    assert f'value="{project.slug}"' in body
    assert f'value="{other_project.slug}"' not in body


def test_a_site_operator_may_limit_a_token_to_any_project(other_project, client_for):
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-for-tests")
    response = _create(client_for(operator), project=other_project.slug)
    assert response.status_code == 200
    assert ApiToken.objects.get(user=operator).project == other_project


def test_revoking_a_token_stops_it_and_logs_it(expert, client_for):
    token = api_token_create(expert, name="old pipeline").token
    client = client_for(expert)
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert response["Location"] == URL
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditLog.objects.filter(action="api_token.revoke", actor=expert, object_id=str(token.pk)).exists()
    body = client.get(URL).content.decode()
    row = body.split(f'data-testid="token-{token.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "revoked" in row
    assert "Revoke</button>" not in row


def test_an_expired_token_shows_as_expired_without_a_revoke_button(expert, client_for):
    token = api_token_create(expert, name="short lived").token
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    body = client_for(expert).get(URL).content.decode()
    row = body.split(f'data-testid="token-{token.pk}"', 1)[1].split("</tr>", 1)[0]
    assert ">expired<" in row
    assert "Revoke</button>" not in row


def test_another_users_token_cannot_be_revoked(expert, outsider, client_for):
    token = api_token_create(outsider, name="ottos pipeline").token
    response = client_for(expert).post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoking_needs_a_post(expert, client_for):
    token = api_token_create(expert, name="x").token
    assert client_for(expert).get(reverse("api_token_revoke", args=[token.pk])).status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_anonymous_revoke_is_sent_to_login(client, expert):
    token = api_token_create(expert, name="x").token
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    token.refresh_from_db()
    assert token.revoked_at is None


def test_posts_without_the_csrf_token_are_refused(expert):
    client = Client(enforce_csrf_checks=True)
    client.force_login(expert)
    token = api_token_create(expert, name="x").token
    assert _create(client).status_code == 403
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 403
    assert ApiToken.objects.count() == 1
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_token_name_with_markup_is_escaped(expert, client_for):
    client = client_for(expert)
    response = _create(client, name="<script>alert('x')</script>")
    assert b"<script>alert(" not in response.content
    assert b"&lt;script&gt;alert(" in response.content
    again = client.get(URL)
    assert b"<script>alert(" not in again.content
    assert b"&lt;script&gt;alert(" in again.content


def test_the_list_costs_the_same_queries_for_many_tokens(expert, project, client_for, django_assert_max_num_queries):
    for number in range(12):
        api_token_create(expert, name=f"token {number}", project=project if number % 2 else None)
    client = client_for(expert)
    with django_assert_max_num_queries(5):
        response = client.get(URL)
    assert len(re.findall(r'data-testid="token-\d+"', response.content.decode())) == 12
