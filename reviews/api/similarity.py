"""Near-duplicate groups, templated-variant families and clusters, as the similarity page lists
them: the same selectors, the same `need` and the same blinding (an expert sees a held member's
texts and similarity, never its lineage or status; a cluster's preview leaves held samples out)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from django.utils.text import Truncator
from ninja import Query, Router, Schema

from generation.models import Sample
from reviews.models import DuplicateGroupStatus, DuplicateKind
from reviews.selectors import cluster_cards, group_cards
from reviews.selectors.blinding import Blinding, blinding_for
from reviews.selectors.similarity_view import CLUSTERS_PER_PAGE, GROUPS_PER_PAGE, ClusterCard, GroupCard
from synthreview.projects.api.auth import api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS, ApiError
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import MAX_ID, Cursor, Slug
from synthreview.projects.models import Project

router = Router(tags=["similarity"])

# As much of a text as the map's tooltip shows; the whole text is on the sample's own endpoint.
PREVIEW_CHARS = 280
# A group carries up to six members' texts, so a call reads at most eight of the page's pages.
MAX_GROUPS = 8 * GROUPS_PER_PAGE
MAX_CLUSTERS = 10 * CLUSTERS_PER_PAGE
# The last page whose offset a database can still count (as the page bounds its ?page=).
LAST_CLUSTER_PAGE = MAX_ID // CLUSTERS_PER_PAGE

ALL = "all"
GROUP_STATUSES = [*DuplicateGroupStatus.values, ALL]

GroupStatusQuery = Annotated[
    str, Query(max_length=32, description=f"One of {', '.join(GROUP_STATUSES)}; the page's default is open.")
]
KindQuery = Annotated[str, Query(max_length=32, description=f"One of {', '.join(DuplicateKind.values)}, or all.")]
GroupLimit = Annotated[int, Query(ge=1, le=MAX_GROUPS)]
ClusterLimit = Annotated[int, Query(ge=1, le=MAX_CLUSTERS)]


class GroupMemberOut(Schema):
    sample_id: int
    similarity: float
    is_representative: bool
    # Held by an open audit the caller may judge: its lineage and status are left out, as on the page.
    held: bool
    origin: str | None
    generator: str | None
    template: str | None
    run: str | None
    status: str | None
    note: str
    input_preview: str
    output_preview: str


class GroupOut(Schema):
    id: int
    kind: str
    status: str
    size: int
    min_similarity: float
    threshold: float | None
    representative_id: int
    # Why the keeper was suggested ("real sample", "accepted") tells a held keeper's lineage: null then.
    representative_reason: str | None
    note: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    members: list[GroupMemberOut]
    hidden_members: int
    # What a decision on the group confirms: the members the card stands for.
    members_token: str
    # A variant family's members suggested for keeping (the most diverse few); empty for other groups.
    suggested_keep: list[int]


class ClusterMemberOut(Schema):
    sample_id: int
    input_preview: str
    output_preview: str


class ClusterOut(Schema):
    id: int
    number: int
    label: str
    size: int
    density: float
    synthetic_share: float
    real_anchor_distance: float | None
    is_low_novelty: bool
    low_novelty_reason: str
    status: str
    built_at: datetime
    generator_mix: dict[str, int]
    template_mix: dict[str, int]
    members_token: str
    first_members: list[ClusterMemberOut]


def _preview(text: str) -> str:
    return Truncator(text).chars(PREVIEW_CHARS)


def _member_out(card: GroupCard, index: int) -> GroupMemberOut:
    view = card.members[index]
    sample: Sample = view.sample
    held = bool(getattr(sample, "blinded", False))
    version = sample.template_version
    return GroupMemberOut(
        sample_id=sample.pk,
        similarity=view.member.similarity,
        is_representative=view.is_representative,
        held=held,
        origin=None if held else sample.origin,
        generator=None if held or sample.generator is None else sample.generator.name,
        template=None if held or version is None else f"{version.template.name} v{version.version}",
        run=None if held or sample.run is None else sample.run.name,
        status=None if held else sample.status,
        note=view.member.note,
        input_preview=_preview(sample.input),
        output_preview=_preview(sample.output),
    )


def _group_out(card: GroupCard) -> GroupOut:
    group = card.group
    return GroupOut(
        id=group.pk,
        kind=group.kind,
        status=group.status,
        size=group.size,
        min_similarity=group.min_similarity,
        threshold=group.threshold,
        representative_id=group.representative_id,
        representative_reason=None if card.keeper_blinded else group.representative_reason,
        note=group.note,
        created_at=group.created_at,
        resolved_at=group.resolved_at,
        resolved_by=group.resolved_by.get_username() if group.resolved_by else None,
        members=[_member_out(card, index) for index in range(len(card.members))],
        hidden_members=card.hidden_members,
        members_token=card.members_token,
        suggested_keep=sorted(card.suggested_keep),
    )


def _group_status(status: str) -> str:
    """The selector's status filter ("" is every status), or a 422 naming `status`."""
    if status not in GROUP_STATUSES:
        raise ApiError(422, "invalid", f"status must be one of: {', '.join(GROUP_STATUSES)}.", field="status")
    return "" if status == ALL else status


