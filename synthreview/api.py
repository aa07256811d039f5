"""The REST API, /api/v1/: each app's routers under one NinjaAPI, with one auth, one rate limit
and one error shape. django-ninja was chosen over Django REST framework because its operations are
plain typed functions (the house's function views) and its OpenAPI schema is generated from the same
pydantic types that validate requests, so the published contract cannot drift from the code."""

from __future__ import annotations

from ninja import NinjaAPI

from generation.api import routers as generation_routers
from reviews.api import routers as reviews_routers
from synthreview.projects.api.auth import BearerToken, SignedInSession
from synthreview.projects.api.errors import install_error_handlers
from synthreview.projects.api.projects import router as projects_router
from synthreview.projects.api.throttling import PerCallerThrottle

api = NinjaAPI(
    title="synthreview API",
    version="1",
    description=(
        "Review LLM-generated synthetic training data. Authenticate with `Authorization: Bearer <token>` "
        "(make a token on the My tokens page or with `manage.py api_token create`). Every refusal is "
        "`{code, message, field, line, errors}`."
    ),
    auth=[BearerToken(), SignedInSession()],
    throttle=[PerCallerThrottle()],
    urls_namespace="api-v1",
)
install_error_handlers(api)
api.add_router("/", projects_router)
for prefix, router in [*generation_routers, *reviews_routers]:
    api.add_router(prefix, router)
