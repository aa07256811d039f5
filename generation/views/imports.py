from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseStopPolling

from generation.access import get_import_for_user
from generation.forms.imports import ImportForm
from generation.models import ImportBatch, ImportFormat, ImportStatus
from generation.selectors.imports import import_repeated_rows
from generation.services.imports import import_batch_create
from generation.tasks import import_batch_task
from synthreview.http import HtmxHttpRequest
from synthreview.progress import progress_get, progress_key
from synthreview.projects.access import ProjectAccess, get_project_for_user


@login_required
@require_http_methods(["GET", "POST"])
def import_new(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "import")
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        batch = _start_import(access, form)
        return redirect("import_detail", slug=slug, pk=batch.pk)
    return render(request, "generation/import_new.html", {"access": access, "project": access.project, "form": form})


def _start_import(access: ProjectAccess, form: ImportForm) -> ImportBatch:
    data = form.cleaned_data
    # The stored name is ours alone; the user's file name is only ever displayed.
    folder = settings.DATA_DIR / "imports" / str(access.project.pk)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.{data['format']}"
    with open(path, "wb") as out:
        for chunk in data["file"].chunks():
            out.write(chunk)
    with transaction.atomic():
        batch = import_batch_create(
            access,
            path=path,
            file_name=data["file"].name,
            fmt=data["format"],
            origin=data["origin"],
            generator_name=data["generator"].strip(),
            template_name=data["template"].strip(),
            mapping=data["mapping"],
        )
        transaction.on_commit(lambda: import_batch_task.delay(batch.pk))
    return batch


@login_required
def import_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, batch = get_import_for_user(request.user, slug, pk)
    context = {
        "project": access.project,
        "access": access,
        "batch": batch,
        "progress": progress_get(progress_key("import", batch.pk)),
        "finished": batch.status in (ImportStatus.COMPLETED, ImportStatus.FAILED),
        "repeated": import_repeated_rows(batch),
        "line_unit": "row" if batch.format == ImportFormat.PARQUET else "line",
    }
    if request.htmx:
        response = render(request, "generation/import_detail.html#status", context)
        return HttpResponseStopPolling(response.content) if context["finished"] else response
    return render(request, "generation/import_detail.html", context)
