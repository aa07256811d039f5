"""k-means clusters over a project's embeddings, with what a reviewer needs to
judge each one: size, density, mix, a label and the distance to real data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import faiss
import numpy as np
from django.db import transaction

from generation.models import Project, Sample
from reviews.models import Cluster
from reviews.similarity.grouping import (
    cluster_count,
    distinctive_terms,
    is_low_novelty,
    words,
)
from reviews.similarity.index import VectorIndex

# Texts read per cluster for its label, and for the project's word frequencies.
LABEL_TEXTS_PER_CLUSTER = 60
LABEL_BACKGROUND_TEXTS = 5000


def kmeans_centroids(vectors: np.ndarray, k: int, *, seed: int = 1234) -> np.ndarray:
    kmeans = faiss.Kmeans(vectors.shape[1], k, niter=20, seed=seed, spherical=True, verbose=False)
    kmeans.train(vectors)
    return kmeans.centroids.astype(np.float32)


def assign(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each vector, and the cosine similarity to it."""
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(centroids)
    sims, rows = index.search(vectors, 1)
    return rows[:, 0], sims[:, 0]


def clusters_build(*, project: Project, ids: np.ndarray, vectors: np.ndarray, real_index: VectorIndex | None,
                   centroid_path: Path) -> tuple[dict[int, int], int, int]:
    """Cluster, describe and store; returns ({sample id: cluster pk}, clusters, low-novelty clusters)."""
    k = cluster_count(len(ids))
    if k < 2:
        with transaction.atomic():
            Cluster.objects.filter(project=project).delete()
        return {}, 0, 0
    centroids = kmeans_centroids(vectors, k)
    labels, similarity_to_centroid = assign(vectors, centroids)
    normalised = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    centroid_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(centroid_path, normalised)

    facts = dict(
        (sample_id, (origin, generator, template))
        for sample_id, origin, generator, template in Sample.objects.filter(project=project).values_list(
            "id", "origin", "generator__name", "template_version__template__name").iterator(chunk_size=20000)
    )
    real_distance = None
    if real_index is not None and real_index.size:
        real_sims, _ = real_index.search(normalised, 1)
        real_distance = 1.0 - real_sims[:, 0]

    rng = np.random.default_rng(1234)
    background = _label_background(project, ids, rng)
    rows: list[Cluster] = []
    members_by_cluster: list[np.ndarray] = []
    for number in range(k):
        positions = np.flatnonzero(labels == number)
        if not len(positions):
            continue
        member_ids = ids[positions]
        origins = Counter(facts[int(i)][0] for i in member_ids)
        synthetic_share = origins.get("synthetic", 0) / len(member_ids)
        density = float(similarity_to_centroid[positions].mean())
        distance = None if real_distance is None else float(real_distance[number])
        low, reason = is_low_novelty(
            density=density, synthetic_share=synthetic_share, real_distance=distance,
            min_density=project.low_novelty_min_density,
            min_synthetic_share=project.low_novelty_min_synthetic_share,
            far_distance=project.low_novelty_far_distance,
        )
        sampled = rng.choice(member_ids, size=min(len(member_ids), LABEL_TEXTS_PER_CLUSTER), replace=False)
        label_texts = [f"{a} {b}" for a, b in Sample.objects.filter(pk__in=sampled.tolist()).values_list(
            "input", "output")]
        rows.append(Cluster(
            project=project, number=number, size=len(member_ids), density=density,
            synthetic_share=synthetic_share, real_anchor_distance=distance,
            label=" · ".join(distinctive_terms(label_texts, background[0], background[1]))[:200],
            generator_mix=dict(Counter(facts[int(i)][1] or "real" for i in member_ids).most_common()),
            template_mix=dict(Counter(facts[int(i)][2] or "—" for i in member_ids).most_common()),
            is_low_novelty=low, low_novelty_reason=reason,
        ))
        members_by_cluster.append(member_ids)
    with transaction.atomic():
        Cluster.objects.filter(project=project).delete()
        Cluster.objects.bulk_create(rows)
    cluster_of: dict[int, int] = {}
    for row, member_ids in zip(rows, members_by_cluster):
        for sample_id in member_ids.tolist():
            cluster_of[sample_id] = row.pk
    return cluster_of, len(rows), sum(row.is_low_novelty for row in rows)


def _label_background(project: Project, ids: np.ndarray, rng: np.random.Generator) -> tuple[Counter[str], int]:
    sampled = rng.choice(ids, size=min(len(ids), LABEL_BACKGROUND_TEXTS), replace=False).tolist()
    texts = Sample.objects.filter(project=project, pk__in=sampled).values_list("input", "output")
    frequency: Counter[str] = Counter()
    count = 0
    for input_text, output_text in texts:
        frequency.update(set(words(f"{input_text} {output_text}")))
        count += 1
    return frequency, count


def nearest_cluster_ids(project: Project, vectors: np.ndarray, centroid_path: Path) -> list[int | None]:
    """For samples added since the last full build: the cluster of their nearest centroid."""
    if not centroid_path.is_file():
        return [None] * len(vectors)
    centroids = np.load(centroid_path)
    numbers, _ = assign(vectors, centroids)
    by_number = dict(Cluster.objects.filter(project=project).values_list("number", "pk"))
    return [by_number.get(int(n)) for n in numbers]
