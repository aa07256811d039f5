"""A rate limit per token (or per signed-in user for session calls), so one runaway script cannot
take the server from the rest of the team. The window lives in Django's cache: Redis in
production, the file cache of the demo."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.throttling import SimpleRateThrottle

from synthreview.projects.models import ApiToken


class PerCallerThrottle(SimpleRateThrottle):
    scope = "api"

    def __init__(self) -> None:
        super().__init__(rate=settings.API_RATE_LIMIT)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        auth = getattr(request, "auth", None)
        if isinstance(auth, ApiToken):
            ident = f"token:{auth.secret_sha256[:24]}"
        elif getattr(request.user, "is_authenticated", False):
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: HttpRequest) -> bool:
        # Read the limit on each call, so an operator's change (and a test's) applies without a restart.
        self.rate = settings.API_RATE_LIMIT
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)
