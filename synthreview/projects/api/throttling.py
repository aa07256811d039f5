"""A rate limit per user (a token counts against its owner, as a session does), so one runaway script cannot
take the server from the rest of the team. A fixed window counted in Django's cache (Redis in
production, the file cache of the demo), one atomic increment a request.

Ninja keeps one throttle object for every request and thread, so nothing about a request is kept on
it: the count lives in the cache, and the wait that `wait()` reports is per thread."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from synthreview.projects.models import ApiToken

PERIODS = {"s": 1, "sec": 1, "min": 60, "m": 60, "hour": 3600, "h": 3600, "day": 86400, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' -> (1200, 60)."""
    count, _, period = rate.partition("/")
    try:
        return int(count), PERIODS[period.strip()]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"API_RATE_LIMIT must look like 1200/min, got {rate!r}") from None


class PerCallerThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._local = threading.local()

    @staticmethod
    def caller(request: HttpRequest) -> str:
        auth = getattr(request, "auth", None)
        if isinstance(auth, ApiToken):
            # Counted per owner, not per token: making more tokens must not buy more calls, and a
            # token and its owner's session share one window.
            return f"user:{auth.user_id}"
        if getattr(request.user, "is_authenticated", False):
            return f"user:{request.user.pk}"
        return f"addr:{request.META.get('REMOTE_ADDR', '')}"

    def allow_request(self, request: HttpRequest) -> bool:
        # Read on each call, so an operator's change (and a test's) applies without a restart.
        limit, period = parse_rate(settings.API_RATE_LIMIT)
        now = time.time()
        window = int(now // period)
        key = f"api-rate:{self.caller(request)}:{period}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # the window expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            count = 1
        self._local.wait = (window + 1) * period - now
        return count <= limit

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)
