"""Semantic searches: the web tier records the question; a worker answers it (reviews/services/similarity_search_run.py)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from reviews.models import SimilaritySearch
from synthreview.projects.access import ProjectAccess
from synthreview.projects.queue import enqueue_on_commit

K_MAX = 200
QUERY_MAX_CHARS = 1000
# Searches kept per reader and project: the page shows the latest, older ones are only history.
KEPT_PER_USER = 20


def similarity_search_create(
    access: ProjectAccess,
    *,
    query: str = "",
    anchor_id: int | None = None,
    k: int = 20,
    filters: dict[str, Any] | None = None,
) -> SimilaritySearch:
    """A search for the worker to answer after commit, kept as the signed-in searcher's.
    `anchor_id` must come from an access helper."""
    user = access.user
    if user is None:
        raise ValueError("A similarity search needs a signed-in searcher: it is kept as theirs.")
    query = (query or "").strip()
    if not query and anchor_id is None:
        raise ValidationError("Type what to search for.")
    if len(query) > QUERY_MAX_CHARS:
        raise ValidationError(f"Keep the query under {QUERY_MAX_CHARS} characters.")
    if not 1 <= k <= K_MAX:
        raise ValidationError(f"Ask for between 1 and {K_MAX} results.")
    plain = {key: value for key, value in (filters or {}).items() if value not in (None, "", [])}
    with transaction.atomic():
        search = SimilaritySearch.objects.create(
            project=access.project, user=user, query=query, anchor_id=anchor_id, k=k, filters=plain
        )
        stale = (
            SimilaritySearch.objects.filter(project=access.project, user=user)
            .order_by("-created_at", "-id")
            .values_list("pk", flat=True)[KEPT_PER_USER : KEPT_PER_USER + 100]
        )
        SimilaritySearch.objects.filter(pk__in=list(stale)).delete()
        search_id = search.pk
        enqueue_on_commit("reviews.tasks.similarity_search_task", search_id)
    return search
