"""Neighbours, novelty, nearest real sample, clusters and groups for a project.

A full build indexes every vector; an incremental one adds the vectors embedded
since, searches only them, and patches the neighbour lists they enter. Results
go to the database; the index goes to DATA_DIR for the next increment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, Sum

from generation.models import Origin, Sample, SampleStatus
from reviews.models import Cluster, SampleEmbedding, SampleSimilarity
from reviews.services.clusters import clusters_build, clusters_describe_members, nearest_cluster_ids
from reviews.services.duplicate_groups import duplicate_groups_rebuild
from reviews.services.embedding_map import embedding_map_build
from reviews.services.embeddings import embedding_key
from reviews.services.similarity_io import SampleFacts, Scores, sample_facts_load, scores_write, vectors_load
from reviews.similarity.index import (
    REAL_INDEX_PROBE_SHARE,
    VectorIndex,
    build_index,
    exact_max_for_queries,
    index_dir,
    load_index,
    save_index,
)
from synthreview.projects.models import Project

WRITE_CHUNK = 2000
# The file beside the index that holds the newest sample id whose scores are written.
SCORED_THROUGH = "scored_through"
# Sample ids per query when reading the facts of some samples only.
FACTS_CHUNK = 20000
ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BuildSummary:
    mode: str
    samples: int
    added: int
    groups: int
    exact_groups: int
    clusters: int
    low_novelty: int
    # Samples added since the last fit that lie farther from every cluster than its members: they wait for a refit.
    unclustered: int = 0

    def line(self) -> str:
        return (
            f"groups={self.groups} exact_groups={self.exact_groups} clusters={self.clusters} "
            f"low_novelty={self.low_novelty}"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def _index_key(project: Project) -> str:
    model_name, text_kind = embedding_key(project)
    return f"{model_name}--{text_kind}"


def similarity_build(*, project_id: int, full: bool = False, progress: ProgressCallback | None = None) -> BuildSummary:
    project = Project.objects.get(pk=project_id)
    key = _index_key(project)
    model_name, text_kind = embedding_key(project)
    stored = None if full else load_index(project.pk, key)
    embedded = SampleEmbedding.objects.filter(project=project, model_name=model_name, text_kind=text_kind).count()
    # Clusters (and the index's lists) are fitted to the data of the last full
    # build: once the samples added since pass the project's refit share of it
    # (default 20%), fit them again. Growth by a factor 1 + share between fits keeps
    # the total cost of full builds within (1 + share) / share times the last one's.
    last_full = _last_full_size(project.pk, key)
    outgrown = last_full is not None and embedded - last_full > project.refit_share * max(last_full, 1)
    if (
        stored is not None
        and not outgrown
        and _index_is_current(project, stored, embedded)
        and _scored(project, stored)
    ):
        return _incremental(project, stored, key, progress)
    return _full(project, key, progress)


def _last_full_size(project_id: int, key: str) -> int | None:
    marker = index_dir(project_id, key) / "full_build_size"
    return int(marker.read_text()) if marker.is_file() else None


def _index_is_current(project: Project, stored: VectorIndex, embedded: int) -> bool:
    """The stored index holds exactly this project's embedded samples up to its
    newest id, and every other embedded sample is newer. The id count and sum
    catch an index left by another database or a deleted sample."""
    model_name, text_kind = embedding_key(project)
    newest = int(stored.ids.max()) if stored.size else 0
    vectors = SampleEmbedding.objects.filter(project=project, model_name=model_name, text_kind=text_kind)
    covered = vectors.filter(sample_id__lte=newest).aggregate(count=Count("sample_id"), total=Sum("sample_id"))
    if covered["count"] != stored.size or (covered["total"] or 0) != int(stored.ids.sum()):
        return False
    return stored.size + vectors.filter(sample_id__gt=newest).count() == embedded


def _scored(project: Project, stored: VectorIndex) -> bool:
    """Every sample in the stored index has its scores. The index is saved before the scores are
    written, so a worker killed between the two leaves an index that looks current over missing
    scores; an incremental build would score only newer samples, and those would stay missing.
    The mark of the newest sample scored is written after the scores commit, so reading it costs
    nothing however large the project; without one, the rows are counted."""
    newest = int(stored.ids.max()) if stored.size else 0
    marker = index_dir(project.pk, _index_key(project)) / SCORED_THROUGH
    if marker.is_file():
        return int(marker.read_text() or 0) >= newest
    return SampleSimilarity.objects.filter(project=project, sample_id__lte=newest).count() >= stored.size


def _scored_through_write(project_id: int, key: str, newest: int) -> None:
    folder = index_dir(project_id, key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{SCORED_THROUGH}.tmp").write_text(str(newest))
    os.replace(folder / f"{SCORED_THROUGH}.tmp", folder / SCORED_THROUGH)


@dataclass
class _Facts:
    """Origin and status of every sample, as arrays aligned by ascending id."""

    ids: np.ndarray
    real: np.ndarray
    accepted: np.ndarray

    def lookup(self, sample_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positions = np.clip(np.searchsorted(self.ids, sample_ids), 0, max(len(self.ids) - 1, 0))
        present = self.ids[positions] == sample_ids if len(self.ids) else np.zeros(len(sample_ids), bool)
        return self.real[positions] & present, self.accepted[positions] & present


def _facts(project: Project, sample_ids: np.ndarray | None = None) -> _Facts:
    """Of every sample, or of the given ones only (an increment's new samples and their
    neighbours: a read that grows with the increment, not with the project)."""
    if sample_ids is None:
        rows = list(
            Sample.objects.filter(project=project)
            .order_by("id")
            .values_list("id", "origin", "status")
            .iterator(chunk_size=50000)
        )
    else:
        chunk = min(connection.features.max_query_params or FACTS_CHUNK, FACTS_CHUNK)
        wanted = np.unique(sample_ids).tolist()
        rows = [
            row
            for start in range(0, len(wanted), chunk)
            for row in Sample.objects.filter(project=project, pk__in=wanted[start : start + chunk])
            .order_by("id")
            .values_list("id", "origin", "status")
        ]
    return _Facts(
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        real=np.fromiter((r[1] == Origin.REAL for r in rows), dtype=bool, count=len(rows)),
        accepted=np.fromiter((r[2] == SampleStatus.ACCEPTED for r in rows), dtype=bool, count=len(rows)),
    )


def _neighbour_lists(query_ids: np.ndarray, sims: np.ndarray, found: np.ndarray, k: int) -> list[list[list]]:
    lists = []
    for query_id, row_sims, row_ids in zip(query_ids.tolist(), sims.tolist(), found.tolist()):
        entries = [[i, round(s, 5)] for i, s in zip(row_ids, row_sims) if i != query_id and i >= 0]
        lists.append(entries[:k])
    return lists


def _nearest_real(
    query_ids: np.ndarray, real_index: VectorIndex | None, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest real sample other than itself: ids (-1 when none) and similarities."""
    if real_index is None or not real_index.size:
        return np.full(len(query_ids), -1, np.int64), np.full(len(query_ids), np.nan, np.float32)
    sims, found = real_index.search(vectors, 2)
    is_self = found[:, 0] == query_ids
    best_ids = np.where(is_self, found[:, 1], found[:, 0])
    best_sims = np.where(is_self, sims[:, 1], sims[:, 0])
    best_sims = np.where(best_ids >= 0, best_sims, np.nan)
    return best_ids, best_sims


