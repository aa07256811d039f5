"""reviews' API routers: (prefix, router) pairs that synthreview/api.py mounts under /api/v1/."""

from __future__ import annotations

from ninja import Router

from reviews.api import quality, similarity

routers: list[tuple[str, Router]] = []
routers.append(("/", similarity.router))
routers.append(("/", quality.router))
