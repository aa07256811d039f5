"""Failed logins are throttled per username and per client address, on the site's login form and on
/admin/, with the settings the app ships (settings.py's AXES_* block): a lockout page that says when to
try again, refusal of the right password meanwhile, and logging in again once the cool-off is over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import Client, RequestFactory
from django.urls import reverse

from synthreview.login_throttle import client_ip
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SITE_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
LIMIT = settings.AXES_FAILURE_LIMIT


def _log_in(client: Client, url: str, username: str, password: str, **extra: str):
    return client.post(url, {"username": username, "password": password}, **extra)


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _cool_off_passes() -> None:
    """Every recorded failure happened a cool-off (and a minute) ago, as if the person had waited."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(minutes=1))


def test_the_shipped_limits_are_five_failures_and_fifteen_minutes():
    assert LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


def test_wrong_passwords_on_the_login_form_lock_out_even_the_right_one_until_the_cool_off(lead):
    client = Client()
    for attempt in range(1, LIMIT):
        answer = _log_in(client, SITE_LOGIN, "lee-lead", f"guess {attempt}")
        assert answer.status_code == 200, attempt
        assert b"Please enter a correct username and password" in answer.content

    locked = _log_in(client, SITE_LOGIN, "lee-lead", "guess 5")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content

    refused = _log_in(client, SITE_LOGIN, "lee-lead", PASSWORD)
    assert refused.status_code == 429
    body = refused.content.decode()
    assert 'data-testid="locked-out"' in body and 'class="topbar"' in body  # the app's own layout
    assert "Try again in 15 minutes" in body
    assert not _signed_in(client)
    assert client.get(reverse("home")).status_code == 302  # still sent to the login page

    _cool_off_passes()
    welcomed = _log_in(client, SITE_LOGIN, "lee-lead", PASSWORD)
    assert welcomed.status_code == 302 and welcomed["Location"] == reverse("home")
    assert _signed_in(client)


def test_tries_while_locked_out_do_not_push_the_cool_off_back(lead):
    client = Client()
    for attempt in range(LIMIT):
        _log_in(client, SITE_LOGIN, "lee-lead", f"guess {attempt}")
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10))
    for _ in range(3):
        still = _log_in(client, SITE_LOGIN, "lee-lead", PASSWORD)
        assert still.status_code == 429
    assert "Try again in 5 minutes" in still.content.decode()

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=6))
    assert _log_in(client, SITE_LOGIN, "lee-lead", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_the_same_way(db):
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    client = Client()
    for attempt in range(LIMIT):
        _log_in(client, ADMIN_LOGIN, "root", f"guess {attempt}")

    refused = _log_in(client, ADMIN_LOGIN, "root", PASSWORD)
    assert refused.status_code == 429
    assert "Try again in 15 minutes" in refused.content.decode()
    assert client.get("/admin/").status_code == 302

    _cool_off_passes()
    assert _log_in(client, ADMIN_LOGIN, "root", PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_one_address_spraying_many_usernames_is_locked_out_but_others_are_not(lead):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(LIMIT):
        _log_in(attacker, SITE_LOGIN, f"someone-{n}", "password1")

    # The address is locked even for an account it never tried...
    assert _log_in(attacker, SITE_LOGIN, "lee-lead", PASSWORD).status_code == 429
    # ...and that account still works from anywhere else.
    assert _log_in(Client(REMOTE_ADDR="198.51.100.20"), SITE_LOGIN, "lee-lead", PASSWORD).status_code == 302


def test_many_addresses_guessing_one_username_lock_that_username(lead):
    for n in range(LIMIT):
        _log_in(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), SITE_LOGIN, "lee-lead", f"guess {n}")

    assert _log_in(Client(REMOTE_ADDR="198.51.100.20"), SITE_LOGIN, "lee-lead", PASSWORD).status_code == 429


def test_forged_forwarded_for_headers_do_not_spread_the_failures_by_default(lead):
    for n in range(LIMIT):
        _log_in(Client(HTTP_X_FORWARDED_FOR=f"10.9.8.{n}"), SITE_LOGIN, f"someone-{n}", "password1")

    assert _log_in(Client(HTTP_X_FORWARDED_FOR="10.9.8.200"), SITE_LOGIN, "lee-lead", PASSWORD).status_code == 429


def test_a_success_wipes_that_usernames_failures(lead):
    client = Client()
    for attempt in range(LIMIT - 1):
        _log_in(client, SITE_LOGIN, "lee-lead", f"guess {attempt}")
    assert _log_in(client, SITE_LOGIN, "lee-lead", PASSWORD).status_code == 302

    client.post(reverse("logout"))
    for attempt in range(LIMIT - 1):
        assert _log_in(client, SITE_LOGIN, "lee-lead", f"again {attempt}").status_code == 200
    assert _log_in(client, SITE_LOGIN, "lee-lead", PASSWORD).status_code == 302


def test_signing_in_to_its_own_account_does_not_clear_a_spraying_addresss_count(lead, expert):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(LIMIT - 1):
        _log_in(attacker, SITE_LOGIN, f"someone-{n}", "password1")
    assert _log_in(attacker, SITE_LOGIN, "erin-expert", PASSWORD).status_code == 302  # its own account
    attacker.post(reverse("logout"))

    assert _log_in(attacker, SITE_LOGIN, "someone-else", "password1").status_code == 429
    assert _log_in(attacker, SITE_LOGIN, "lee-lead", PASSWORD).status_code == 429


def test_the_password_tried_is_not_stored(lead):
    _log_in(Client(), SITE_LOGIN, "lee-lead", "my-secret-guess")
    stored = AccessAttempt.objects.get(username="lee-lead")
    assert "my-secret-guess" not in stored.post_data


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "counted"),
    [
        (0, "10.1.1.1", "192.0.2.1"),  # no proxy trusted: the header is the client's own words
        (1, "10.1.1.1", "10.1.1.1"),
        (1, "6.6.6.6, 10.1.1.1", "10.1.1.1"),  # the left entry was written by the client
        (2, "6.6.6.6, 10.1.1.1, 10.0.0.5", "10.1.1.1"),
        (2, "10.1.1.1", "192.0.2.1"),  # fewer entries than proxies: not through them, count the peer
    ],
)
def test_the_address_counted_behind_trusted_proxies(settings, proxies, forwarded_for, counted):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post(SITE_LOGIN, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip(request) == counted


def test_a_next_address_off_this_site_is_not_followed_after_logging_in(lead):
    answer = Client().post(
        f"{SITE_LOGIN}?next=https://evil.example/",
        {"username": "lee-lead", "password": PASSWORD, "next": "//evil.example/"},
    )
    assert answer.status_code == 302 and answer["Location"] == reverse("home")
