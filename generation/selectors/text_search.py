"""Text search over samples: PostgreSQL full-text search where it exists, a
case-insensitive substring match elsewhere (the SQLite demo)."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

# Must match the expression of the GIN index in migration 0004 exactly, or
# PostgreSQL cannot use the index.
_TSVECTOR = "to_tsvector('english'::regconfig, input || ' ' || output)"
# The matches come from the GIN index alone. OFFSET 0 keeps PostgreSQL from
# pulling the subquery up into a walk of the id index that computes to_tsvector
# row by row: it underrates that function, and for a rare word such a walk read
# most of a 1M-sample project (3 s) where the index finds the matches in ms.
_MATCHING_IDS = (
    f"SELECT id FROM generation_sample WHERE project_id = %s "
    f"AND {_TSVECTOR} @@ websearch_to_tsquery('english'::regconfig, %s) OFFSET 0"
)


def samples_matching_text(queryset: QuerySet, text: str, *, project_id: int) -> QuerySet:
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        return queryset.filter(pk__in=RawSQL(_MATCHING_IDS, (project_id, text)))
    return queryset.filter(Q(input__icontains=text) | Q(output__icontains=text))


def rows_matching_text(queryset: QuerySet, text: str) -> QuerySet:
    """The same match, tested row by row: for a queryset already cut to a few known ids (a
    semantic search's candidates), where reading every match from the index would cost more
    than a common word's thousands of ids."""
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        matches = RawSQL(
            f"{_TSVECTOR} @@ websearch_to_tsquery('english'::regconfig, %s)", (text,), output_field=BooleanField()
        )
        return queryset.alias(text_matches=matches).filter(text_matches=True)
    return queryset.filter(Q(input__icontains=text) | Q(output__icontains=text))
