"""Pair scores and the grouping rules compared on the same pairs, for bench/template_dedup.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the bench configures Django before it imports the models
    from synthreview.projects.models import Project

Pair = tuple[int, int]


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    predicted: int
    correct: int

    def cells(self) -> str:
        return f"{self.precision:5.3f} {self.recall:5.3f} {self.f1:5.3f}"


def pair_scores(predicted: set[Pair], truth: set[Pair]) -> Scores:
    correct = len(predicted & truth)
    precision = correct / len(predicted) if predicted else 1.0
    recall = correct / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, len(predicted), correct)


def pairs_within(groups: Iterable[Iterable[int]]) -> set[Pair]:
    pairs: set[Pair] = set()
    for group in groups:
        pairs.update(itertools.combinations(sorted(group), 2))
    return pairs


@dataclass(frozen=True)
class Grouping:
    """The old rule (prune each linked set to the keeper's neighbours) against tight groups, on the same pairs."""

    threshold: float
    with_partner: int
    left_out_before: int
    left_out_after: int
    before: Scores
    true_pairs_called_variants: int

    def show(self) -> None:
        print(f"  grouping at {self.threshold:.2f}, {self.with_partner} samples with a partner over it:")
        print(
            f"    before (prune to the keeper's neighbours): P R F1 {self.before.cells()}, "
            f"left out of every group {self.left_out_before}"
        )
        print(
            f"    after (tight groups, variants apart):      left out of every group {self.left_out_after}; "
            f"true duplicate pairs called variants {self.true_pairs_called_variants}"
        )


def grouping_before_and_after(project: Project, truth: set[Pair], threshold: float) -> Grouping:
    from reviews.models import DuplicateGroupMember
    from reviews.services import duplicate_groups as grouping
    from reviews.similarity.grouping import groups_from_pairs, suggest_representative

    pairs = grouping.similar_pairs(project, threshold)
    with_partner = {i for pair in pairs for i in pair}
    grouped = set(DuplicateGroupMember.objects.filter(group__project=project).values_list("sample_id", flat=True))
    families: dict[int, list[int]] = {}
    for group_id, sample_id in DuplicateGroupMember.objects.filter(
        group__project=project, group__kind="variant"
    ).values_list("group_id", "sample_id"):
        families.setdefault(group_id, []).append(sample_id)
    # The old rule, as it was: linked sets pruned to the members within the threshold of the keeper.
    exact = grouping.exact_duplicate_sets(project)
    linked = groups_from_pairs(pairs)
    ids = sorted({i for group in linked for i in group})
    facts = grouping._member_facts(ids)
    vectors = grouping._member_vectors(project, ids)
    kept = []
    for group in linked:
        keeper, _ = suggest_representative([facts[i] for i in group])
        close = [i for i in group if i == keeper or float(np.dot(vectors[i], vectors[keeper])) >= threshold]
        if len(close) > 1 and frozenset(close) not in {frozenset(e) for e in exact}:
            kept.append(close)
    before_grouped = {i for group in kept + exact for i in group}
    return Grouping(
        threshold=threshold,
        with_partner=len(with_partner),
        left_out_before=len(with_partner - before_grouped),
        left_out_after=len(with_partner - grouped),
        before=pair_scores(pairs_within(kept + exact), truth),
        true_pairs_called_variants=len(pairs_within(families.values()) & truth),
    )
