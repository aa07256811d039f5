"""`manage.py api_token`: create (the secret printed once), list and revoke a user's tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from synthreview.projects.models import ApiToken, AuditLog, Role
from synthreview.projects.services.api_tokens import api_token_create

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_secret_and_keeps_only_its_digest(lead, project):
    out, err = _run(
        "create", "--user", lead.username, "--name", "ci job", "--project", project.slug, "--role", "expert"
    )
    secret = out.strip()
    assert secret.startswith("srv_")
    token = ApiToken.objects.get(user=lead)
    assert token.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert (token.name, token.project, token.role_cap) == ("ci job", project, Role.EXPERT)
    assert token.expires_at is None
    assert "shown this once" in err
    assert "Authorization: Bearer" in err
    assert AuditLog.objects.filter(action="api_token.create", actor=lead, object_id=str(token.pk)).exists()


def test_create_with_an_expiry(lead):
    _run("create", "--user", lead.username, "--name", "weekly", "--expires-days", "7")
    token = ApiToken.objects.get(user=lead)
    assert token.expires_at is not None
    assert abs(token.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


def test_list_shows_tokens_by_prefix_never_the_secret(lead, project):
    secret = api_token_create(lead, name="ci job", project=project, role_cap=Role.EXPERT).secret
    revoked = api_token_create(lead, name="old one").token
    revoked.revoked_at = timezone.now()
    revoked.save(update_fields=["revoked_at"])
    out, _ = _run("list", "--user", lead.username)
    assert secret not in out
    assert secret[:12] + "…" in out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "TOKEN"]
    ci_line = next(line for line in lines if "ci job" in line)
    assert project.slug in ci_line and "expert" in ci_line and ci_line.rstrip().endswith("active")
    old_line = next(line for line in lines if "old one" in line)
    assert old_line.rstrip().endswith("revoked")


def test_list_lists_only_that_users_tokens(lead, outsider):
    api_token_create(outsider, name="ottos pipeline")
    out, _ = _run("list", "--user", lead.username)
    assert "ottos pipeline" not in out
    assert "no API tokens" in out


def test_revoke_revokes_and_logs(lead):
    token = api_token_create(lead, name="ci job").token
    out, _ = _run("revoke", "--user", lead.username, "--id", str(token.pk))
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert f"Revoked token {token.pk}" in out
    assert AuditLog.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()


def test_revoke_refuses_another_users_token(lead, outsider):
    token = api_token_create(outsider, name="ottos pipeline").token
    with pytest.raises(CommandError, match=r"^--id: "):
        _run("revoke", "--user", lead.username, "--id", str(token.pk))
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--user", "nobody", "--name", "x"], "--user"),
        (["--user", "lee-lead", "--name", "x", "--project", "no-such"], "--project"),
        (["--user", "lee-lead", "--name", "x", "--expires-days", "0"], "--expires-days"),
        (["--user", "lee-lead", "--name", "x", "--expires-days", "3651"], "--expires-days"),
        (["--user", "lee-lead", "--name", "   "], "--name"),
        (["--user", "lee-lead", "--name", "x", "--project", "other"], "--project"),
        (["--user", "lee-lead", "--name", "x", "--project", "math", "--role", "admin"], "--role"),
    ],
)
def test_create_errors_name_the_option(args, option, lead, project, other_project):
    with pytest.raises(CommandError) as raised:
        _run("create", *args)
    assert str(raised.value).startswith(f"{option}: ")
    assert not ApiToken.objects.exists()


def test_a_role_that_is_not_a_role_is_refused_by_name(lead):
    with pytest.raises(CommandError, match="--role"):
        _run("create", "--user", lead.username, "--name", "x", "--role", "owner")
    assert not ApiToken.objects.exists()


def test_an_unknown_user_is_refused_for_list_and_revoke(db):
    with pytest.raises(CommandError, match=r"^--user: "):
        _run("list", "--user", "nobody")
    with pytest.raises(CommandError, match=r"^--user: "):
        _run("revoke", "--user", "nobody", "--id", "1")


def test_an_action_is_required(db):
    with pytest.raises(CommandError, match="create,list,revoke"):
        _run()
