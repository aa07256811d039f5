"""A semantic search's state and results, in the sample browser's row format."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.http import Http404
from django.utils import timezone

from generation.models import Sample
from reviews.models import SearchStatus, SimilaritySearch
from reviews.models.search import SEARCH_TIME_LIMIT
from reviews.selectors.blinding import SEES_ALL, Blinding
from reviews.selectors.sample_view import LINEAGE_RELATED
from synthreview.projects.models import Project


@dataclass(frozen=True)
class SearchView:
    search: SimilaritySearch
    rows: list[tuple[Sample, float]]
    # The anchor is an item the reader holds: who it resembles hints at where it came from.
    anchor_hidden: bool = False

    @property
    def done(self) -> bool:
        return self.search.status in (SearchStatus.COMPLETED, SearchStatus.FAILED) or self.lost

    @property
    def lost(self) -> bool:
        return (
            self.search.status in (SearchStatus.QUEUED, SearchStatus.RUNNING)
            and self.search.created_at < timezone.now() - SEARCH_TIME_LIMIT
        )


def search_for_user(project: Project, user: User, search_id: int) -> SimilaritySearch:
    """A reader's own search in this project; anyone else's is a 404."""
    search = SimilaritySearch.objects.select_related("anchor").filter(project=project, user=user, pk=search_id).first()
    if search is None:
        raise Http404("No such search.")
    return search


def search_view(search: SimilaritySearch, *, blinding: Blinding = SEES_ALL) -> SearchView:
    """The stored results that still exist, nearest first, each marked for the reader's blinding
    now (an audit opened since the search hides its items' lineage)."""
    if search.anchor_id is not None and blinding.hides(search.anchor_id):
        return SearchView(search=search, rows=[], anchor_hidden=True)
    pairs = [(int(i), float(s)) for i, s in search.results or []]
    if blinding.excludes_from(search.filters or {}):
        pairs = [(i, s) for i, s in pairs if not blinding.hides(i)]
    found = (
        Sample.objects.select_related(*LINEAGE_RELATED, "similarity")
        .filter(project=search.project_id)
        .in_bulk([i for i, _ in pairs])
    )
    blinding.mark(found.values())
    return SearchView(search=search, rows=[(found[i], s) for i, s in pairs if i in found])
