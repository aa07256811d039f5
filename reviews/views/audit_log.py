"""The audit log for leads: filtered, newest first, in keyset pages, and as a CSV download."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviews.forms.audit_log import AuditLogFilterForm
from reviews.selectors.audit_log import CSV_COLUMNS, PAGE_SIZE, audit_log_csv_rows, audit_log_filtered, audit_log_page
from reviews.views._query import filter_query
from synthreview.csv_safety import csv_safe_cell
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import get_project_for_user
from synthreview.projects.forms.errors import form_errors_text
from synthreview.projects.params import non_negative_int_or_none

# Query parameters that move the page rather than filter it.
_CURSORS = ("before", "after")


@login_required
@require_GET
def audit_log(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "audit_log")
    project = access.project
    params = QueryDict(filter_query(request.GET, leave_out=_CURSORS))
    form = AuditLogFilterForm(params or None, project=project)
    context: dict = {
        "project": project,
        "access": access,
        "form": form,
        "page_size": PAGE_SIZE,
        "filter_query": params.urlencode(),
        "filtered": bool(params),
    }
    if form.is_bound and not form.is_valid():
        context["invalid"] = True
    else:
        queryset = audit_log_filtered(project, form.filters())
        context["page"] = audit_log_page(
            project,
            queryset,
            before=non_negative_int_or_none(request.GET.get("before")),
            after=non_negative_int_or_none(request.GET.get("after")),
        )
        context["paged"] = bool(request.GET.get("before") or request.GET.get("after"))
    template = "reviews/audit_log.html#results" if request.htmx else "reviews/audit_log.html"
    return render(request, template, context, status=400 if context.get("invalid") else 200)


class _Echo:
    """A file-like object whose write hands the line back, for streaming csv.writer rows."""

    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def audit_log_csv(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse | StreamingHttpResponse:
    access = get_project_for_user(request.user, slug, "audit_log")
    project = access.project
    params = QueryDict(filter_query(request.GET, leave_out=_CURSORS))
    form = AuditLogFilterForm(params or None, project=project)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            f"The filter is not valid: {form_errors_text(form)}", status=400, content_type="text/plain; charset=utf-8"
        )
    queryset = audit_log_filtered(project, form.filters())
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for row in audit_log_csv_rows(queryset):
            yield writer.writerow([csv_safe_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    # Built from the project's slug (a SlugField: letters, digits, - and _) and nothing the request sent.
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-audit-log.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
