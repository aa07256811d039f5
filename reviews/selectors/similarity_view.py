"""The similarity view: near-duplicate groups with their members' differences,
clusters with their mix and a preview (the map tab reads similarity_map.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import BigIntegerField, F, Q, QuerySet, Value, Window
from django.db.models.functions import RowNumber

from generation.models import Sample
from reviews.models import (
    Cluster,
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateKind,
    SampleSimilarity,
)
from reviews.selectors.blinding import SEES_ALL, Blinding
from reviews.selectors.sample_view import LINEAGE_RELATED
from reviews.similarity.membership import EMPTY, member_sets
from reviews.similarity.worddiff import DiffPiece, word_diff
from synthreview.projects.models import Project

GROUPS_PER_PAGE = 8
MEMBERS_SHOWN = 6
CLUSTERS_PER_PAGE = 12
CLUSTER_PREVIEW = 3


@dataclass
class GroupMemberView:
    member: DuplicateGroupMember
    sample: Sample
    is_representative: bool
    input_diff: list[DiffPiece]
    output_diff: list[DiffPiece]


@dataclass
class GroupCard:
    group: DuplicateGroup
    members: list[GroupMemberView] = field(default_factory=list)
    # Why the keeper was suggested ("real sample", "accepted") tells its origin and status.
    keeper_blinded: bool = False
    # The token of every member the card stands for: its actions confirm exactly these.
    members_token: str = ""
    # A variant family's members suggested for keeping: the project's keep count, most diverse first.
    suggested_keep: frozenset[int] = frozenset()

    @property
    def is_open(self) -> bool:
        return self.group.status == "open"

    @property
    def hidden_members(self) -> int:
        return max(self.group.size - len(self.members), 0)

    @property
    def hidden_suggested(self) -> list[int]:
        """Suggested keepers beyond the members shown: kept unless the reviewer opens the family and says otherwise."""
        shown = {item.sample.pk for item in self.members}
        return sorted(self.suggested_keep - shown)


def duplicate_group_exists(project: Project, group_id: int) -> bool:
    return DuplicateGroup.objects.filter(project=project, pk=group_id).exists()


def cluster_exists(project: Project, cluster_id: int) -> bool:
    return Cluster.objects.filter(project=project, pk=cluster_id).exists()


def _groups(project: Project, *, status: str, kind: str) -> QuerySet[DuplicateGroup]:
    groups = DuplicateGroup.objects.filter(project=project)
    if status:
        groups = groups.filter(status=status)
    if kind:
        groups = groups.filter(kind=kind)
    return groups


def group_cards(
    project: Project,
    *,
    status: str = "open",
    kind: str = "",
    after: tuple[int, int] | None = None,
    blinding: Blinding = SEES_ALL,
) -> tuple[list[GroupCard], tuple[int, int] | None]:
    """One page of groups, largest first, keyed on (size, id) so deep pages cost the same."""
    groups = _groups(project, status=status, kind=kind)
    if after is not None:
        size, pk = after
        groups = groups.filter(Q(size__lte=size) & (Q(size__lt=size) | Q(size=size, pk__gt=pk)))
    page = list(groups.select_related("resolved_by").order_by("-size", "id")[: GROUPS_PER_PAGE + 1])
    more = len(page) > GROUPS_PER_PAGE
    page = page[:GROUPS_PER_PAGE]
    cards = _with_members(page, blinding)
    return cards, ((page[-1].size, page[-1].pk) if more else None)


def group_card(group: DuplicateGroup, *, blinding: Blinding = SEES_ALL) -> GroupCard:
    return _with_members([group], blinding)[0]


def _with_members(groups: list[DuplicateGroup], blinding: Blinding = SEES_ALL) -> list[GroupCard]:
    if not groups:
        return []
    # The keeper first, then the closest (in a variant family: the most diverse); a group of thousands shows a dozen.
    members = (
        DuplicateGroupMember.objects.filter(group__in=groups)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("group_id"),
                order_by=[F("diversity_rank").asc(nulls_last=True), F("similarity").desc(), F("id")],
            )
        )
        .filter(rank__lte=MEMBERS_SHOWN)
        .select_related(*(f"sample__{r}" for r in LINEAGE_RELATED))
    )
    by_group: dict[int, list[DuplicateGroupMember]] = {}
    for ranked_member in members:
        by_group.setdefault(ranked_member.group_id, []).append(ranked_member)
    blinding.mark(member.sample for rows in by_group.values() for member in rows)
    tokens = member_sets(DuplicateGroupMember.objects.filter(group__in=groups), by="group_id", member="sample_id")
    suggested = _suggested_keep([group for group in groups if group.kind == DuplicateKind.VARIANT])
    cards = []
    for group in groups:
        rows = by_group.get(group.pk, [])
        keeper = next((m.sample for m in rows if m.sample_id == group.representative_id), None)
        rows.sort(
            key=lambda m: (
                m.sample_id != group.representative_id,
                m.diversity_rank if m.diversity_rank is not None else 1 << 30,
                -m.similarity,
                m.pk,
            )
        )
        views = []
        for member in rows:
            sample = member.sample
            is_keeper = sample.pk == group.representative_id
            views.append(
                GroupMemberView(
                    member=member,
                    sample=sample,
                    is_representative=is_keeper,
                    input_diff=[DiffPiece(sample.input, "same")]
                    if is_keeper or keeper is None
                    else word_diff(keeper.input, sample.input),
                    output_diff=[DiffPiece(sample.output, "same")]
                    if is_keeper or keeper is None
                    else word_diff(keeper.output, sample.output),
                )
            )
        cards.append(
            GroupCard(
                group=group,
                members=views,
                keeper_blinded=blinding.hides(group.representative_id),
                members_token=tokens.get(group.pk, EMPTY).token,
                suggested_keep=suggested.get(group.pk, frozenset()),
            )
        )
    return cards


def _suggested_keep(families: list[DuplicateGroup]) -> dict[int, frozenset[int]]:
    """{family id: the members its card checks for keeping}, in one query for the page."""
    if not families:
        return {}
    keep = Project.objects.filter(pk=families[0].project_id).values_list("variant_keep_max", flat=True).first() or 1
    found: dict[int, set[int]] = {}
    for group_id, sample_id in DuplicateGroupMember.objects.filter(
        group__in=families, diversity_rank__lt=keep
    ).values_list("group_id", "sample_id"):
        found.setdefault(group_id, set()).add(sample_id)
    return {group_id: frozenset(ids) for group_id, ids in found.items()}


@dataclass
class ClusterCard:
    cluster: Cluster
    preview: list[Sample]

    @staticmethod
    def _shares(mix: dict) -> list[tuple[str, int, float, float]]:
        """(name, count, share, where its bar segment starts), largest first."""
        total = sum(mix.values()) or 1
        shares, start = [], 0.0
        for name, count in sorted(mix.items(), key=lambda kv: -kv[1]):
            shares.append((name, count, count / total, start * 100))
            start += count / total
        return shares

    @property
    def generators(self) -> list[tuple[str, int, float, float]]:
        return self._shares(self.cluster.generator_mix or {})

    @property
    def templates(self) -> list[tuple[str, int, float, float]]:
        return self._shares(self.cluster.template_mix or {})


def cluster_cards(
    project: Project, *, low_novelty_only: bool = False, page: int = 1, blinding: Blinding = SEES_ALL
) -> tuple[list[ClusterCard], bool]:
    """Low-novelty clusters first, then the densest. A project has hundreds of
    clusters, not millions, so an offset page is cheap here."""
    clusters = Cluster.objects.filter(project=project)
    if low_novelty_only:
        clusters = clusters.filter(is_low_novelty=True)
    start = (max(page, 1) - 1) * CLUSTERS_PER_PAGE
    rows = list(clusters.order_by("-is_low_novelty", "-density", "id")[start : start + CLUSTERS_PER_PAGE + 1])
    more = len(rows) > CLUSTERS_PER_PAGE
    rows = rows[:CLUSTERS_PER_PAGE]
    previews: dict[int, list[Sample]] = {}
    for cluster_id, sample in _first_members(project, rows):
        # A cluster's mix says how synthetic it is, so a held item is never shown as a member.
        if blinding.hides(sample.pk):
            continue
        previews.setdefault(cluster_id, []).append(sample)
    return [
        ClusterCard(cluster=cluster, preview=sorted(previews.get(cluster.pk, []), key=lambda s: s.pk))
        for cluster in rows
    ], more


def _first_members(project: Project, clusters: list[Cluster]) -> list[tuple[int, Sample]]:
    """The first CLUSTER_PREVIEW samples of each cluster, in one query (no query per card), each
    beside its cluster's id."""
    if not clusters:
        return []
    if connection.features.supports_slicing_ordering_in_compound:
        # A LIMIT per cluster, joined by UNION ALL: each reads CLUSTER_PREVIEW entries of the
        # (project, cluster, sample) index. A window over the clusters' members would read all of
        # them, thousands per cluster at 1M samples.
        parts = [
            Sample.objects.filter(similarity__project=project, similarity__cluster=cluster)
            .annotate(preview_of=Value(cluster.pk, output_field=BigIntegerField()))
            .select_related("generator")
            .order_by("id")[:CLUSTER_PREVIEW]
            for cluster in clusters
        ]
        return [(sample.preview_of, sample) for sample in parts[0].union(*parts[1:], all=True)]
    # SQLite (the demo) allows no LIMIT inside a UNION; its projects are small enough for a window.
    ranked = (
        SampleSimilarity.objects.filter(project=project, cluster__in=clusters)
        .annotate(rank=Window(RowNumber(), partition_by=F("cluster_id"), order_by=[F("sample_id").asc()]))
        .filter(rank__lte=CLUSTER_PREVIEW)
        .select_related("sample__generator")
    )
    return [(row.cluster_id, row.sample) for row in ranked if row.cluster_id is not None]  # never None: cluster__in
