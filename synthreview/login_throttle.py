"""Failed logins, throttled by django-axes (settings.py's AXES_* block): the client address it counts,
what a success wipes, and the page a locked-out visitor sees. Used by the site login and /admin/ alike,
since both go through django.contrib.auth.authenticate with the request."""

from __future__ import annotations

from datetime import datetime, timedelta
from http import HTTPStatus

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def client_ip(request: HttpRequest) -> str | None:
    """The address failures are counted against. REMOTE_ADDR unless TRUSTED_PROXY_COUNT proxies stand in
    front of the app: then the entry of X-Forwarded-For that the outermost of them appended, counted from
    the right, because every entry left of it may have been written by the client to spread its failures."""
    proxies = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR") or None
    if proxies == 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        # Not through every proxy we were told of: count the direct peer rather than trust a short header.
        return remote
    return forwarded[-proxies]


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler, but a successful login wipes only that username's failures.

    The stock reset also wipes every failure from the client's address, so an attacker spraying many
    usernames from one address could clear its count by signing in to an account of its own now and then.
    """

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        if not username:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The lockout page, saying when logging in works again, in the app's own style (templates/)."""
    cool_off = get_cool_off(request) or timedelta(0)
    retry_at = _retry_at(request, credentials, cool_off)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "cool_off_minutes": max(1, round(cool_off.total_seconds() / 60)),
        "retry_at": retry_at,
        "wait_minutes": max(1, -(-int((retry_at - timezone.now()).total_seconds()) // 60)),
    }
    return render(request, "registration/locked_out.html", context, status=HTTPStatus.TOO_MANY_REQUESTS)


def _retry_at(request: HttpRequest, credentials: dict | None, cool_off: timedelta) -> datetime:
    """When the lockout lifts: the cool-off after the latest failure of each username or address that
    reached the limit. Exact when one client made the failures, and never too early."""
    limit = get_failure_limit(request, credentials)
    recent = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - cool_off)
    ends = []
    for lookup in (
        {"username": get_client_username(request, credentials)},
        {"ip_address": getattr(request, "axes_ip_address", None)},
    ):
        if None in lookup.values():
            continue
        counted = recent.filter(**lookup).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        if (counted["failures"] or 0) >= limit and counted["last"] is not None:
            ends.append(counted["last"] + cool_off)
    return max(ends, default=timezone.now() + cool_off)
