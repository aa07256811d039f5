"""k-means clusters over a project's embeddings, with what a reviewer needs to
judge each one: size, density, mix, a label and the distance to real data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from django.db import transaction
from django.db.models import Count

from generation.models import Generator, PromptTemplate, Sample
from reviews.models import Cluster, SampleSimilarity
from reviews.services.similarity_io import SampleFacts, sample_facts_load
from reviews.similarity.grouping import (
    cluster_count,
    distinctive_terms,
    is_low_novelty,
    words,
)
from reviews.similarity.index import VectorIndex
from reviews.similarity.kmeans import assign, kmeans_centroids
from reviews.similarity.membership import EMPTY, MemberSet, member_sets
from synthreview.projects.models import Project

# Texts read per cluster for its label, and for the project's word frequencies.
LABEL_TEXTS_PER_CLUSTER = 60
LABEL_BACKGROUND_TEXTS = 5000
# A sample added after the fit joins its nearest cluster only if its cosine distance to the
# centre is at most JOIN_SLACK times the distance within which 95% of the cluster's own
# members lay at the fit (the farthest 5%, outliers k-means had to place somewhere, do not
# widen it). Twice lets in a reworded member of a tight cluster; a sample from another
# topic, far from every centre, waits unclustered for the next refit.
JOIN_PERCENTILE = 5.0
JOIN_SLACK = 2.0


def clusters_build(
    *,
    project: Project,
    ids: np.ndarray,
    vectors: np.ndarray,
    real_index: VectorIndex | None,
    centroid_path: Path,
    facts: SampleFacts | None = None,
) -> tuple[np.ndarray, int, int]:
    """Cluster, describe and store; returns (each sample's cluster pk, aligned with ids, -1 for
    none; clusters; low-novelty clusters). `facts`: the project's, when the caller has them."""
    cluster_ids = np.full(len(ids), -1, dtype=np.int64)
    k = cluster_count(len(ids))
    if k < 2:
        with transaction.atomic():
            Cluster.objects.filter(project=project).delete()
        return cluster_ids, 0, 0
    centroids = kmeans_centroids(vectors, k)
    labels, similarity_to_centroid = assign(vectors, centroids)
    normalised = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    centroid_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(centroid_path, normalised)
    # Members of each cluster as one slice of a sort by cluster, not k scans of every label.
    by_cluster = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[by_cluster], np.arange(k + 1))
    floors = np.full(k, np.inf, dtype=np.float32)  # an empty cluster takes no one
    for number in range(k):
        positions = by_cluster[bounds[number] : bounds[number + 1]]
        if len(positions):
            inner = np.percentile(similarity_to_centroid[positions], JOIN_PERCENTILE)
            floors[number] = 1.0 - JOIN_SLACK * (1.0 - inner)
    np.save(_floor_path(centroid_path), floors)

    facts = facts if facts is not None else sample_facts_load(project_id=project.pk)
    fact_rows, present = facts.positions(ids)
    synthetic = present & ~facts.real[fact_rows]
    generator_of = np.where(present, facts.generator[fact_rows], 0)
    template_of = np.where(present, facts.template[fact_rows], 0)
    generator_names = dict(Generator.objects.filter(project=project).values_list("pk", "name"))
    template_names = dict(PromptTemplate.objects.filter(project=project).values_list("pk", "name"))
    real_distance = None
    if real_index is not None and real_index.size:
        real_sims, _ = real_index.search(normalised, 1)
        real_distance = 1.0 - real_sims[:, 0]

    rng = np.random.default_rng(1234)
    background = _label_background(project, ids, rng)
    rows: list[Cluster] = []
    members_by_cluster: list[np.ndarray] = []
    for number in range(k):
        positions = np.sort(by_cluster[bounds[number] : bounds[number + 1]])
        if not len(positions):
            continue
        member_ids = ids[positions]
        synthetic_share = float(synthetic[positions].mean())
        density = float(similarity_to_centroid[positions].mean())
        distance = None if real_distance is None else float(real_distance[number])
        low, reason = is_low_novelty(
            density=density,
            synthetic_share=synthetic_share,
            real_distance=distance,
            min_density=project.low_novelty_min_density,
            min_synthetic_share=project.low_novelty_min_synthetic_share,
            far_distance=project.low_novelty_far_distance,
        )
        sampled = rng.choice(member_ids, size=min(len(member_ids), LABEL_TEXTS_PER_CLUSTER), replace=False)
        label_texts = [
            f"{a} {b}" for a, b in Sample.objects.filter(pk__in=sampled.tolist()).values_list("input", "output")
        ]
        rows.append(
            Cluster(
                project=project,
                number=number,
                size=len(member_ids),
                density=density,
                synthetic_share=synthetic_share,
                real_anchor_distance=distance,
                label=" · ".join(distinctive_terms(label_texts, background[0], background[1]))[:200],
                generator_mix=_mix(generator_of[positions], generator_names, "real"),
                template_mix=_mix(template_of[positions], template_names, "—"),
                is_low_novelty=low,
                low_novelty_reason=reason,
                membership=MemberSet.of(member_ids.tolist()).token,
            )
        )
        members_by_cluster.append(positions)
    with transaction.atomic():
        Cluster.objects.filter(project=project).delete()
        Cluster.objects.bulk_create(rows)
    for row, positions in zip(rows, members_by_cluster):
        cluster_ids[positions] = row.pk
    return cluster_ids, len(rows), sum(row.is_low_novelty for row in rows)


