"""The filter that a list page's query string carries, for the page's own links."""

from __future__ import annotations

from collections.abc import Collection

from django.http import QueryDict


def filter_query(params: QueryDict, *, leave_out: Collection[str]) -> str:
    """`params` as a query string without the keys in `leave_out` (those that move the page or name an
    action) and without empty values, so a link to the next page, or back from an action, keeps the
    filter and nothing else."""
    query = QueryDict(mutable=True)
    for key, values in params.lists():
        kept = [value for value in values if value]
        if key not in leave_out and kept:
            query.setlist(key, kept)
    return query.urlencode()