def _group_page(
    project: Project, *, status: str, kind: str, cursor: str | None, limit: int, blinding: Blinding
) -> CursorPage[GroupOut]:
    """`limit` groups from the selector's fixed pages, largest first; the cursor is the (size, id)
    of the last group given, which is what the selector's `after` means."""
    decoded = cursor_decode(cursor, shape=(int, int))
    after = (decoded[0], decoded[1]) if decoded else None
    cards: list[GroupCard] = []
    while len(cards) < limit:
        page, after = group_cards(project, status=status, kind=kind, after=after, blinding=blinding)
        cards.extend(page)
        if after is None:
            break
    more = len(cards) > limit or after is not None
    cards = cards[:limit]
    last = cards[-1].group if cards else None
    return CursorPage[GroupOut](
        items=[_group_out(card) for card in cards],
        next_cursor=cursor_encode([last.size, last.pk]) if more and last is not None else None,
    )


@router.get("/projects/{slug}/duplicate-groups", response={200: CursorPage[GroupOut], **COMMON_ERRORS})
def duplicate_group_list(
    request: HttpRequest,
    slug: Slug,
    status: GroupStatusQuery = DuplicateGroupStatus.OPEN.value,
    kind: KindQuery = ALL,
    cursor: Cursor = None,
    limit: GroupLimit = GROUPS_PER_PAGE,
) -> CursorPage[GroupOut]:
    """Near-duplicate groups (and variant families) with their first members, largest first."""
    access = api_project_access(request, slug, "view")
    if kind not in (*DuplicateKind.values, ALL, ""):
        raise ApiError(422, "invalid", f"kind must be one of: {', '.join([*DuplicateKind.values, ALL])}.", field="kind")
    return _group_page(
        access.project,
        status=_group_status(status),
        kind="" if kind == ALL else kind,
        cursor=cursor,
        limit=limit,
        blinding=blinding_for(request.user, access),
    )


@router.get("/projects/{slug}/variant-families", response={200: CursorPage[GroupOut], **COMMON_ERRORS})
def variant_family_list(
    request: HttpRequest,
    slug: Slug,
    status: GroupStatusQuery = DuplicateGroupStatus.OPEN.value,
    cursor: Cursor = None,
    limit: GroupLimit = GROUPS_PER_PAGE,
) -> CursorPage[GroupOut]:
    """Templated-variant families (one skeleton, different slot values) with the members suggested
    for keeping; empty where the project finds none."""
    access = api_project_access(request, slug, "view")
    return _group_page(
        access.project,
        status=_group_status(status),
        kind=DuplicateKind.VARIANT,
        cursor=cursor,
        limit=limit,
        blinding=blinding_for(request.user, access),
    )


def _cluster_out(card: ClusterCard) -> ClusterOut:
    cluster = card.cluster
    return ClusterOut(
        id=cluster.pk,
        number=cluster.number,
        label=cluster.label,
        size=cluster.size,
        density=cluster.density,
        synthetic_share=cluster.synthetic_share,
        real_anchor_distance=cluster.real_anchor_distance,
        is_low_novelty=cluster.is_low_novelty,
        low_novelty_reason=cluster.low_novelty_reason,
        status=cluster.status,
        built_at=cluster.built_at,
        generator_mix={str(name): int(count) for name, count in (cluster.generator_mix or {}).items()},
        template_mix={str(name): int(count) for name, count in (cluster.template_mix or {}).items()},
        members_token=cluster.membership,
        first_members=[
            ClusterMemberOut(
                sample_id=sample.pk, input_preview=_preview(sample.input), output_preview=_preview(sample.output)
            )
            for sample in card.preview
        ],
    )


@router.get("/projects/{slug}/clusters", response={200: CursorPage[ClusterOut], **COMMON_ERRORS})
def cluster_list(
    request: HttpRequest,
    slug: Slug,
    low_novelty: bool = False,
    cursor: Cursor = None,
    limit: ClusterLimit = CLUSTERS_PER_PAGE,
) -> CursorPage[ClusterOut]:
    """Clusters, low-novelty ones first, then the densest, with their first members.

    The selector pages by offset: a project has hundreds of clusters, not millions, and the order
    (low novelty, density) has no unique key to resume from. The cursor is the page and the place
    in it where the last call stopped."""
    access = api_project_access(request, slug, "view")
    decoded = cursor_decode(cursor, shape=(int, int))
    page, skip = (decoded[0], decoded[1]) if decoded else (1, 0)
    if not 1 <= page <= LAST_CLUSTER_PAGE or not 0 <= skip < CLUSTERS_PER_PAGE:
        raise ApiError(
            422, "invalid", "The cursor is not one this server gave; start again without it.", field="cursor"
        )
    blinding = blinding_for(request.user, access)
    found: list[tuple[ClusterCard, int, int]] = []  # each card with its page and its place on it
    more = True
    while len(found) < limit and more and page <= LAST_CLUSTER_PAGE:
        cards, more = cluster_cards(access.project, low_novelty_only=low_novelty, page=page, blinding=blinding)
        found += [(card, page, index) for index, card in enumerate(cards) if index >= skip]
        page, skip = page + 1, 0
    more = more or len(found) > limit
    found = found[:limit]
    next_cursor = None
    if more and found:
        _, last_page, last_index = found[-1]
        after = (last_page, last_index + 1) if last_index + 1 < CLUSTERS_PER_PAGE else (last_page + 1, 0)
        next_cursor = cursor_encode(list(after)) if after[0] <= LAST_CLUSTER_PAGE else None
    return CursorPage[ClusterOut](items=[_cluster_out(card) for card, _, _ in found], next_cursor=next_cursor)
