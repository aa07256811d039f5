"""In Chromium: an admin invites a member by email, changes a role and removes a member; a user
makes an API token, sees its secret once, and revokes it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from playwright.sync_api import Page, expect

from synthreview.projects.models import ApiToken, AuditLog, Membership, Role
from tests.browser.conftest import nav_to

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots")
)
WIDTHS = (1440, 390)


def _screenshots(page: Page, name: str) -> None:
    """The page at a desktop's width and at a phone's, whole."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_admin_invites_changes_a_role_and_removes_a_member(
    open_page, live_server, project, admin_member, expert, lead, mailoutbox
):
    page = open_page(admin_member)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    nav_to(page, "Admin", "Members")
    expect(page).to_have_url(re.compile(rf"/p/{project.slug}/members/$"))
    expect(page.get_by_role("heading", name="Members")).to_be_visible()

    page.get_by_label("Username or email").fill("newbie@example.org")
    page.get_by_label("Role", exact=True).select_option(label="Lead")
    page.get_by_role("button", name="Add member").click()
    invitation = page.get_by_test_id("invitation")
    expect(invitation).to_contain_text("newbie is invited")
    # The set-password link goes to the invited address alone; the admin's page never holds it.
    expect(page.get_by_test_id("invite-link")).to_have_count(0)
    assert len(mail.outbox) == 1
    link = re.search(rf"{re.escape(live_server.url)}/accounts/reset/[^/\s]+/[^/\s]+/", mail.outbox[0].body).group(0)
    assert link not in page.content()
    expect(page.get_by_test_id("member-newbie").get_by_test_id("role-select")).to_have_value("lead")
    expect(page.get_by_test_id("member-newbie")).to_contain_text("invited")
    _screenshots(page, "members-invited")

    expert_row = page.get_by_test_id(f"member-{expert.username}")
    expert_row.get_by_test_id("role-select").select_option("lead")
    expert_row.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text(f"{expert.username} is now Lead")
    expect(page.get_by_test_id(f"member-{expert.username}").get_by_test_id("role-select")).to_have_value("lead")
    assert link not in page.content()

    page.get_by_role("button", name=f"Remove {lead.username}").click()
    expect(page.locator(".messages")).to_contain_text(f"{lead.username} is no longer a member")
    expect(page.get_by_test_id(f"member-{lead.username}")).to_have_count(0)

    # The last admin's row offers neither a step down nor a removal.
    admin_row = page.get_by_test_id(f"member-{admin_member.username}")
    expect(admin_row.get_by_test_id("last-admin")).to_be_visible()
    expect(admin_row.get_by_role("button")).to_have_count(0)
    _screenshots(page, "members")

    assert Membership.objects.get(user__username="newbie", project=project).role == Role.LEAD
    assert Membership.objects.get(user=expert, project=project).role == Role.LEAD
    assert not Membership.objects.filter(user=lead, project=project).exists()
    assert Membership.objects.get(user=admin_member, project=project).role == Role.ADMIN
    actions = list(AuditLog.objects.filter(project=project).order_by("id").values_list("action", flat=True))
    assert actions == ["membership.add", "membership.role_change", "membership.remove"]
    assert not get_user_model().objects.get(username="newbie").has_usable_password()
    assert page.errors.unexpected() == []  # type: ignore[attr-defined]  # set by open_page


def test_a_user_makes_a_token_sees_it_once_and_revokes_it(open_page, live_server, project, lead):
    page = open_page(lead)
    page.goto(f"{live_server.url}/")
    nav_to(page, lead.username, "API tokens")
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(page.get_by_test_id("no-tokens")).to_be_visible()

    page.get_by_label("Name").fill("nightly <pipeline>")
    page.get_by_label("Project limit").select_option(label=project.name)
    page.get_by_label("Role cap").select_option(label="Expert")
    page.get_by_label("Expires after (days)").fill("90")
    page.get_by_role("button", name="Create token").click()

    secret = page.get_by_test_id("new-secret").input_value()
    assert secret.startswith("srv_")
    expect(page.get_by_test_id("new-token")).to_contain_text("Authorization: Bearer <token>")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("[data-copy-status=new-secret]")).to_have_text(re.compile("Copied|Selected"))
    token = ApiToken.objects.get(user=lead)
    row = page.get_by_test_id(f"token-{token.pk}")
    expect(row).to_contain_text("nightly <pipeline>")
    expect(row.get_by_test_id("state")).to_have_text("active")
    _screenshots(page, "tokens")

    page.goto(f"{live_server.url}/account/tokens/")
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert secret not in page.content()

    page.get_by_test_id(f"token-{token.pk}").get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages")).to_contain_text("revoked")
    expect(page.get_by_test_id(f"token-{token.pk}").get_by_test_id("state")).to_have_text("revoked")
    expect(page.get_by_test_id(f"token-{token.pk}").get_by_role("button", name="Revoke")).to_have_count(0)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert page.errors.unexpected() == []  # type: ignore[attr-defined]  # set by open_page
