"""The keep action on a templated-variant family card."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from reviews.access import get_duplicate_group_for_user
from reviews.selectors import PAGE_SIZE
from reviews.services.membership import MembershipChanged
from reviews.services.variants import FamilyDecided, variant_family_trim
from reviews.views._cards import group_card_response
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.params import non_negative_int_or_none

# Without htmx, a family's outcome is shown on the similarity page's variant families.
FAMILIES_TAB = "?tab=groups&kind=variant"

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
        return group_card_response(
            request, slug, pk, noun="Family", back_query=FAMILIES_TAB, problem=str(conflict), status=409
        )
    except PermissionDenied as refused:
        return group_card_response(
            request, slug, pk, noun="Family", back_query=FAMILIES_TAB, problem=str(refused), status=403
        )
    except ValidationError as error:
        return group_card_response(
            request, slug, pk, noun="Family", back_query=FAMILIES_TAB, problem=" ".join(error.messages), status=400
        )
    kept = len(keep)
    return group_card_response(
        request,
        slug,
        pk,
        noun="Family",
        back_query=FAMILIES_TAB,
        notice=f"Kept {kept} sample{'s' if kept != 1 else ''}; rejected the other {len(rejected)} as variants.",
    )