def _mix(keys: np.ndarray, names: dict[int, str], missing: str) -> dict[str, int]:
    """{name: members}, largest first, from the members' generator or template ids (0: none)."""
    values, counts = np.unique(keys, return_counts=True)
    mix: Counter[str] = Counter()
    for value, count in zip(values.tolist(), counts.tolist()):
        mix[names.get(value, missing) if value else missing] += count
    return dict(mix.most_common())


def _label_background(project: Project, ids: np.ndarray, rng: np.random.Generator) -> tuple[Counter[str], int]:
    sampled = rng.choice(ids, size=min(len(ids), LABEL_BACKGROUND_TEXTS), replace=False).tolist()
    texts = Sample.objects.filter(project=project, pk__in=sampled).values_list("input", "output")
    frequency: Counter[str] = Counter()
    count = 0
    for input_text, output_text in texts:
        frequency.update(set(words(f"{input_text} {output_text}")))
        count += 1
    return frequency, count


def _floor_path(centroid_path: Path) -> Path:
    return centroid_path.with_name("cluster_floors.npy")


def nearest_cluster_ids(project: Project, vectors: np.ndarray, centroid_path: Path) -> list[int | None]:
    """For samples added since the last full build: the cluster of their nearest centroid, or None
    when they lie farther from it than the cluster's members did (see JOIN_SLACK); those
    wait, unclustered, for the next refit."""
    if not centroid_path.is_file():
        return [None] * len(vectors)
    centroids = np.load(centroid_path)
    numbers, similarities = assign(vectors, centroids)
    floor_path = _floor_path(centroid_path)
    # Centroids fitted before floors were kept admit the nearest, as they did, until the next refit.
    floors = np.load(floor_path) if floor_path.is_file() else np.full(len(centroids), -np.inf, dtype=np.float32)
    by_number = dict(Cluster.objects.filter(project=project).values_list("number", "pk"))
    return [
        by_number.get(int(n)) if similarity >= floors[n] else None
        for n, similarity in zip(numbers.tolist(), similarities.tolist())
    ]


def clusters_describe_members(*, project: Project, cluster_ids: set[int]) -> None:
    """Size, synthetic share, generator and template mix and the membership token of these
    clusters, from their members now: a few grouped queries over those clusters' rows,
    however many there are, then one bulk update."""
    if not cluster_ids:
        return
    members = SampleSimilarity.objects.filter(project=project, cluster_id__in=sorted(cluster_ids))
    sets = member_sets(members, by="cluster_id", member="sample_id")
    mixes: dict[str, dict[int, Counter[str]]] = {}
    for name, field, missing in (
        ("origin", "sample__origin", ""),
        ("generator", "sample__generator__name", "real"),
        ("template", "sample__template_version__template__name", "—"),
    ):
        mix = mixes[name] = {}
        for row in members.order_by().values("cluster_id", field).annotate(n=Count("sample_id")):
            mix.setdefault(row["cluster_id"], Counter())[row[field] or missing] += row["n"]
    with transaction.atomic():
        clusters = list(Cluster.objects.select_for_update().filter(project=project, pk__in=sorted(cluster_ids)))
        for cluster in clusters:
            found = sets.get(cluster.pk, EMPTY)
            cluster.size, cluster.membership = found.count, found.token
            origins = mixes["origin"].get(cluster.pk, Counter())
            cluster.synthetic_share = origins.get("synthetic", 0) / max(found.count, 1)
            cluster.generator_mix = dict(mixes["generator"].get(cluster.pk, Counter()).most_common())
            cluster.template_mix = dict(mixes["template"].get(cluster.pk, Counter()).most_common())
            cluster.is_low_novelty, cluster.low_novelty_reason = is_low_novelty(
                density=cluster.density,
                synthetic_share=cluster.synthetic_share,
                real_distance=cluster.real_anchor_distance,
                min_density=project.low_novelty_min_density,
                min_synthetic_share=project.low_novelty_min_synthetic_share,
                far_distance=project.low_novelty_far_distance,
            )
        Cluster.objects.bulk_update(
            clusters,
            [
                "size",
                "membership",
                "synthetic_share",
                "generator_mix",
                "template_mix",
                "is_low_novelty",
                "low_novelty_reason",
            ],
        )
