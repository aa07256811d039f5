"""Text search over samples: PostgreSQL full-text search where it exists, a
case-insensitive substring match elsewhere (the SQLite demo)."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q, QuerySet

# Must match the expression of the GIN index in migration 0004 exactly, or
# PostgreSQL cannot use the index.
_TSVECTOR = "to_tsvector('english'::regconfig, generation_sample.input || ' ' || generation_sample.output)"


def samples_matching_text(queryset: QuerySet, text: str) -> QuerySet:
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        return queryset.extra(
            where=[f"{_TSVECTOR} @@ websearch_to_tsquery('english'::regconfig, %s)"], params=[text]
        )
    return queryset.filter(Q(input__icontains=text) | Q(output__icontains=text))
