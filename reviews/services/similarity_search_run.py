"""Semantic search, in the worker: embed the query (or read the anchor's stored
vector), search the project's stored FAISS index, and keep the nearest samples
that pass the sample browser's filters.

The index and the model stay loaded in the worker process between searches: a
search is then an embedding of one text (~25 ms on one CPU thread) and one
probe of the index (bench/search.py), not a load of either. The index is reloaded when its
file changes, which a similarity build does.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection
from django.utils import timezone

from generation.selectors.text_search import rows_matching_text
from reviews.models import SearchStatus, SimilaritySearch
from reviews.models.search import SEARCH_TIME_LIMIT
from reviews.selectors.blinding import blinding_for
from reviews.selectors.browser import samples_filtered
from reviews.services.embeddings import embedding_key, embeddings_load
from reviews.similarity.embedder import encode
from reviews.similarity.index import VectorIndex, index_dir, load_index, single_threaded_faiss
from synthreview.projects.access import get_project_for_user
from synthreview.projects.models import Project

if TYPE_CHECKING:
    from reviews.selectors.blinding import Blinding

# Indexes kept loaded per worker: at 1M samples one is ~1.5 GB of vectors.
CACHED_INDEXES = 2
# Nearest read per round, as a multiple of k, and the most read in all: a filter that
# passes fewer than k of the nearest CANDIDATES_MAX returns what it found.
CANDIDATES_FACTOR = 4
CANDIDATES_MIN = 50
CANDIDATES_MAX = 20_000
# A search still running this long after it was created lost its worker: a redelivery takes it over.

_indexes: OrderedDict[tuple[int, str], tuple[tuple[int, int], VectorIndex]] = OrderedDict()


def index_key(project: Project) -> str:
    """The stored index's name, as the similarity build writes it."""
    model_name, text_kind = embedding_key(project)
    return f"{model_name}--{text_kind}"


def cached_index(project_id: int, key: str) -> VectorIndex | None:
    """The stored index, loaded once per worker and again only when a build rewrote its files."""
    folder = index_dir(project_id, key)
    try:
        stamp = ((folder / "index.faiss").stat().st_mtime_ns, (folder / "ids.npy").stat().st_mtime_ns)
    except FileNotFoundError:
        _indexes.pop((project_id, key), None)
        return None
    cached = _indexes.get((project_id, key))
    if cached is not None and cached[0] == stamp:
        _indexes.move_to_end((project_id, key))
        return cached[1]
    loaded = load_index(project_id, key)
    if loaded is not None:
        _indexes[(project_id, key)] = (stamp, loaded)
        _indexes.move_to_end((project_id, key))
        while len(_indexes) > CACHED_INDEXES:
            _indexes.popitem(last=False)
    return loaded


def nearest_passing(
    index: VectorIndex,
    vector: np.ndarray,
    *,
    k: int,
    passes: Callable[[list[int]], set[int]],
    exclude: frozenset[int] = frozenset(),
) -> tuple[list[tuple[int, float]], int]:
    """The k nearest that `passes` keeps, nearest first, and how many nearest were read. Reads
    CANDIDATES_FACTOR·k, and four times more each round while too few pass."""
    wanted = max(k + len(exclude), 1)
    fetch = max(wanted * CANDIDATES_FACTOR, CANDIDATES_MIN)
    ceiling = min(index.size, CANDIDATES_MAX)
    while True:
        fetch = min(fetch, ceiling)
        # One query: FAISS's OpenMP threads would only wait on each other (see index.py).
        with single_threaded_faiss():
            sims, ids = index.search(vector.reshape(1, -1), fetch)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0].tolist(), sims[0].tolist()) if i >= 0 and i not in exclude]
        kept_ids = passes([i for i, _ in pairs])
        kept = [(i, round(s, 5)) for i, s in pairs if i in kept_ids][:k]
        # An inverted-file index probes a few lists: fewer found than asked means it has no more.
        exhausted = fetch >= ceiling or int((ids[0] >= 0).sum()) < fetch
        if len(kept) >= k or exhausted:
            return kept, fetch
        fetch *= CANDIDATES_FACTOR