def _novelty(neighbours: list[list[list]], real_sims: np.ndarray, facts: _Facts) -> list[float | None]:
    """1 − the highest similarity to a real sample or an accepted one. Accepted samples
    are looked for among the stored top-k neighbours; real ones in their own index."""
    flat_ids = np.array([entry[0] for entries in neighbours for entry in entries], dtype=np.int64)
    _, accepted = facts.lookup(flat_ids) if len(flat_ids) else (None, np.zeros(0, bool))
    novelty: list[float | None] = []
    position = 0
    for entries, real_sim in zip(neighbours, real_sims.tolist()):
        best = None if real_sim != real_sim else real_sim  # NaN: no real sample at all
        for entry in entries:
            if accepted[position] and (best is None or entry[1] > best):
                best = entry[1]
            position += 1
        novelty.append(None if best is None else round(1.0 - best, 5))
    return novelty


def _write_rows(project: Project, rows: list[SampleSimilarity], progress: ProgressCallback | None) -> None:
    fields = [
        "neighbours",
        "top_similarity",
        "novelty",
        "nearest_real",
        "nearest_real_similarity",
        "cluster",
        "updated_at",
    ]
    for start in range(0, len(rows), WRITE_CHUNK):
        with transaction.atomic():
            SampleSimilarity.objects.bulk_create(
                rows[start : start + WRITE_CHUNK], update_conflicts=True, unique_fields=["sample"], update_fields=fields
            )
        if progress:
            progress(min(start + WRITE_CHUNK, len(rows)), len(rows), "writing scores")


