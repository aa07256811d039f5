"""Text search over samples: PostgreSQL full-text search where it exists, a
case-insensitive substring match elsewhere (the SQLite demo)."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

# generation_sample.search_vector is a stored generated column (migration
# sample_search_vector), to_tsvector('english', input || ' ' || output), with a
# GIN index. Stored, the test per row costs microseconds, so PostgreSQL may walk
# the id index for a common word (the newest 50 of 20,000 matches are a few
# thousand rows away) and read the GIN index for a rare one; its statistics on
# the column's lexemes tell it which. Computing to_tsvector row by row took
# ~50 µs a sample and made the walk a trap for rare words.
# Unqualified: a queryset used as a subquery renames its tables, and no other table has the column.
_MATCHES = "search_vector @@ websearch_to_tsquery('english'::regconfig, %s)"


def samples_matching_text(queryset: QuerySet, text: str, *, project_id: int) -> QuerySet:
    """The samples whose input or output holds the words of `text`: stemmed and case-blind on
    PostgreSQL ("apples" finds "Apple"), a substring elsewhere. `project_id` is kept for callers;
    the queryset is already scoped to the project."""
    return rows_matching_text(queryset, text)


def rows_matching_text(queryset: QuerySet, text: str) -> QuerySet:
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        matches = RawSQL(_MATCHES, (text,), output_field=BooleanField())
        return queryset.alias(text_matches=matches).filter(text_matches=True)
    return queryset.filter(Q(input__icontains=text) | Q(output__icontains=text))
