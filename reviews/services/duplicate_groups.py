"""Exact and near-duplicate groups and templated-variant families, materialised from stored results.

They come from the stored neighbour lists and vectors alone, so changing the
project's threshold or variant rule regroups without embedding anything again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import Count

from generation.models import Sample
from reviews.models import (
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateGroupStatus,
    DuplicateKind,
    SampleSimilarity,
)
from reviews.services.embeddings import BoilerplateCache, embedding_key, embeddings_load
from reviews.similarity.grouping import (
    MemberFacts,
    TightGroup,
    farthest_point_order,
    group_signature,
    suggest_representative,
    tight_groups,
)
from reviews.similarity.slots import Slots, slots_of
from synthreview.projects.models import Project, VariantRule

# Members of a variant family ranked by diversity: enough for any keep count a reviewer picks on the card.
DIVERSITY_RANKED = 50


def similar_pairs(project: Project, threshold: float) -> dict[tuple[int, int], float]:
    """Every stored neighbour pair at or above the threshold, (smaller id, larger id) -> cosine."""
    rows = SampleSimilarity.objects.filter(project=project, top_similarity__gte=threshold).values_list(
        "sample_id", "neighbours"
    )
    pairs: dict[tuple[int, int], float] = {}
    for sample_id, neighbours in rows.iterator(chunk_size=5000):
        for neighbour_id, similarity in neighbours:
            if similarity < threshold:
                break  # nearest first
            if neighbour_id != sample_id:
                key = (sample_id, neighbour_id) if sample_id < neighbour_id else (neighbour_id, sample_id)
                pairs[key] = max(similarity, pairs.get(key, -1.0))
    return pairs


def exact_duplicate_sets(project: Project) -> list[list[int]]:
    """Samples with identical content: the same hash from different sources."""
    repeated = (
        Sample.objects.filter(project=project)
        .values("content_hash")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("content_hash", flat=True)
    )
    members: dict[str, list[int]] = {}
    for sample_id, digest in (
        Sample.objects.filter(project=project, content_hash__in=repeated)
        .values_list("id", "content_hash")
        .order_by("id")
    ):
        members.setdefault(digest, []).append(sample_id)
    return sorted(members.values(), key=lambda group: (-len(group), group[0]))


def exact_duplicate_sets_of(project: Project, new_ids: list[int], neighbour_ids: list[int]) -> list[list[int]] | None:
    """The exact sets that new samples joined or made, read without a scan of the project.

    Identical content embeds to the same vector, so a new sample's older copies are among
    its nearest neighbours (all of them, or at least k of them when more exist, and then
    they are one stored exact group already). Its set is the neighbours with its hash, the
    other members of the exact groups they belong to, and the new samples with its hash.
    None when a stored exact group lost a member by hand: its full set can only be
    recounted, so the caller falls back to exact_duplicate_sets."""
    new_set = set(new_ids)
    wanted = sorted(new_set | set(neighbour_ids))
    hash_of: dict[int, str] = {}
    for start in range(0, len(wanted), 5000):
        hash_of.update(
            Sample.objects.filter(project=project, pk__in=wanted[start : start + 5000]).values_list(
                "id", "content_hash"
            )
        )
    new_hashes = {hash_of[i] for i in new_ids if i in hash_of}
    members: dict[str, set[int]] = {}
    for sample_id, digest in hash_of.items():
        if digest in new_hashes:
            members.setdefault(digest, set()).add(sample_id)
    older = sorted({i for group in members.values() for i in group} - new_set)
    stored = dict(
        DuplicateGroup.objects.filter(project=project, kind=DuplicateKind.EXACT, members__sample_id__in=older)
        .values_list("pk", "size")
        .distinct()
    )
    group_members: dict[int, set[int]] = {}
    for group_id, sample_id in DuplicateGroupMember.objects.filter(group_id__in=list(stored)).values_list(
        "group_id", "sample_id"
    ):
        group_members.setdefault(group_id, set()).add(sample_id)
    if any(len(group_members.get(pk, ())) != size for pk, size in stored.items()):
        return None
    for group in group_members.values():
        for found in members.values():
            if found & group:
                found |= group
    return sorted(
        (sorted(found) for found in members.values() if len(found) > 1), key=lambda group: (-len(group), group[0])
    )


def sample_slots(project: Project, sample_ids: list[int]) -> dict[int, Slots]:
    """Slot values of what the project compares, read in chunks (only samples that have a partner)."""
    _, text_kind = embedding_key(project)
    boilerplates = BoilerplateCache()
    slots: dict[int, Slots] = {}
    for start in range(0, len(sample_ids), 2000):
        for sample_id, input_text, output_text, version_id in Sample.objects.filter(
            pk__in=sample_ids[start : start + 2000]
        ).values_list("id", "input", "output", "template_version_id"):
            slots[sample_id] = slots_of(
                input_text=input_text, output_text=output_text, kind=text_kind, boilerplate=boilerplates.get(version_id)
            )
    return slots


@dataclass(frozen=True)
class Regrouping:
    """The groups one rule makes from the stored neighbours, before they are stored."""

    near: list[TightGroup]
    variants: list[TightGroup]
    exact: list[list[int]]
    slots: dict[int, Slots]
    vectors: dict[int, np.ndarray]


def regrouping(project: Project, exact: list[list[int]] | None = None) -> Regrouping:
    """Pairs over the threshold whose slot values agree are near-duplicates; pairs whose
    slot values or answers differ are templated variants. Each kind is split into tight
    groups, so no member of a chain is dropped. `exact`: the exact sets an increment
    touched (exact_duplicate_sets_of); the others stand as stored."""
    threshold = project.near_duplicate_threshold
    if exact is None:
        exact = exact_duplicate_sets(project)
        exact_signatures = {group_signature(group) for group in exact}
    else:
        exact_signatures = set(
            DuplicateGroup.objects.filter(project=project, kind=DuplicateKind.EXACT).values_list("signature", flat=True)
        ) | {group_signature(group) for group in exact}
    pairs = similar_pairs(project, threshold)
    sample_ids = sorted({sample_id for pair in pairs for sample_id in pair})
    vectors = _member_vectors(project, sample_ids)
    slots = sample_slots(project, sample_ids) if project.variant_rule == VariantRule.SLOTS else {}
    near_edges, variant_edges = [], []
    for (a, b), similarity in pairs.items():
        if slots and slots[a].differs(slots[b]):
            variant_edges.append((a, b, similarity))
        else:
            near_edges.append((a, b, similarity))
    near = [
        group
        for group in tight_groups(near_edges, vectors, threshold)
        # A group that only repeats one exact set is shown once, as exact.
        if group_signature(group.members) not in exact_signatures
    ]
    return Regrouping(near, tight_groups(variant_edges, vectors, threshold), exact, slots, vectors)


def duplicate_groups_rebuild(
    *, project_id: int, new_ids: list[int] | None = None, neighbour_ids: list[int] | None = None
) -> tuple[int, int]:
    """Recompute every kind of group from the stored neighbours, without embedding again;
    returns (near groups, exact groups) found; variant families are counted on the page.
    After an increment, `new_ids` (its samples) and `neighbour_ids` (theirs) let the exact
    sets be patched where they joined, not recounted over the whole project."""
    project = Project.objects.get(pk=project_id)
    exact = None if new_ids is None else exact_duplicate_sets_of(project, new_ids, neighbour_ids or [])
    found = regrouping(project, exact)
    threshold = project.near_duplicate_threshold
    # An open group that the new rule finds under the other kind is converted, not deleted.
    elsewhere = {group_signature(group.members) for group in found.near + found.variants}
    with transaction.atomic():
        _store_groups(
            project,
            DuplicateKind.EXACT,
            [TightGroup(group) for group in found.exact],
            threshold=None,
            touching=None if exact is None else {i for group in exact for i in group},
        )
        _store_groups(
            project, DuplicateKind.NEAR, found.near, threshold=threshold, vectors=found.vectors, elsewhere=elsewhere
        )
        _store_groups(
            project,
            DuplicateKind.VARIANT,
            found.variants,
            threshold=threshold,
            vectors=found.vectors,
            slots=found.slots,
            keep=project.variant_keep_max,
            elsewhere=elsewhere,
        )
    if exact is None:
        return len(found.near), len(found.exact)
    return len(found.near), DuplicateGroup.objects.filter(project=project, kind=DuplicateKind.EXACT).count()


def _member_facts(member_ids: list[int]) -> dict[int, MemberFacts]:
    return {
        sample_id: MemberFacts(sample_id, origin, status)
        for sample_id, origin, status in Sample.objects.filter(pk__in=member_ids).values_list("id", "origin", "status")
    }


def _store_groups(
    project: Project,
    kind: str,
    groups: list[TightGroup],
    *,
    threshold: float | None,
    vectors: dict[int, np.ndarray] | None = None,
    slots: dict[int, Slots] | None = None,
    keep: int = 1,
    elsewhere: set[str] | frozenset[str] = frozenset(),
    touching: set[int] | None = None,
) -> None:
    """Store `groups` of one kind. `touching`: the groups are only those these samples are in;
    stored groups without any of them stand."""
    vectors = vectors or {}
    signatures = {group_signature(group.members): group for group in groups}
    stored = DuplicateGroup.objects.filter(project=project, kind=kind)
    if touching is not None:
        stored = stored.filter(members__sample_id__in=sorted(touching)).distinct()
    existing = {g.signature: g for g in stored}
    # Open groups that no longer exist go; reviewers' decisions on resolved ones stay as history.
    stale = [
        g.pk
        for sig, g in existing.items()
        if sig not in signatures and sig not in elsewhere and g.status == DuplicateGroupStatus.OPEN
    ]
    DuplicateGroup.objects.filter(pk__in=stale).delete()
    new_groups = {sig: group for sig, group in signatures.items() if sig not in existing}
    if not new_groups:
        return
    # The same members under another kind (a near group of variants, before the variant rule):
    # the row changes kind and keeps its id and any decision on it.
    converted = {
        g.signature: g
        for g in DuplicateGroup.objects.filter(project=project, signature__in=list(new_groups)).exclude(
            kind__in=[kind, DuplicateKind.EXACT]
        )
    }
    member_ids = sorted({sample_id for group in new_groups.values() for sample_id in group.members})
    facts = _member_facts(member_ids)
    created: list[DuplicateGroup] = []
    created_members: list[list[DuplicateGroupMember]] = []
    for signature, group in new_groups.items():
        representative, reason = suggest_representative([facts[i] for i in group.members])
        similarities = {
            i: (
                1.0
                if kind == DuplicateKind.EXACT or i not in vectors or representative not in vectors
                else float(np.dot(vectors[i], vectors[representative]))
            )
            for i in group.members
        }
        notes = {
            i: f"joined through #{partner} ({similarity:.3f})"
            for i, (partner, similarity) in group.joined_through.items()
        }
        one = len(notes) == 1
        group_note = (
            f"{len(notes)} member{'' if one else 's'} joined for a single partner above the threshold "
            f"and {'lies' if one else 'lie'} further from the rest; {'it says' if one else 'each says'} "
            "through whom."
            if notes
            else ""
        )
        ranks: dict[int, int] = {}
        if kind == DuplicateKind.VARIANT and slots:
            ranks = _diversity_ranks(group.members, representative, vectors, keep)
            notes = {i: slots[i].describe()[:200] for i in group.members if i in slots}
            group_note = variant_note(group.members, slots)
        row = converted.get(signature)
        members = group.members
        if row is not None:
            # Members split off by a reviewer stay off, as they do for a group found again.
            kept_members = set(DuplicateGroupMember.objects.filter(group=row).values_list("sample_id", flat=True))
            members = [i for i in members if i in kept_members]
            if row.status == DuplicateGroupStatus.OPEN and representative in kept_members:
                row.representative_id, row.representative_reason = representative, reason
            row.kind, row.note, row.threshold = kind, group_note, threshold
            row.min_similarity = min(similarities[i] for i in members)
            row.save(
                update_fields=["kind", "note", "threshold", "min_similarity", "representative", "representative_reason"]
            )
            DuplicateGroupMember.objects.filter(group=row).delete()
        else:
            row = DuplicateGroup(
                project=project,
                kind=kind,
                signature=signature,
                size=len(group.members),
                min_similarity=min(similarities.values()),
                threshold=threshold,
                representative_id=representative,
                representative_reason=reason,
                note=group_note,
            )
            created.append(row)
        created_members.append(
            [
                DuplicateGroupMember(
                    group=row,
                    sample_id=i,
                    similarity=similarities[i],
                    note=notes.get(i, ""),
                    diversity_rank=ranks.get(i),
                )
                for i in members
            ]
        )
    # One INSERT for the new groups and one for all their members, however many groups appear.
    DuplicateGroup.objects.bulk_create(created, batch_size=1000)
    for members_of_group in created_members:
        for member in members_of_group:
            member.group_id = member.group.pk
    DuplicateGroupMember.objects.bulk_create(
        [member for members_of_group in created_members for member in members_of_group], batch_size=2000
    )


def variant_note(members: list[int], slots: dict[int, Slots]) -> str:
    """What differs across the family: the kinds of slot that take more than one value."""
    differing = [
        label
        for label, values in (
            ("numbers", {slots[i].numbers for i in members if i in slots}),
            ("names", {slots[i].names for i in members if i in slots}),
            ("literals", {slots[i].literals for i in members if i in slots}),
            ("answers", {slots[i].answer for i in members if i in slots}),
        )
        if len(values) > 1
    ]
    return (
        "One skeleton with different " + ", ".join(differing) + ": each member is its own problem, "
        "so keep the most diverse few rather than one."
    )


def _diversity_ranks(
    members: list[int], representative: int, vectors: dict[int, np.ndarray], keep: int
) -> dict[int, int]:
    """Farthest-point order from the suggested keeper, ranked as far as a reviewer would keep."""
    with_vectors = [i for i in members if i in vectors]
    if representative not in vectors:
        return {}
    matrix = np.stack([vectors[i] for i in with_vectors]).astype(np.float32)
    order = farthest_point_order(matrix, first=with_vectors.index(representative), limit=max(keep, DIVERSITY_RANKED))
    return {with_vectors[position]: rank for rank, position in enumerate(order)}


def _member_vectors(project: Project, member_ids: list[int]) -> dict[int, np.ndarray]:
    model_name, text_kind = embedding_key(project)
    vectors: dict[int, np.ndarray] = {}
    for start in range(0, len(member_ids), 5000):
        ids, matrix = embeddings_load(
            project_id=project.pk,
            model_name=model_name,
            text_kind=text_kind,
            sample_ids=member_ids[start : start + 5000],
        )
        vectors.update(zip(ids.tolist(), matrix))
    return vectors