def _passing(project: Project, filters: dict, blinding: Blinding) -> Callable[[list[int]], set[int]]:
    chunk = min(connection.features.max_query_params or 20_000, 20_000)
    # The text filter is tested on the candidates' rows: the browser's way reads every match
    # from the index first, all 100k of a common word's. Text is blind-safe, so leaving it out
    # of the filters changes nothing the blinding does.
    text = filters.get("q") or ""
    others = {key: value for key, value in filters.items() if key != "q"}

    def passes(ids: list[int]) -> set[int]:
        found: set[int] = set()
        queryset = rows_matching_text(samples_filtered(project, others, blinding=blinding), text)
        for start in range(0, len(ids), chunk):
            found.update(queryset.filter(pk__in=ids[start : start + chunk]).values_list("pk", flat=True))
        return found

    return passes


def _query_vector(search: SimilaritySearch, project: Project) -> np.ndarray | None:
    model_name, text_kind = embedding_key(project)
    if search.anchor_id is not None:
        _, vectors = embeddings_load(
            project_id=project.pk, model_name=model_name, text_kind=text_kind, sample_ids=[search.anchor_id]
        )
        return vectors[0] if len(vectors) else None
    # One short text: a single thread is faster than two that wait on each other (embedder.encode).
    return encode([search.query], model_name=model_name, threads=1)[0]


def similarity_search_claim(*, search_id: int) -> bool:
    lost = timezone.now() - SEARCH_TIME_LIMIT
    return bool(
        SimilaritySearch.objects.filter(pk=search_id, status=SearchStatus.QUEUED).update(status=SearchStatus.RUNNING)
        or SimilaritySearch.objects.filter(pk=search_id, status=SearchStatus.RUNNING, created_at__lt=lost).update(
            status=SearchStatus.RUNNING
        )
    )


def similarity_search_run(*, search_id: int) -> SimilaritySearch | None:
    """Answer one search; a search already answered (or being answered) is left alone."""
    if not similarity_search_claim(search_id=search_id):
        return None
    search = SimilaritySearch.objects.select_related("project", "user").get(pk=search_id)
    project = search.project
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        vector = _query_vector(search, project)
        timings["embed_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if vector is None:
            return _finish(
                search,
                error="The sample has no stored vector yet: the similarity worker embeds it after its import.",
                timings=timings,
            )
        index = cached_index(project.pk, index_key(project))
        timings["load_ms"] = round((time.perf_counter() - started) * 1000 - timings["embed_ms"], 1)
        if index is None or not index.size:
            return _finish(
                search, error="The project has no similarity index yet: the similarity build makes it.", timings=timings
            )
        # The reader's blinding now: a filter on lineage never returns an item they hold.
        blinding = blinding_for(search.user, get_project_for_user(search.user, project.slug, "view"))
        passes = _passing(project, search.filters or {}, blinding)
        exclude = frozenset({search.anchor_id}) if search.anchor_id else frozenset()
        mark = time.perf_counter()
        results, searched = nearest_passing(
            index, np.asarray(vector, dtype=np.float32), k=search.k, passes=passes, exclude=exclude
        )
        timings["search_and_filter_ms"] = round((time.perf_counter() - mark) * 1000, 1)
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        search.results = [[i, s] for i, s in results]
        search.searched = searched
        return _finish(search, timings=timings)
    except Exception as error:
        _finish(search, error=f"{type(error).__name__}: {error}", timings=timings)
        raise


def _finish(search: SimilaritySearch, *, timings: dict, error: str = "") -> SimilaritySearch:
    search.status = SearchStatus.FAILED if error else SearchStatus.COMPLETED
    search.error = error
    search.timings = timings
    search.finished_at = timezone.now()
    search.save(update_fields=["status", "error", "timings", "results", "searched", "finished_at"])
    return search
