"""The sample browser, bulk accept/reject by filter, and the sample detail page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from generation.access import get_sample_with_access
from generation.models import SampleStatus
from reviews import selectors
from reviews.access import get_cluster_for_user
from reviews.forms.samples import BulkForm, SampleFilterForm, SampleOrderForm
from reviews.models import ErrorCategory
from reviews.selectors import COUNT_CAP, PAGE_SIZE
from reviews.selectors.audits import gold_sample_of
from reviews.selectors.blinding import Blinding, blinding_for
from reviews.selectors.browser_sort import NEWEST, BadCursor, SampleOrder, sample_page_ordered, samples_ordered
from reviews.selectors.similarity_view import cluster_exists
from reviews.services import (
    BulkCountChanged,
    MembershipChanged,
    cluster_set_status,
    samples_bulk_set_status,
)
from reviews.similarity.membership import MemberSet, membership_change
from reviews.views._query import filter_query
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import ProjectAccess, get_project_for_user
from synthreview.projects.forms.errors import form_errors_text
from synthreview.projects.params import non_negative_int_or_none, sample_ids_parse

# Query parameters that are the filter itself (the rest move the page or name an action).
_NOT_FILTER = {"after", "before", "action", "expected_count", "members", "csrfmiddlewaretoken", "similar_to", "sort"}
BULK_PREVIEW = 10


def _listed_ids(params: QueryDict) -> list[int]:
    # Ids ride in links and checkboxes; one that is not an id is dropped, not an error page.
    return sample_ids_parse(",".join(params.getlist("ids")), invalid="skip")


@login_required
@require_GET
def sample_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    project = access.project
    form = SampleFilterForm(request.GET or None, project=project)
    order_form = SampleOrderForm(request.GET or None)
    order = order_form.order()
    blinding = blinding_for(request.user, access)
    query = filter_query(request.GET, leave_out=_NOT_FILTER)
    context: dict = {
        "project": project,
        "access": access,
        "form": form,
        "order_form": order_form,
        "order": order,
        "can_bulk": access.can("bulk"),
        "page_size": PAGE_SIZE,
        "filter_query": query,
        "list_query": _with_order(query, order),
        "notices": [],
    }
    if order_form.is_bound and not order_form.is_valid():
        context["notices"].append("That order is not one this page knows; showing the newest first.")
    similar_to = non_negative_int_or_none(request.GET.get("similar_to"))
    if similar_to is not None:
        anchor = get_sample_with_access(request.user, slug, similar_to, "view")[1]
        blinding.mark([anchor])
        context.update(similar_to=anchor, similar=selectors.similar_samples(project, anchor.pk, blinding=blinding))
    elif form.is_bound and not form.is_valid():
        context["invalid"] = True
    else:
        filters = form.filters() if form.is_bound else {}
        if ids := _listed_ids(request.GET):
            filters["ids"] = ids[:PAGE_SIZE]
        context["chips"] = _chips(request.GET, form, order, len(filters.get("ids", [])))
        # An order by a score lists the scored samples only, which the per-project counters do not count;
        # and it acts as a filter for a blind audit too: a held item's place in a novelty ranking would
        # tell what its row hides, so held items are left out as for any filter on what they hide.
        counted_filters = filters | {"scored": True} if order.scored else filters
        queryset = samples_ordered(
            project, selectors.samples_filtered(project, counted_filters, blinding=blinding), order
        )
        # A count that needs counting comes with the first page's ids: one read of the matches, not two.
        known = selectors.samples_count_known(project, counted_filters, queryset, blinding=blinding)
        count_up_to = 0 if known is not None else COUNT_CAP
        if order.name == NEWEST:
            page = selectors.sample_page(
                queryset,
                after=non_negative_int_or_none(request.GET.get("after")),
                before=non_negative_int_or_none(request.GET.get("before")),
                count_up_to=count_up_to,
            )
        else:
            try:
                page = sample_page_ordered(
                    queryset,
                    order,
                    after=request.GET.get("after") or None,
                    before=request.GET.get("before") or None,
                    count_up_to=count_up_to,
                )
            except BadCursor:
                context["notices"].append("That page link does not fit this order; showing the first page.")
                page = sample_page_ordered(queryset, order, count_up_to=count_up_to)
        context["page"] = page
        blinding.mark(page.rows)
        context["count"] = known or selectors.samples_count(queryset, page=page)
        context["filtered"] = any(value not in (None, "", []) for value in filters.values())
    if not request.htmx:
        template = "reviews/sample_list.html"
    elif request.htmx.target == "browser":
        # A chip or "clear all" changes the form too, not only the list.
        template = "reviews/sample_list.html#browser"
    else:
        template = "reviews/sample_list.html#results"
    return render(request, template, context, status=400 if context.get("invalid") else 200)


def _with_order(query: str, order: SampleOrder) -> str:
    """The list's own links keep its order; the bulk actions' filter has none."""
    if order.name == NEWEST:
        return query
    return f"{query}&{urlencode({'sort': order.name})}" if query else urlencode({"sort": order.name})


def _chips(params: QueryDict, form: SampleFilterForm, order: SampleOrder, selected: int) -> list[dict]:
    """Each active filter with the link to the same list without it (and back to its first page)."""
    shown = form.active_filters() if form.is_bound else []
    chips = [
        {
            "name": active.name,
            "label": active.label,
            "text": active.text,
            "query": _with_order(filter_query(params, leave_out=_NOT_FILTER | {active.name}), order),
        }
        for active in shown
    ]
    if selected:
        chips.append(
            {
                "name": "ids",
                "label": "Selected",
                "text": f"{selected} sample{'s' if selected != 1 else ''}",
                "query": _with_order(filter_query(params, leave_out=_NOT_FILTER | {"ids"}), order),
            }
        )
    return chips


def _bulk_selection(access: ProjectAccess, params: QueryDict, blinding: Blinding):  # noqa: ANN202
    form = SampleFilterForm(params, project=access.project)
    if not form.is_valid():
        return form, None, {}
    filters = form.filters()
    ids = _listed_ids(params)
    if len(ids) > PAGE_SIZE:
        form.add_error(None, f"Select at most {PAGE_SIZE} samples; to act on more, use a filter.")
        return form, None, {}
    if ids:
        filters["ids"] = ids
    description = form.description() | ({"ids": filters["ids"]} if ids else {})
    return (
        form,
        blinding.actionable(selectors.samples_filtered(access.project, filters, blinding=blinding)),
        description,
    )


@login_required
@require_http_methods(["GET", "POST"])
def samples_bulk(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """GET shows what the filter will change and how many; POST does it, once confirmed."""
    access = get_project_for_user(request.user, slug, "review")
    params = request.POST if request.method == "POST" else request.GET
    action = params.get("action")
    if action not in ("accept", "reject"):
        return render(
            request,
            "reviews/bulk_confirm.html",
            {"project": access.project, "access": access, "problem": "Choose accept or reject."},
            status=400,
        )
    blinding = blinding_for(request.user, access)
    form, queryset, description = _bulk_selection(access, params, blinding)
    cluster_id = form.cleaned_data.get("cluster") if queryset is not None else None
    if cluster_id and not cluster_exists(access.project, cluster_id):
        # A refit replaces every cluster: the page that linked here showed one that is gone.
        return render(
            request,
            "reviews/bulk_confirm.html",
            {
                "project": access.project,
                "access": access,
                "action": action,
                "problem": "This cluster no longer exists: the clusters were refitted since you opened the page; "
                "look again.",
            },
            status=404,
        )
    cluster = get_cluster_for_user(request.user, slug, cluster_id)[1] if cluster_id else None
    context = {
        "project": access.project,
        "access": access,
        "action": action,
        "form": form,
        "description": description,
        "filter_query": filter_query(params, leave_out=_NOT_FILTER),
        "cluster": cluster,
        # The filter in the names the user picked it by (the audit log keeps the ids).
        "active_filters": form.active_filters() if queryset is not None else [],
        "ids": ",".join(str(pk) for pk in description.get("ids", [])),
        "page_size": PAGE_SIZE,
        "filter_pairs": [
            (key, value)
            for key, values in QueryDict(filter_query(params, leave_out=_NOT_FILTER)).lists()
            for value in values
            if key != "ids"
        ],
    }
    if queryset is None:
        return render(
            request,
            "reviews/bulk_confirm.html",
            {**context, "problem": f"The filter is not valid: {form_errors_text(form)}"},
            status=400,
        )
    status = SampleStatus.ACCEPTED if action == "accept" else SampleStatus.REJECTED
    problem, code = "", 200
    if request.method == "POST":
        bulk_form = BulkForm(request.POST)
        if not bulk_form.is_valid():
            problem, code = "The confirmation was incomplete; confirm again.", 400
        else:
            expected = bulk_form.cleaned_data["expected_count"]
            only_cluster = cluster if cluster is not None and set(description) == {"cluster"} else None
            # The members the confirmation showed; a cluster's action always needs them.
            members = request.POST.get("members")
            try:
                if only_cluster is not None:
                    result = cluster_set_status(
                        access,
                        cluster_id=only_cluster.pk,
                        status=status,
                        queryset=queryset,
                        expected_count=expected,
                        members=members or "",
                        description=description,
                        page_size=PAGE_SIZE,
                    )
                else:
                    result = samples_bulk_set_status(
                        access,
                        queryset=queryset,
                        status=status,
                        expected_count=expected,
                        members=members or None,
                        description=description,
                        page_size=PAGE_SIZE,
                    )
            except (BulkCountChanged, MembershipChanged) as changed:
                problem, code = str(changed), 409
            except ValidationError as error:
                problem, code = " ".join(error.messages), 400
            else:
                messages.success(
                    request,
                    f"{action.capitalize()}ed {result.changed:,} of {result.matched:,} "
                    f"matching samples{f' in cluster #{only_cluster.number}' if only_cluster else ''} "
                    f"(audit-log entry {result.log_id}).",
                )
                target = reverse("sample_list", args=[slug])
                query = filter_query(params, leave_out=_NOT_FILTER)
                return redirect(f"{target}?{query}" if query else target)
    shown = selectors.samples_member_set(queryset)
    count = shown.count
    seen = MemberSet.parse(params.get("members")) if request.method == "GET" and cluster is not None else None
    # The card that linked here showed the cluster's members as they were; held audit items, which the
    # reader may not act on, are among them, so the card is compared with the cluster, not with `shown`.
    now = (MemberSet.parse(cluster.membership) if cluster is not None and cluster.membership else None) or shown
    if seen is not None and not problem and (change := membership_change("cluster", seen, now)):
        problem, code = change, 409
    if count > PAGE_SIZE and not access.can("bulk"):
        raise PermissionDenied(f"Only leads and admins may act on more than {PAGE_SIZE} samples at once.")
    preview = list(queryset.select_related("generator").order_by("-id")[:BULK_PREVIEW])
    blinding.mark(preview)
    return render(
        request,
        "reviews/bulk_confirm.html",
        {**context, "count": count, "members": shown.token, "preview": preview, "problem": problem},
        status=code,
    )


@login_required
@require_GET
def sample_detail(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, sample = get_sample_with_access(request.user, slug, pk, "view")
    blinding = blinding_for(request.user, access)
    return render(
        request,
        "reviews/sample_detail.html",
        {
            "project": access.project,
            "access": access,
            "view": selectors.sample_view(sample, neighbour_limit=10, blinding=blinding),
            "history": selectors.sample_history(sample, blinding=blinding),
            # Gold-ness is the lead's to know; the card below shows it to them alone.
            "gold": gold_sample_of(access.project, sample) if access.can("audit") else None,
            "category_choices": [("", "—"), *ErrorCategory.choices],
        },
    )
