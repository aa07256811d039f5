"""Pure functions behind groups and clusters: no database, easy to test."""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        parent = self.parent.setdefault(item, item)
        if parent != item:
            root = self.find(parent)
            self.parent[item] = root
            return root
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            # The smaller id becomes the root, so results do not depend on pair order.
            if root_b < root_a:
                root_a, root_b = root_b, root_a
            self.parent[root_b] = root_a

    def groups(self) -> list[list[int]]:
        members: dict[int, list[int]] = {}
        for item in self.parent:
            members.setdefault(self.find(item), []).append(item)
        return [sorted(group) for group in members.values() if len(group) > 1]


def groups_from_pairs(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    union_find = UnionFind()
    for a, b in pairs:
        if a != b:
            union_find.union(a, b)
    return sorted(union_find.groups(), key=lambda group: (-len(group), group[0]))


@dataclass
class TightGroup:
    members: list[int]
    # A member whose own cluster was a singleton joins its closest partner's group:
    # member -> (that partner, their similarity), so the card can say why it is there.
    joined_through: dict[int, tuple[int, float]] = field(default_factory=dict)


def tight_groups(
    edges: Iterable[tuple[int, int, float]], vectors: Mapping[int, np.ndarray], threshold: float
) -> list[TightGroup]:
    """Split linked pairs into tight groups instead of chaining them: average-link
    agglomeration, merging only clusters joined by an above-threshold pair, while the
    mean similarity over all their cross pairs stays at or above the threshold.

    For unit vectors the sum of all cross-pair dot products is the dot product of the
    two clusters' vector sums, so the mean linkage is exact and costs one dot product
    per candidate merge: no component ever needs its full similarity matrix. A sample
    left on its own (every partner's cluster too loose with it) joins the group of its
    closest partner, so no sample with a partner above the threshold is left out.
    """
    partners: dict[int, dict[int, float]] = {}
    for a, b, similarity in edges:
        if a == b:
            continue
        partners.setdefault(a, {})[b] = max(similarity, partners.get(a, {}).get(b, -1.0))
        partners.setdefault(b, {})[a] = max(similarity, partners.get(b, {}).get(a, -1.0))
    samples = sorted(partners)
    if not samples:
        return []
    cluster_of = {sample: n for n, sample in enumerate(samples)}
    members: dict[int, list[int]] = {n: [sample] for n, sample in enumerate(samples)}
    dimension = next((len(v) for v in vectors.values()), 0)
    sums: dict[int, np.ndarray] = {
        n: (np.asarray(vectors[sample], dtype=np.float64) if sample in vectors else np.zeros(dimension))
        for n, sample in enumerate(samples)
    }
    adjacent: dict[int, set[int]] = {n: {cluster_of[p] for p in partners[s]} for n, s in enumerate(samples)}
    heap: list[tuple[float, int, int]] = []
    for n, sample in enumerate(samples):
        for partner, similarity in partners[sample].items():
            m = cluster_of[partner]
            # Without a vector, the stored similarity is the only measure there is.
            linkage = float(sums[n] @ sums[m]) if sample in vectors and partner in vectors else similarity
            if n < m and linkage >= threshold:
                heap.append((-linkage, n, m))
    heapq.heapify(heap)
    next_id = len(samples)
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # one side has merged since: its new cluster has entries of its own
        merged = next_id
        next_id += 1
        members[merged] = members.pop(a) + members.pop(b)
        sums[merged] = sums.pop(a) + sums.pop(b)
        adjacent[merged] = (adjacent.pop(a) | adjacent.pop(b)) - {a, b}
        size = len(members[merged])
        for other in adjacent[merged]:
            adjacent[other].discard(a)
            adjacent[other].discard(b)
            adjacent[other].add(merged)
            linkage = float(sums[merged] @ sums[other]) / (size * len(members[other]))
            if linkage >= threshold:
                heapq.heappush(heap, (-linkage, other, merged))
    group_of = {sample: cluster for cluster, group in members.items() for sample in group}
    joined: dict[int, dict[int, tuple[int, float]]] = {}
    for cluster, group in list(members.items()):
        if len(group) != 1:
            continue
        sample = group[0]
        partner, similarity = max(partners[sample].items(), key=lambda item: (item[1], -item[0]))
        target = group_of[partner]
        if target == cluster:
            continue
        members[target].append(sample)
        joined.setdefault(target, {})[sample] = (partner, similarity)
        del members[cluster]
        group_of[sample] = target
    result = [
        TightGroup(sorted(group), joined.get(cluster, {})) for cluster, group in members.items() if len(group) > 1
    ]
    return sorted(result, key=lambda group: (-len(group.members), group.members[0]))


def farthest_point_order(vectors: np.ndarray, first: int = 0, limit: int | None = None) -> list[int]:
    """Row indices, most diverse first: start at `first`, then repeatedly the row
    farthest (lowest best similarity) from every row chosen so far (Gonzalez 1985)."""
    count = len(vectors)
    if count == 0:
        return []
    limit = count if limit is None else min(limit, count)
    order = [first]
    closest = vectors @ vectors[first]
    closest[first] = np.inf
    while len(order) < limit:
        chosen = int(np.argmin(closest))
        order.append(chosen)
        closest = np.maximum(closest, vectors @ vectors[chosen])
        closest[order] = np.inf
    return order


def group_signature(member_ids: Sequence[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(member_ids)).encode()).hexdigest()


@dataclass(frozen=True)
class MemberFacts:
    sample_id: int
    origin: str
    status: str


def suggest_representative(members: Sequence[MemberFacts]) -> tuple[int, str]:
    """Which member to keep, and why: one a reviewer accepted already, else a real
    sample, else the earliest (the others are its copies)."""
    ordered = sorted(members, key=lambda member: member.sample_id)
    for member in ordered:
        if member.status == "accepted":
            return member.sample_id, "accepted already"
    for member in ordered:
        if member.origin == "real":
            return member.sample_id, "real sample"
    return ordered[0].sample_id, "earliest sample"


def cluster_count(samples: int) -> int:
    """k = √(n/2), the rule of thumb (Mardia et al. 1979), from 2 up to 500 so
    k-means stays minutes, not hours, at a million samples on two cores."""
    if samples < 4:
        return 1
    return max(2, min(500, round(math.sqrt(samples / 2))))


_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset(
    "the and for that this with from are was were you your have has had not but can will what which who how "
    "when where why all any each its into than then them they their there these those our out use using one two "
    "more most some such only also may might should would could about after before over under between into "
    "input output answer question give write following given".split()
)


def words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP]


def distinctive_terms(
    cluster_texts: Sequence[str], document_frequency: Counter[str], documents: int, count: int = 4
) -> list[str]:
    """The cluster's most distinctive words: frequent in it, rare in the project (tf·idf)."""
    term_counts: Counter[str] = Counter()
    for text in cluster_texts:
        term_counts.update(set(words(text)))
    scored = [
        (tf * math.log((1 + documents) / (1 + document_frequency.get(term, 0))), term)
        for term, tf in term_counts.items()
        if tf >= 2 or len(cluster_texts) < 3
    ]
    return [term for _, term in sorted(scored, key=lambda item: (-item[0], item[1]))[:count]]


def is_low_novelty(
    *,
    density: float,
    synthetic_share: float,
    real_distance: float | None,
    min_density: float,
    min_synthetic_share: float,
    far_distance: float,
) -> tuple[bool, str]:
    if density >= min_density and synthetic_share >= min_synthetic_share:
        return True, f"dense ({density:.2f}) and {synthetic_share:.0%} synthetic"
    if real_distance is not None and real_distance >= far_distance:
        return True, f"far from real data (distance {real_distance:.2f})"
    return False, ""