def _similarity_row(
    project: Project,
    sample_id: int,
    neighbours: list,
    novelty: float | None,
    real_id: int,
    real_sim: float,
    cluster_id: int | None,
) -> SampleSimilarity:
    return SampleSimilarity(
        sample_id=sample_id,
        project=project,
        neighbours=neighbours,
        top_similarity=neighbours[0][1] if neighbours else None,
        novelty=novelty,
        nearest_real_id=real_id if real_id >= 0 else None,
        nearest_real_similarity=None if real_id < 0 else round(float(real_sim), 5),
        cluster_id=cluster_id,
    )


def neighbour_arrays(
    query_ids: np.ndarray, sims: np.ndarray, found: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The top-(k+1) search results without the sample itself: ids (-1 past the end of a
    list) and similarities, nearest first, k columns. As _neighbour_lists, in arrays."""
    kept = (found != query_ids[:, None]) & (found >= 0)
    # A stable sort of "not kept" moves the kept entries left, in their order.
    order = np.argsort(~kept, axis=1, kind="stable")[:, :k]
    ids = np.take_along_axis(found, order, axis=1)
    neighbour_sims = np.take_along_axis(sims, order, axis=1)
    ids[~np.take_along_axis(kept, order, axis=1)] = -1
    return ids, neighbour_sims


def novelty_array(
    neighbour_ids: np.ndarray, neighbour_sims: np.ndarray, real_sims: np.ndarray, facts: SampleFacts
) -> np.ndarray:
    """As _novelty, in arrays: 1 − the highest similarity to a real sample (its own index) or an
    accepted one among the top-k neighbours (their similarity as stored, to 5 decimals); NaN for none."""
    best = real_sims.astype(np.float64)
    best[np.isnan(best)] = -np.inf
    for column in range(neighbour_ids.shape[1]):
        positions, present = facts.positions(neighbour_ids[:, column])
        accepted = present & facts.accepted[positions] & (neighbour_ids[:, column] >= 0)
        stored = np.round(neighbour_sims[:, column].astype(np.float64), 5)
        best = np.where(accepted & (stored > best), stored, best)
    return np.where(np.isfinite(best), 1.0 - best, np.nan)


def _full(project: Project, key: str, progress: ProgressCallback | None) -> BuildSummary:
    model_name, text_kind = embedding_key(project)
    ids, vectors = vectors_load(project_id=project.pk, model_name=model_name, text_kind=text_kind)
    k = project.similarity_top_k
    if progress:
        progress(0, len(ids), "indexing")
    if not len(ids):
        near, exact = duplicate_groups_rebuild(project_id=project.pk)
        return BuildSummary("full", 0, 0, near, exact, 0, 0)
    facts = sample_facts_load(project_id=project.pk)
    index = build_index(ids, vectors)
    save_index(index, project.pk, key)
    sims, found = index.search(vectors, k + 1)
    del index  # the saved copy serves the next increment; the vectors stay for the rest
    neighbour_ids, neighbour_sims = neighbour_arrays(ids, sims, found, k)
    del sims, found

    positions, present = facts.positions(ids)
    real_mask = present & facts.real[positions]
    real_index = None
    if real_mask.any():
        # Every sample is searched against the real ones: a flat index of them costs
        # samples × real products, so past a budget of pairs it is an IVF index too.
        real_index = build_index(
            ids[real_mask],
            vectors[real_mask],
            exact_max=exact_max_for_queries(len(ids)),
            probe_share=REAL_INDEX_PROBE_SHARE,
        )
        save_index(real_index, project.pk, key + "--real")
    real_ids, real_sims = _nearest_real(ids, real_index, vectors)
    novelty = novelty_array(neighbour_ids, neighbour_sims, real_sims, facts)
    if progress:
        progress(0, len(ids), "clustering")
    cluster_ids, clusters, low = clusters_build(
        project=project,
        ids=ids,
        vectors=vectors,
        real_index=real_index,
        centroid_path=index_dir(project.pk, key) / "centroids.npy",
        facts=facts,
    )
    del facts, real_index
    scores = Scores(ids, neighbour_ids, neighbour_sims, novelty, real_ids, real_sims, cluster_ids)
    scores_write(project_id=project.pk, scores=scores, progress=progress)
    del scores, neighbour_ids, neighbour_sims, novelty, real_ids, real_sims, cluster_ids
    folder = index_dir(project.pk, key)
    (folder / "full_build_size").write_text(str(len(ids)))
    _scored_through_write(project.pk, key, int(ids.max()))
    embedding_map_build(project_id=project.pk, ids=ids, vectors=vectors)
    near, exact = duplicate_groups_rebuild(project_id=project.pk)
    return BuildSummary("full", len(ids), len(ids), near, exact, clusters, low)


def _incremental(project: Project, index: VectorIndex, key: str, progress: ProgressCallback | None) -> BuildSummary:
    model_name, text_kind = embedding_key(project)
    newest = int(index.ids.max()) if index.size else 0
    new_ids, new_vectors = vectors_load(
        project_id=project.pk, model_name=model_name, text_kind=text_kind, after_id=newest
    )
    k = project.similarity_top_k
    unclustered = 0
    neighbour_ids: list[int] = []
    if len(new_ids):
        index.add(new_ids, new_vectors)
        save_index(index, project.pk, key)
        sims, found = index.search(new_vectors, k + 1)
        neighbours = _neighbour_lists(new_ids, sims, found, k)
        facts = _facts(project, sample_ids=np.concatenate([new_ids, found[found >= 0]]))

        real_index = load_index(project.pk, key + "--real", probe_share=REAL_INDEX_PROBE_SHARE)
        new_real, _ = facts.lookup(new_ids)
        if new_real.any():
            if real_index is None:
                real_index = build_index(new_ids[new_real], new_vectors[new_real], probe_share=REAL_INDEX_PROBE_SHARE)
            else:
                real_index.add(new_ids[new_real], new_vectors[new_real])
            save_index(real_index, project.pk, key + "--real")
        real_ids, real_sims = _nearest_real(new_ids, real_index, new_vectors)
        novelty = _novelty(neighbours, real_sims, facts)
        clusters = nearest_cluster_ids(project, new_vectors, index_dir(project.pk, key) / "centroids.npy")
        unclustered = sum(cluster_id is None for cluster_id in clusters)
        rows = [
            _similarity_row(project, sample_id, neighbours[n], novelty[n], int(real_ids[n]), real_sims[n], clusters[n])
            for n, sample_id in enumerate(new_ids.tolist())
        ]
        rows += _patched_old_rows(project, new_ids, neighbours, set(new_ids[new_real].tolist()), k)
        _write_rows(project, rows, progress)
        _scored_through_write(project.pk, key, int(new_ids.max()))
        neighbour_ids = np.unique(found[found >= 0]).tolist()
        # The cards of the clusters that gained members describe their members now.
        clusters_describe_members(project=project, cluster_ids={c for c in clusters if c is not None})
        embedding_map_build(project_id=project.pk, ids=index.ids)
    near, exact = duplicate_groups_rebuild(project_id=project.pk, new_ids=new_ids.tolist(), neighbour_ids=neighbour_ids)
    project_clusters = Cluster.objects.filter(project=project)
    return BuildSummary(
        "incremental",
        index.size,
        len(new_ids),
        near,
        exact,
        project_clusters.count(),
        project_clusters.filter(is_low_novelty=True).count(),
        unclustered,
    )


def _patched_old_rows(
    project: Project, new_ids: np.ndarray, neighbours: list[list[list]], new_real: set[int], k: int
) -> list[SampleSimilarity]:
    """Older samples that a new one now sits next to: add it to their lists, and
    lower their novelty when the new sample is real and closer than their nearest real.
    new_real holds the new samples that are real."""
    incoming: dict[int, list[tuple[int, float]]] = {}
    new_set = set(new_ids.tolist())
    for new_id, entries in zip(new_ids.tolist(), neighbours):
        for old_id, similarity in entries:
            if old_id not in new_set:
                incoming.setdefault(old_id, []).append((new_id, similarity))
    rows = []
    old_rows = SampleSimilarity.objects.in_bulk(list(incoming))
    for old_id, additions in incoming.items():
        row = old_rows.get(old_id)
        if row is None:
            continue
        merged = {int(i): float(s) for i, s in row.neighbours}
        changed = False
        floor = min(merged.values()) if len(merged) >= k else -1.0
        for new_id, similarity in additions:
            if similarity > floor:
                merged[new_id] = similarity
                changed = True
            if new_id in new_real and (row.nearest_real_similarity is None or similarity > row.nearest_real_similarity):
                row.nearest_real_id, row.nearest_real_similarity = new_id, similarity
                row.novelty = round(min(row.novelty if row.novelty is not None else 1.0, 1.0 - similarity), 5)
                changed = True
        if changed:
            row.neighbours = [[i, s] for i, s in sorted(merged.items(), key=lambda e: -e[1])[:k]]
            row.top_similarity = row.neighbours[0][1] if row.neighbours else None
            rows.append(row)
    return rows
