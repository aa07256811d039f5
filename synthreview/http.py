"""The request type every view receives: Django's, with django-htmx's details attached by its middleware."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that reached a view behind `@login_required`, so its user is signed in, never anonymous."""

    user: User
