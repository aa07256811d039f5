from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

# No inline scripts or styles from data can run: every script is a static file.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class PrivateCacheControlMiddleware:
    """Nothing shown to a signed-in user (pages, partials, API JSON, export downloads) is kept by a shared
    proxy or left in the browser's cache on a shared machine after logging out. Added to whatever the
    view set, so a stricter header (no-cache, max-age=0) stays, and a `public` one gives way."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Read after the view: a bearer-token API call sets request.user only once it is authenticated.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class ServerTimingMiddleware:
    """The CPU time this process spent on the request, as a `Server-Timing: cpu;dur=<ms>` header, for the
    load bench: wall time on a shared two-core machine mixes in everyone else's work, CPU time does not.
    First in the chain, so it counts every middleware too. Removed at start-up unless SERVER_TIMING is on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.SERVER_TIMING:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.process_time()
        response = self.get_response(request)
        # A streamed body is produced after this returns: the figure covers the view, not the streaming.
        response["Server-Timing"] = f"cpu;dur={(time.process_time() - started) * 1000:.2f}"
        return response
