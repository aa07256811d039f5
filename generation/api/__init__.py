"""generation's API routers: (prefix, router) pairs that synthreview/api.py mounts under /api/v1/."""

from __future__ import annotations

from ninja import Router

from generation.api import runs

routers: list[tuple[str, Router]] = []
routers.append(("/", runs.router))
