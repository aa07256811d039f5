"""Pure functions behind groups and clusters: no database, easy to test."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


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


def distinctive_terms(cluster_texts: Sequence[str], document_frequency: Counter[str], documents: int,
                      count: int = 4) -> list[str]:
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


def is_low_novelty(*, density: float, synthetic_share: float, real_distance: float | None,
                   min_density: float, min_synthetic_share: float, far_distance: float) -> tuple[bool, str]:
    if density >= min_density and synthetic_share >= min_synthetic_share:
        return True, f"dense ({density:.2f}) and {synthetic_share:.0%} synthetic"
    if real_distance is not None and real_distance >= far_distance:
        return True, f"far from real data (distance {real_distance:.2f})"
    return False, ""
