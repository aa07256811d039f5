"""reviews' API routers: (prefix, router) pairs that synthreview/api.py mounts under /api/v1/."""

from __future__ import annotations

from ninja import Router

# samples_push adds the push and an import's status to samples.router (a path's GET and POST share a router).
from reviews.api import audits, eval_set, exports, quality, samples, samples_push, similarity, verdicts  # noqa: F401

routers: list[tuple[str, Router]] = []
routers.append(("/", similarity.router))
routers.append(("/", quality.router))
routers.append(("/", verdicts.router))
routers.append(("/", audits.router))
routers.append(("/", samples.router))
routers.append(("/", exports.router))
routers.append(("/", eval_set.router))
