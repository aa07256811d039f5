"""API calls as the named users of tests/conftest.py, each with a token of their own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from synthreview.projects.services.api_tokens import api_token_create


class ApiClient:
    """Django's test client with a bearer token and JSON in and out."""

    def __init__(self, secret: str | None) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: Any):
        return self.client.get(_api(path), params or {}, **self.headers, **extra)

    def post(self, path: str, body: Any = None, **extra: Any):
        return self.client.post(
            _api(path),
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            **self.headers,
            **extra,
        )

    def post_raw(self, path: str, data: bytes, content_type: str, **extra: Any):
        return self.client.post(_api(path), data, content_type=content_type, **self.headers, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any):
        return self.client.patch(
            _api(path), json.dumps(body or {}), content_type="application/json", **self.headers, **extra
        )

    def delete(self, path: str, **extra: Any):
        return self.client.delete(_api(path), **self.headers, **extra)


def _api(path: str) -> str:
    return path if path.startswith("/api/") else "/api/v1/" + path.lstrip("/")


@pytest.fixture
def api_for():
    """api_for(user) calls as the user with a fresh token; api_for(user, project=p, role_cap="expert")
    with a limited one; api_for(None) anonymously."""

    def make(user, **limits: Any) -> ApiClient:
        if user is None:
            return ApiClient(None)
        return ApiClient(api_token_create(user, name="test", **limits).secret)

    return make


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Each test starts with every caller's rate-limit window empty."""
    from django.core.cache import cache

    cache.clear()
