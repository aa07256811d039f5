"""The similarity view: near-duplicate groups, low-novelty clusters and the 2D map."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from reviews import selectors
from reviews.access import get_duplicate_group_for_user
from reviews.models import DuplicateGroupStatus, DuplicateKind
from reviews.selectors import PAGE_SIZE
from reviews.selectors.blinding import blinding_for
from reviews.selectors.similarity_view import CLUSTERS_PER_PAGE, duplicate_group_exists
from reviews.services import (
    DecisionConflict,
    MembershipChanged,
    duplicate_group_mark_not_duplicates,
    duplicate_group_resolve,
    duplicate_group_split,
)
from reviews.views._cards import group_card_response
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import get_project_for_user
from synthreview.projects.params import LARGEST_ID, non_negative_int_or_none

TABS = {"groups": "Near-duplicate groups", "clusters": "Clusters", "map": "Map"}


def _group_after(raw: str | None) -> tuple[int, int] | None:
    """The last group of the page before ("size:id"), or None (the first page) when `raw` is not one."""
    size_part, _, pk_part = (raw or "").partition(":")
    size, pk = non_negative_int_or_none(size_part), non_negative_int_or_none(pk_part)
    return (size, pk) if size is not None and pk is not None else None


@login_required
@require_GET
def similarity_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    project = access.project
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else "groups"
    blinding = blinding_for(request.user, access)
    context: dict = {
        "project": project,
        "access": access,
        "tab": tab,
        "tabs": TABS,
        "overview": selectors.similarity_overview(project),
        "can_bulk": access.can("bulk"),
        "page_size": PAGE_SIZE,
    }
    if tab == "groups":
        status = request.GET.get("status", "open")
        status = status if status in DuplicateGroupStatus.values or status == "" else "open"
        kind = request.GET.get("kind", "")
        kind = kind if kind in DuplicateKind.values else ""
        cards, after = selectors.group_cards(
            project, status=status, kind=kind, after=_group_after(request.GET.get("after")), blinding=blinding
        )
        context.update(
            cards=cards,
            next_after=f"{after[0]}:{after[1]}" if after else None,
            status=status,
            kind=kind,
            statuses=DuplicateGroupStatus.choices,
            kinds=DuplicateKind.choices,
        )
    elif tab == "clusters":
        low_only = request.GET.get("low") == "1"
        # Past this page the offset would be more rows than a database can count.
        page = non_negative_int_or_none(request.GET.get("page"), maximum=LARGEST_ID // CLUSTERS_PER_PAGE)
        page = 1 if page is None else page
        clusters, more = selectors.cluster_cards(project, low_novelty_only=low_only, page=page, blinding=blinding)
        context.update(clusters=clusters, more=more, page=page, low_only=low_only)
    else:
        colour = request.GET.get("colour") if request.GET.get("colour") in selectors.COLOURINGS else "cluster"
        context.update(
            map=selectors.embedding_map_points(project, blinding=blinding), colour=colour, colours=selectors.COLOURINGS
        )
    template = f"reviews/similarity.html#{tab}" if request.htmx else "reviews/similarity.html"
    return render(request, template, context)


def _member_id(request: HttpRequest, field: str) -> int | None:
    return non_negative_int_or_none(request.POST.get(field))


def _gone_group(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse | None:
    """A rebuild drops an open group whose members it regroups: say so, instead of a bare 404
    (still a 404: another project's group looks the same, so nothing is revealed)."""
    access = get_project_for_user(request.user, slug, "review")
    if duplicate_group_exists(access.project, pk):
        return None
    problem = f"Group #{pk} no longer exists: a similarity build regrouped its members since you opened it; look again."
    if not request.htmx:
        messages.error(request, problem)
        return redirect(reverse("similarity_view", args=[slug]))
    return render(
        request,
        "reviews/similarity.html#gone-group",
        {"project": access.project, "pk": pk, "problem": problem},
        status=404,
    )


@login_required
@require_POST
def group_resolve(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    if gone := _gone_group(request, slug, pk):
        return gone
    access, group = get_duplicate_group_for_user(request.user, slug, pk, "review")
    keep = _member_id(request, "keep") or group.representative_id
    try:
        resolved = duplicate_group_resolve(
            access,
            group_id=group.pk,
            keep_id=keep,
            members=request.POST.get("members", ""),
            page_size=PAGE_SIZE,
        )
    except (DecisionConflict, MembershipChanged) as conflict:
        return group_card_response(request, slug, pk, problem=str(conflict), status=409)
    except ValidationError as error:
        return group_card_response(request, slug, pk, problem=" ".join(error.messages), status=400)
    return group_card_response(
        request,
        slug,
        pk,
        notice=f"Kept sample {resolved.representative_id}; rejected the other {resolved.size - 1} as duplicates.",
    )


@login_required
@require_POST
def group_not_duplicates(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    if gone := _gone_group(request, slug, pk):
        return gone
    access, group = get_duplicate_group_for_user(request.user, slug, pk, "review")
    try:
        duplicate_group_mark_not_duplicates(access, group_id=group.pk, members=request.POST.get("members", ""))
    except (DecisionConflict, MembershipChanged) as conflict:
        return group_card_response(request, slug, pk, problem=str(conflict), status=409)
    except ValidationError as error:
        return group_card_response(request, slug, pk, problem=" ".join(error.messages), status=400)
    return group_card_response(request, slug, pk, notice="Marked as not duplicates; no sample changed.")


@login_required
@require_POST
def group_split(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    if gone := _gone_group(request, slug, pk):
        return gone
    access, group = get_duplicate_group_for_user(request.user, slug, pk, "review")
    member = _member_id(request, "sample")
    try:
        if member is None:
            raise ValidationError("Choose the member to split off.")
        duplicate_group_split(
            access,
            group_id=group.pk,
            sample_id=member,
            members=request.POST.get("members", ""),
        )
    except (DecisionConflict, MembershipChanged) as conflict:
        return group_card_response(request, slug, pk, problem=str(conflict), status=409)
    except ValidationError as error:
        return group_card_response(request, slug, pk, problem=" ".join(error.messages), status=400)
    return group_card_response(request, slug, pk, notice=f"Split sample {member} off the group.")
