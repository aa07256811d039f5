"""What a lead looks at to choose the near-duplicate threshold: how the samples'
nearest-neighbour similarities spread, a few pairs either side of a threshold, and
how many groups a threshold would make, all read from the stored neighbour lists.

Every read is bounded: the histogram is one aggregate in SQL over the
(project, top_similarity) index, the pairs are two LIMITed reads on it, and the
preview reads at most PREVIEW_MAX_SAMPLES neighbour lists, or says it would not."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Sum
from django.db.models.functions import Floor

from generation.models import Sample
from reviews.models import DuplicateGroup, DuplicateGroupStatus, DuplicateKind, SampleSimilarity
from synthreview.projects.models import Project

# The histogram starts here: below it nothing is near enough to be a duplicate, and a
# lower start would only spend the chart's width (and the scan) on unrelated pairs.
HISTOGRAM_LOW = 0.5
HISTOGRAM_BIN = 0.01
PAIRS_EACH_SIDE = 3
# Neighbour lists the preview reads at most (a quarter of a second of JSON on one core);
# past it the preview says so instead of guessing.
PREVIEW_MAX_SAMPLES = 10_000


def neighbour_similarity_bins(project: Project) -> list[tuple[float, float, int]]:
    """(low, high, samples) per 0.01 of each sample's similarity to its nearest neighbour, from 0.50 up."""
    bins = round((1 - HISTOGRAM_LOW) / HISTOGRAM_BIN)
    # The epsilon keeps 0.90 in the 0.90 bin despite float products such as 0.9 * 100 = 89.999….
    counts = (
        SampleSimilarity.objects.filter(project=project, top_similarity__gte=HISTOGRAM_LOW)
        .annotate(bucket=Floor(F("top_similarity") / HISTOGRAM_BIN + 1e-9))
        .values("bucket")
        .annotate(samples=Count("pk"))
        .order_by()
    )
    first = round(HISTOGRAM_LOW / HISTOGRAM_BIN)
    by_bin = [0] * bins
    for row in counts:
        by_bin[min(max(int(row["bucket"]) - first, 0), bins - 1)] += row["samples"]
    return [
        (round(HISTOGRAM_LOW + n * HISTOGRAM_BIN, 2), round(HISTOGRAM_LOW + (n + 1) * HISTOGRAM_BIN, 2), count)
        for n, count in enumerate(by_bin)
    ]


@dataclass(frozen=True)
class NeighbourPair:
    similarity: float
    sample: Sample
    neighbour: Sample


def pairs_near_threshold(
    project: Project, threshold: float, *, each_side: int = PAIRS_EACH_SIDE
) -> tuple[list[NeighbourPair], list[NeighbourPair]]:
    """The closest pairs just at or above the threshold (the weakest that would group, nearest
    the threshold first) and just below it (the strongest left out): a sample with its nearest neighbour."""
    rows = SampleSimilarity.objects.filter(project=project, top_similarity__isnull=False)
    # Twice as many rows as pairs: a and b are often each other's nearest, one pair read twice.
    above = list(
        rows.filter(top_similarity__gte=threshold)
        .order_by("top_similarity", "sample_id")
        .values_list("sample_id", "neighbours")[: each_side * 2]
    )
    below = list(
        rows.filter(top_similarity__lt=threshold)
        .order_by("-top_similarity", "-sample_id")
        .values_list("sample_id", "neighbours")[: each_side * 2]
    )
    ids = {sample_id for sample_id, _ in above + below}
    ids |= {int(neighbours[0][0]) for _, neighbours in above + below if neighbours}
    samples = Sample.objects.filter(project=project, pk__in=ids).only("id", "input", "output").in_bulk()
    return _pairs(above, samples, each_side), _pairs(below, samples, each_side)


def _pairs(rows: list[tuple[int, list]], samples: dict[int, Sample], count: int) -> list[NeighbourPair]:
    pairs: list[NeighbourPair] = []
    seen: set[frozenset[int]] = set()
    for sample_id, neighbours in rows:
        if not neighbours:
            continue
        neighbour_id, similarity = int(neighbours[0][0]), float(neighbours[0][1])
        key = frozenset((sample_id, neighbour_id))
        if key in seen or sample_id not in samples or neighbour_id not in samples:
            continue
        seen.add(key)
        first, second = sorted((sample_id, neighbour_id))
        pairs.append(NeighbourPair(similarity=similarity, sample=samples[first], neighbour=samples[second]))
        if len(pairs) == count:
            break
    return pairs


@dataclass(frozen=True)
class GroupingEstimate:
    threshold: float
    groups: int
    samples: int
    # More samples have a neighbour at or above the threshold than the preview reads.
    too_many: bool = False


def grouping_estimate(project: Project, threshold: float, *, limit: int = PREVIEW_MAX_SAMPLES) -> GroupingEstimate:
    """How many linked sets the stored neighbours make at this threshold: the connected
    components of the pairs at or above it (union-find). An estimate of the groups a
    regroup would store: the variant rule and the splitting of long chains into tight
    groups can divide a set, and a set that only repeats exact duplicates is shown once."""
    linked_rows = SampleSimilarity.objects.filter(project=project, top_similarity__gte=threshold)
    # Asked of the (project, top_similarity) index alone, before any neighbour list is read.
    if linked_rows.order_by("project_id", "top_similarity")[limit : limit + 1].exists():
        return GroupingEstimate(threshold=threshold, groups=0, samples=0, too_many=True)
    rows = list(linked_rows.values_list("sample_id", "neighbours"))
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving
            node = parent[node]
        return node

    for sample_id, neighbours in rows:
        for neighbour_id, similarity in neighbours:
            if similarity < threshold:
                break  # nearest first
            a, b = root(sample_id), root(int(neighbour_id))
            if a != b:
                parent[max(a, b)] = min(a, b)
    linked = list(parent)
    return GroupingEstimate(threshold=threshold, groups=len({root(node) for node in linked}), samples=len(linked))


@dataclass(frozen=True)
class StoredGroups:
    label: str
    groups: int
    samples: int


def open_groups_now(project: Project) -> list[StoredGroups]:
    """The open groups the last regroup stored, by kind: a handful of rows, counted by the database."""
    labels = dict(DuplicateKind.choices)
    rows = (
        DuplicateGroup.objects.filter(project=project, status=DuplicateGroupStatus.OPEN)
        .values("kind")
        .annotate(groups=Count("pk"), samples=Sum("size"))
        .order_by("kind")
    )
    return [
        StoredGroups(label=labels.get(row["kind"], row["kind"]), groups=row["groups"], samples=row["samples"] or 0)
        for row in rows
    ]
