"""The answer to a decision on a near-duplicate group or a variant family: the refreshed card
for htmx, or, without htmx, a message on the page the reviewer goes back to."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from reviews import selectors
from reviews.access import get_duplicate_group_for_user
from reviews.selectors import PAGE_SIZE
from reviews.selectors.blinding import blinding_for
from synthreview.http import AuthenticatedHttpRequest


def group_card_response(
    request: AuthenticatedHttpRequest,
    slug: str,
    group_id: int,
    *,
    noun: str = "Group",
    back_query: str = "",
    problem: str = "",
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    access, group = get_duplicate_group_for_user(request.user, slug, group_id, "view")
    if not request.htmx:
        # Without htmx the outcome travels to the next page as a message.
        if problem:
            messages.error(request, f"{noun} #{group_id}: {problem}")
        elif notice:
            messages.success(request, f"{noun} #{group_id}: {notice}")
        return redirect(reverse("similarity_view", args=[slug]) + back_query)
    card = selectors.group_card(group, blinding=blinding_for(request.user, access))
    return render(
        request,
        "reviews/similarity.html#group",
        {
            "project": access.project,
            "access": access,
            "card": card,
            "problem": problem,
            "notice": notice,
            "page_size": PAGE_SIZE,
            "can_bulk": access.can("bulk"),
        },
        status=status,
    )
