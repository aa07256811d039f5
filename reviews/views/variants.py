"""The keep action on a templated-variant family card."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from reviews import selectors
from reviews.access import get_duplicate_group_for_user
from reviews.selectors import PAGE_SIZE
from reviews.selectors.blinding import blinding_for
from reviews.services.membership import MembershipChanged
from reviews.services.variants import FamilyDecided, variant_family_trim
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.params import non_negative_int_or_none

# More ids than any family card can carry is a forged form, not a choice.
_MAX_KEEP_IDS = 10_000
# Eighteen digits, well inside a BIGINT: a longer "id" is no sample number.
_LARGEST_KEEP_ID = 10**18 - 1


def _keep_ids(request: HttpRequest) -> list[int] | None:
    raw = request.POST.getlist("keep")
    if len(raw) > _MAX_KEEP_IDS:
        return None
    ids = [non_negative_int_or_none(value, maximum=_LARGEST_KEEP_ID) for value in raw]
    return None if None in ids else [pk for pk in ids if pk is not None]


def _family_response(
    request: AuthenticatedHttpRequest,
    slug: str,
    group_id: int,
    *,
    problem: str = "",
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    access, family = get_duplicate_group_for_user(request.user, slug, group_id, "view")
    if not request.htmx:
        if problem:
            messages.error(request, f"Family #{group_id}: {problem}")
        elif notice:
            messages.success(request, f"Family #{group_id}: {notice}")
        return redirect(reverse("similarity_view", args=[slug]) + "?tab=groups&kind=variant")
    card = selectors.group_card(family, blinding=blinding_for(request.user, access))
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


@login_required
@require_POST
def variant_family_trim_view(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, family = get_duplicate_group_for_user(request.user, slug, pk, "review")
    keep = _keep_ids(request)
    try:
        if keep is None:
            raise ValidationError("The members to keep must be sample numbers.")
        if request.POST.get("keep_all") == "1":
            keep = list(family.members.values_list("sample_id", flat=True))
        _, rejected = variant_family_trim(
            access,
            group_id=family.pk,
            members=request.POST.get("members", ""),
            keep_ids=keep,
            page_size=PAGE_SIZE,
        )
    except (FamilyDecided, MembershipChanged) as conflict:
        return _family_response(request, slug, pk, problem=str(conflict), status=409)
    except PermissionDenied as refused:
        return _family_response(request, slug, pk, problem=str(refused), status=403)
    except ValidationError as error:
        return _family_response(request, slug, pk, problem=" ".join(error.messages), status=400)
    kept = len(keep)
    return _family_response(
        request,
        slug,
        pk,
        notice=f"Kept {kept} sample{'s' if kept != 1 else ''}; rejected the other {len(rejected)} as variants.",
    )
