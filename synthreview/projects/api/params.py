"""Bounded request parameters: every id and count the API reads has a range, so an absurd value is
a 422 naming its parameter, never an overflow in the database (SQLite and PostgreSQL both stop at
a signed 64-bit integer)."""

from __future__ import annotations

from typing import Annotated

from ninja import Path, Query

from synthreview.projects.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

MAX_ID = 2**63 - 1

# An object's id in the URL: /projects/{slug}/audits/{audit_id}.
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
# The same in a query string, optional: ?audit=12.
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=200)]
Slug = Annotated[str, Path(max_length=64, pattern=r"^[-a-zA-Z0-9_]+$")]

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_ID", "MAX_PAGE_SIZE", "Cursor", "ObjectId", "OptionalIdQuery", "PageSize", "Slug"]
