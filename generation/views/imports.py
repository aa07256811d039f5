from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseStopPolling

from generation.access import get_import_for_user
from generation.forms.imports import ImportForm
from generation.models import ImportFormat, ImportStatus
from generation.selectors.imports import import_repeated_rows, import_stalled_minutes
from generation.services.imports import import_problems, import_upload_start
from synthreview.http import HtmxHttpRequest
from synthreview.progress import progress_get, progress_key
from synthreview.projects.access import get_project_for_user


@login_required
@require_http_methods(["GET", "POST"])
def import_new(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "import")
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        batch = import_upload_start(
            access,
            upload=data["file"],
            fmt=data["format"],
            origin=data["origin"],
            generator_name=data["generator"].strip(),
            template_name=data["template"].strip(),
            mapping=data["mapping"],
        )
        return redirect("import_detail", slug=slug, pk=batch.pk)
    return render(request, "generation/import_new.html", {"access": access, "project": access.project, "form": form})


@login_required
def import_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, batch = get_import_for_user(request.user, slug, pk)
    progress = progress_get(progress_key("import", batch.pk))
    context = {
        "project": access.project,
        "access": access,
        "batch": batch,
        "progress": progress,
        "finished": batch.status in (ImportStatus.COMPLETED, ImportStatus.FAILED),
        "problems": import_problems(batch.errors or []),
        "stalled_minutes": import_stalled_minutes(batch, progress, now=timezone.now()),
        "repeated": import_repeated_rows(batch),
        "line_unit": "row" if batch.format == ImportFormat.PARQUET else "line",
    }
    if request.htmx:
        response = render(request, "generation/import_detail.html#status", context)
        return HttpResponseStopPolling(response.content) if context["finished"] else response
    return render(request, "generation/import_detail.html", context)
