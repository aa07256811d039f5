"""The members page: a project's admins add members (inviting new people by email), change
roles and remove members; the last admin stays."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from synthreview.projects.models import AuditLog, Membership, Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()


def _url(project, *parts: object) -> str:
    return "/".join([f"/p/{project.slug}/members", *(str(part) for part in parts)]) + "/"


def _membership(user, project) -> Membership:
    return Membership.objects.get(user=user, project=project)


def test_the_page_is_under_the_project():
    assert reverse("member_list", args=["math"]) == "/p/math/members/"


# --- who may open it --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"), [("expert", 403), ("lead", 403), ("admin_member", 200), ("outsider", 404)]
)
def test_only_admins_open_the_members_page(who, expected, request, project, client_for):
    response = client_for(request.getfixturevalue(who)).get(_url(project))
    assert response.status_code == expected


def test_the_403_says_only_admins_manage_members(expert, project, client_for):
    body = client_for(expert).get(_url(project)).content.decode()
    assert "Only this project&#x27;s admins manage its members" in body


def test_a_site_operator_opens_any_projects_members_page(project, client_for):
    operator = User.objects.create_superuser("operator", "op@example.com", "pw-for-tests")
    assert client_for(operator).get(_url(project)).status_code == 200


def test_anonymous_is_sent_to_login(client, project):
    for url in (_url(project),):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("who", "expected"), [("expert", 403), ("lead", 403), ("outsider", 404), (None, 302)])
def test_without_the_role_no_post_changes_anything(who, expected, request, project, admin_member, lead, client_for):
    client = client_for(request.getfixturevalue(who) if who else None)
    target = _membership(lead, project)
    before = (Membership.objects.count(), AuditLog.objects.count())
    responses = [
        client.post(_url(project), {"user": "newbie@example.org", "role": Role.ADMIN}),
        client.post(_url(project, target.pk, "role"), {"role": Role.ADMIN}),
        client.post(_url(project, target.pk, "remove")),
    ]
    assert [response.status_code for response in responses] == [expected] * 3
    assert (Membership.objects.count(), AuditLog.objects.count()) == before
    assert _membership(lead, project).role == Role.LEAD
    assert not User.objects.filter(email="newbie@example.org").exists()


def test_another_projects_membership_is_404_under_this_slug(project, admin_member, outsider, other_project, client_for):
    theirs = _membership(outsider, other_project)
    client = client_for(admin_member)
    assert client.post(_url(project, theirs.pk, "role"), {"role": Role.EXPERT}).status_code == 404
    assert client.post(_url(project, theirs.pk, "remove")).status_code == 404
    assert _membership(outsider, other_project).role == Role.ADMIN


def test_the_nav_shows_members_to_admins_only(project, admin_member, lead, client_for):
    project_page = reverse("project_detail", args=[project.slug])
    assert f'href="{_url(project)}"' in client_for(admin_member).get(project_page).content.decode()
    assert f'href="{_url(project)}"' not in client_for(lead).get(project_page).content.decode()


def _row(body: str, user) -> str:
    return body.split(f'data-testid="member-{user.username}"', 1)[1].split("</tr>", 1)[0]


def test_the_page_lists_members_with_their_roles(project, admin_member, expert, lead, client_for):
    operator = User.objects.create_superuser("operator", "op@example.com", "pw-for-tests")
    Membership.objects.create(user=operator, project=project, role=Role.ADMIN)
    body = client_for(admin_member).get(_url(project)).content.decode()
    for user, role in ((admin_member, "admin"), (operator, "admin"), (expert, "expert"), (lead, "lead")):
        assert f'<option value="{role}" selected>' in _row(body, user)
        assert "Remove</button>" in _row(body, user)
    assert 'data-testid="last-admin"' not in body


def test_the_last_admins_row_offers_no_demotion_or_removal(project, admin_member, expert, client_for):
    body = client_for(admin_member).get(_url(project)).content.decode()
    row = _row(body, admin_member)
    assert 'data-testid="last-admin"' in row
    assert "<select" not in row and "Remove</button>" not in row
    assert "Remove</button>" in _row(body, expert)


# --- adding -----------------------------------------------------------------------


def test_an_admin_adds_an_existing_user_by_username(project, admin_member, client_for):
    newcomer = User.objects.create_user("nora", password=PASSWORD)
    response = client_for(admin_member).post(_url(project), {"user": "nora", "role": Role.LEAD})
    assert response.status_code == 302
    assert _membership(newcomer, project).role == Role.LEAD
    row = AuditLog.objects.get(action="membership.add")
    assert (row.actor, row.project) == (admin_member, project)
    assert row.details == {"user": "nora", "role": "lead", "invited": False}
    assert mail.outbox == []


def test_an_admin_adds_an_existing_user_by_email(project, admin_member, client_for):
    newcomer = User.objects.create_user("nora", email="Nora@Example.org", password=PASSWORD)
    response = client_for(admin_member).post(_url(project), {"user": "nora@example.org", "role": Role.EXPERT})
    assert response.status_code == 302
    assert _membership(newcomer, project).role == Role.EXPERT
    assert User.objects.filter(email__iexact="nora@example.org").count() == 1


def test_an_unknown_email_invites_a_new_user_with_a_one_time_link(project, admin_member, client_for):
    client = client_for(admin_member)
    response = client.post(_url(project), {"user": "newbie@example.org", "role": Role.EXPERT})
    assert response.status_code == 200
    invited = User.objects.get(email="newbie@example.org")
    assert invited.username == "newbie"
    assert not invited.has_usable_password()
    assert _membership(invited, project).role == Role.EXPERT
    assert AuditLog.objects.get(action="membership.add").details == {
        "user": "newbie",
        "role": "expert",
        "invited": True,
    }

    # The link sets the account's password: it goes to the invited address only, never to the admin's page.
    body = response.content.decode()
    assert "/accounts/reset/" not in body
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["newbie@example.org"]
    link = re.search(r"(http://testserver/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    assert "newbie" in mail.outbox[0].body
    assert "no-store" in response["Cache-Control"]

    # The link lets the invited person choose a password, then sign in; it works only once.
    visitor = Client()
    landing = visitor.get(link.removeprefix("http://testserver"), follow=True)
    assert landing.status_code == 200
    assert b"Choose a password" in landing.content
    form_url = landing.redirect_chain[-1][0]
    done = visitor.post(
        form_url, {"new_password1": "a-long-fresh-passphrase", "new_password2": "a-long-fresh-passphrase"}
    )
    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")
    assert b"Your password is set" in visitor.get(done["Location"]).content
    invited.refresh_from_db()
    assert invited.check_password("a-long-fresh-passphrase")
    signed_in = Client().post(reverse("login"), {"username": "newbie", "password": "a-long-fresh-passphrase"})
    assert signed_in.status_code == 302 and signed_in["Location"] == reverse("home")

    again = Client().get(link.removeprefix("http://testserver"), follow=True)
    assert b"This link no longer works" in again.content


def test_a_project_name_with_a_line_break_still_mails_the_invitation(project, admin_member, client_for):
    project.name = "Math\r\nBcc: someone@example.org"
    project.save(update_fields=["name"])
    response = client_for(admin_member).post(_url(project), {"user": "newbie@example.org", "role": Role.EXPERT})
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[synthreview] You were added to Math Bcc: someone@example.org"
    assert mail.outbox[0].bcc == []


def test_an_invited_users_name_does_not_take_an_existing_username(project, admin_member, expert, client_for):
    client_for(admin_member).post(_url(project), {"user": f"{expert.username}@example.org", "role": Role.EXPERT})
    invited = User.objects.get(email=f"{expert.username}@example.org")
    assert invited.username == f"{expert.username}-2"
    assert _membership(expert, project).role == Role.EXPERT  # the existing user was not touched


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"user": "", "role": "expert"}, "user", "required"),
        ({"user": "nobody-by-that-name", "role": "expert"}, "user", "No user is named"),
        ({"user": "not-an-email@", "role": "expert"}, "user", "not a valid email"),
        ({"user": "erin-expert", "role": "expert"}, "user", "already a member"),
        ({"user": "someone@example.org", "role": "owner"}, "role", "valid choice"),
    ],
)
def test_bad_input_names_the_field_and_adds_nobody(data, field, says, project, admin_member, expert, client_for):
    before = (Membership.objects.count(), User.objects.count(), AuditLog.objects.count())
    response = client_for(admin_member).post(_url(project), data)
    assert response.status_code == 400
    body = response.content.decode()
    errors = body.split(f'data-testid="error-{field}"', 1)[1].split("</div>", 1)[0]
    assert says in errors
    assert (Membership.objects.count(), User.objects.count(), AuditLog.objects.count()) == before


# --- roles ------------------------------------------------------------------------


def test_an_admin_changes_a_members_role(project, admin_member, expert, client_for):
    membership = _membership(expert, project)
    response = client_for(admin_member).post(_url(project, membership.pk, "role"), {"role": Role.LEAD})
    assert response.status_code == 302
    assert response["Location"] == _url(project)
    assert _membership(expert, project).role == Role.LEAD
    row = AuditLog.objects.get(action="membership.role_change")
    assert (row.actor, row.object_id) == (admin_member, str(membership.pk))
    assert row.details == {"user": expert.username, "from": "expert", "to": "lead"}


def test_a_bad_role_names_the_field_and_changes_nothing(project, admin_member, expert, client_for):
    membership = _membership(expert, project)
    response = client_for(admin_member).post(_url(project, membership.pk, "role"), {"role": "owner"}, follow=True)
    assert response.status_code == 400
    assert "Role: Select a valid choice" in response.content.decode()
    assert _membership(expert, project).role == Role.EXPERT
    assert not AuditLog.objects.filter(action="membership.role_change").exists()


def test_the_last_admin_cannot_be_demoted(project, admin_member, client_for):
    membership = _membership(admin_member, project)
    response = client_for(admin_member).post(_url(project, membership.pk, "role"), {"role": Role.LEAD})
    assert response.status_code == 409
    assert "last admin" in response.content.decode()
    assert _membership(admin_member, project).role == Role.ADMIN
    assert not AuditLog.objects.filter(action="membership.role_change").exists()


def test_an_admin_may_step_down_when_another_admin_stays(project, admin_member, lead, client_for):
    _membership(lead, project)
    Membership.objects.filter(user=lead, project=project).update(role=Role.ADMIN)
    membership = _membership(admin_member, project)
    response = client_for(admin_member).post(_url(project, membership.pk, "role"), {"role": Role.LEAD})
    # No longer an admin, they are sent to the project rather than to a page they may not open.
    assert response.status_code == 302
    assert response["Location"] == reverse("project_detail", args=[project.slug])
    assert _membership(admin_member, project).role == Role.LEAD


# --- removing ---------------------------------------------------------------------


def test_an_admin_removes_a_member(project, admin_member, expert, client_for):
    membership = _membership(expert, project)
    response = client_for(admin_member).post(_url(project, membership.pk, "remove"))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=expert, project=project).exists()
    assert User.objects.filter(pk=expert.pk).exists()  # the account stays; only the membership goes
    row = AuditLog.objects.get(action="membership.remove")
    assert (row.actor, row.object_id) == (admin_member, str(membership.pk))
    assert row.details == {"user": expert.username, "role": "expert"}


def test_the_last_admin_cannot_be_removed(project, admin_member, client_for):
    membership = _membership(admin_member, project)
    response = client_for(admin_member).post(_url(project, membership.pk, "remove"))
    assert response.status_code == 409
    assert "last admin" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert not AuditLog.objects.filter(action="membership.remove").exists()


def test_removing_needs_a_post(project, admin_member, expert, client_for):
    membership = _membership(expert, project)
    assert client_for(admin_member).get(_url(project, membership.pk, "remove")).status_code == 405
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_posts_without_the_csrf_token_are_refused(project, admin_member, expert):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_member)
    membership = _membership(expert, project)
    assert client.post(_url(project, membership.pk, "remove")).status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()


# --- escaping and cost ------------------------------------------------------------


def test_member_names_and_typed_input_are_escaped(project, admin_member, client_for):
    sly = User.objects.create_user("<script>alert(1)</script>", email="<b>x</b>@example.org")
    Membership.objects.create(user=sly, project=project, role=Role.EXPERT)
    client = client_for(admin_member)
    body = client.get(_url(project)).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<b>x</b>" not in body
    refused = client.post(_url(project), {"user": "<img src=x onerror=alert(1)>", "role": "expert"}).content.decode()
    assert "<img src=x" not in refused
    assert "&lt;img src=x" in refused


def test_the_list_costs_the_same_queries_for_many_members(
    project, admin_member, client_for, django_assert_max_num_queries
):
    for number in range(15):
        Membership.objects.create(user=User.objects.create_user(f"member{number}"), project=project, role=Role.EXPERT)
    client = client_for(admin_member)
    with django_assert_max_num_queries(7):
        response = client.get(_url(project))
    assert response.content.decode().count('data-testid="member-member') == 15


def test_a_site_operator_is_shown_the_invitation_link_once(project, client_for):
    operator = User.objects.create_superuser(username="olga-operator", password="x-long-operator-passphrase")
    client = client_for(operator)
    body = client.post(_url(project), {"user": "pat@example.org", "role": Role.EXPERT}).content.decode()
    link = re.search(r'value="(http://testserver/accounts/reset/[^"]+)"', body).group(1)
    assert link in mail.outbox[0].body
    assert link not in client.get(_url(project)).content.decode()


def test_an_admin_cannot_take_an_invited_account_by_its_link(project, other_project, admin_member, client_for):
    """An admin who could read the set-password link could choose the password, then see every
    project that later adds that email. The page never shows it to a project admin."""
    client_for(admin_member).post(_url(project), {"user": "carol@example.org", "role": Role.EXPERT})
    pages = client_for(admin_member).get(_url(project)).content.decode()
    assert "/accounts/reset/" not in pages
    assert not User.objects.get(email="carol@example.org").has_usable_password()
