"""Exact and near-duplicate groups, materialised from stored results.

Near-duplicate groups come from the stored neighbour lists alone, so changing the
project's threshold regroups without embedding anything again.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction
from django.db.models import Count

from generation.models import Project, Sample
from reviews.models import (
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateGroupStatus,
    DuplicateKind,
    SampleSimilarity,
)
from reviews.similarity.embeddings import embedding_key, embeddings_load
from reviews.similarity.grouping import (
    MemberFacts,
    group_signature,
    groups_from_pairs,
    suggest_representative,
)


def near_duplicate_pairs(project: Project, threshold: float) -> list[tuple[int, int]]:
    rows = SampleSimilarity.objects.filter(project=project, top_similarity__gte=threshold).values_list(
        "sample_id", "neighbours")
    pairs = []
    for sample_id, neighbours in rows.iterator(chunk_size=5000):
        for neighbour_id, similarity in neighbours:
            if similarity < threshold:
                break  # nearest first
            pairs.append((sample_id, neighbour_id))
    return pairs


def exact_duplicate_sets(project: Project) -> list[list[int]]:
    """Samples with identical content: the same hash from different sources."""
    repeated = (
        Sample.objects.filter(project=project).values("content_hash").annotate(n=Count("id")).filter(n__gt=1)
        .values_list("content_hash", flat=True)
    )
    members: dict[str, list[int]] = {}
    for sample_id, digest in Sample.objects.filter(project=project, content_hash__in=repeated).values_list(
            "id", "content_hash").order_by("id"):
        members.setdefault(digest, []).append(sample_id)
    return sorted(members.values(), key=lambda group: (-len(group), group[0]))


def duplicate_groups_rebuild(*, project_id: int) -> tuple[int, int]:
    """Recompute both kinds of group; returns (near groups, exact groups) now open or kept."""
    project = Project.objects.get(pk=project_id)
    exact = exact_duplicate_sets(project)
    exact_sets = {frozenset(group) for group in exact}
    near = [
        group for group in _without_chains(project, groups_from_pairs(
            near_duplicate_pairs(project, project.near_duplicate_threshold)), project.near_duplicate_threshold)
        # A group that only repeats one exact set is shown once, as exact.
        if frozenset(group) not in exact_sets
    ]
    with transaction.atomic():
        _store_groups(project, DuplicateKind.EXACT, exact, threshold=None)
        _store_groups(project, DuplicateKind.NEAR, near, threshold=project.near_duplicate_threshold)
    return len(near), len(exact)


def _without_chains(project: Project, groups: list[list[int]], threshold: float) -> list[list[int]]:
    """Linked pairs chain: a ~ b ~ c can join samples that share little. Keep in
    each group only the members at or above the threshold from its representative,
    so every sample a reviewer rejects is close to the one kept."""
    member_ids = sorted({i for group in groups for i in group})
    if not member_ids:
        return []
    facts = _member_facts(member_ids)
    vectors = _member_vectors(project, member_ids)
    kept = []
    for group in groups:
        representative, _ = suggest_representative([facts[i] for i in group])
        if representative not in vectors:
            continue
        close = [i for i in group if i == representative
                 or (i in vectors and float(np.dot(vectors[i], vectors[representative])) >= threshold)]
        if len(close) > 1:
            kept.append(close)
    return sorted(kept, key=lambda group: (-len(group), group[0]))


def _member_facts(member_ids: list[int]) -> dict[int, MemberFacts]:
    return {
        sample_id: MemberFacts(sample_id, origin, status)
        for sample_id, origin, status in Sample.objects.filter(pk__in=member_ids).values_list("id", "origin", "status")
    }


def _store_groups(project: Project, kind: str, groups: list[list[int]], *, threshold: float | None) -> None:
    signatures = {group_signature(group): group for group in groups}
    existing = {g.signature: g for g in DuplicateGroup.objects.filter(project=project, kind=kind)}
    # Open groups that no longer exist go; reviewers' decisions on resolved ones stay as history.
    stale = [g.pk for sig, g in existing.items() if sig not in signatures and g.status == DuplicateGroupStatus.OPEN]
    DuplicateGroup.objects.filter(pk__in=stale).delete()
    new_groups = {sig: group for sig, group in signatures.items() if sig not in existing}
    if not new_groups:
        return
    member_ids = sorted({sample_id for group in new_groups.values() for sample_id in group})
    facts = _member_facts(member_ids)
    vectors = _member_vectors(project, member_ids) if kind == DuplicateKind.NEAR else {}
    for signature, group in new_groups.items():
        representative, reason = suggest_representative([facts[i] for i in group])
        similarities = {
            i: (1.0 if kind == DuplicateKind.EXACT or i not in vectors or representative not in vectors
                else float(np.dot(vectors[i], vectors[representative])))
            for i in group
        }
        row = DuplicateGroup.objects.create(
            project=project, kind=kind, signature=signature, size=len(group),
            min_similarity=min(similarities.values()), threshold=threshold,
            representative_id=representative, representative_reason=reason,
        )
        DuplicateGroupMember.objects.bulk_create(
            [DuplicateGroupMember(group=row, sample_id=i, similarity=similarities[i]) for i in group]
        )


def _member_vectors(project: Project, member_ids: list[int]) -> dict[int, np.ndarray]:
    model_name, text_kind = embedding_key(project)
    vectors: dict[int, np.ndarray] = {}
    for start in range(0, len(member_ids), 5000):
        ids, matrix = embeddings_load(project_id=project.pk, model_name=model_name, text_kind=text_kind,
                                      sample_ids=member_ids[start:start + 5000])
        vectors.update(zip(ids.tolist(), matrix))
    return vectors
