"""How far a faster model's vectors move the near-duplicate groups: pure functions on vectors."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from reviews.similarity.grouping import tight_groups


def near_duplicate_groups(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """The similarity build's tight groups over every pair at or above threshold (exact, all pairs)."""
    similarities = vectors @ vectors.T
    rows, columns = np.nonzero(np.triu(similarities >= threshold, k=1))
    edges = [(int(a), int(b), float(similarities[a, b])) for a, b in zip(rows, columns, strict=True)]
    by_row = {index: vectors[index] for index in range(len(vectors))}
    return [group.members for group in tight_groups(edges, by_row, threshold)]


def group_agreement_f1(reference: Sequence[Sequence[int]], candidate: Sequence[Sequence[int]]) -> float:
    """F1 over pairs put in one group: 1.0 when both groupings link exactly the same pairs."""
    reference_pairs = _same_group_pairs(reference)
    candidate_pairs = _same_group_pairs(candidate)
    if not reference_pairs and not candidate_pairs:
        return 1.0
    shared = len(reference_pairs & candidate_pairs)
    return 2 * shared / (len(reference_pairs) + len(candidate_pairs))


def _same_group_pairs(groups: Sequence[Sequence[int]]) -> set[tuple[int, int]]:
    return {pair for group in groups for pair in combinations(sorted(group), 2)}
