"""Export pages: ask for an export, follow it, read its gates and manifest,
download the file, and record how a model trained on it scored."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from reviews.access import get_export_for_user
from reviews.charts import share_scatter
from reviews.forms.governance import DownstreamResultForm, ExportForm
from reviews.governance.mix_policy import minimum_real_share
from reviews.models import Export, LeakKind
from reviews.selectors.governance import exports_page, parity_series, performance_parity
from reviews.services.downstream import DownstreamError, downstream_result_record
from reviews.services.export_check import ExportCheck, export_check
from reviews.services.exports import ExportError, export_file_path, export_request
from synthreview.http import AuthenticatedHttpRequest
from synthreview.progress import progress_get, progress_key
from synthreview.projects.access import ProjectAccess, get_project_for_user
from synthreview.projects.forms.errors import form_errors_text
from synthreview.projects.params import non_negative_int_or_none

# What a lead can do about each refusal, shown beside it.
REMEDIES = {
    "mix": "Add real samples (import them, then accept them in the sample browser), or leave generators out of "
    "the export.",
    "recursion": "Leave the refused generators out of the export, or declare the model being trained, with its "
    "lineage, on the Policy page.",
    "eval_real_only": "Freeze a new eval-set version from real samples only.",
}


def _export_options(form: ExportForm) -> dict:
    data = form.cleaned_data
    return {
        "format": data["format"],
        "split": data["split"],
        "target_model": data["target_model"],
        "max_generation_depth": data["max_generation_depth"],
        "eval_set_version": data["eval_set_version"],
        "excluded_generator_ids": [g.pk for g in data["excluded_generators"]],
        "audit_override_reason": data["audit_override_reason"],
    }


def _exports_page(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    form: ExportForm,
    *,
    check: ExportCheck | None = None,
    checked: bool = False,
    status: int = 200,
) -> HttpResponse:
    project = access.project
    exports, older = exports_page(project, before=non_negative_int_or_none(request.GET.get("before")))
    parity = performance_parity(project)
    charts = [
        (
            metric,
            share_scatter(
                parity_series(rows),
                title=f"{metric} against the export's real share",
                x_label="Real share of the training export",
                y_label=metric,
            ),
        )
        for metric, rows in parity.items()
    ]
    return render(
        request,
        "reviews/exports.html",
        {
            "project": project,
            "access": access,
            "form": form,
            "check": check,
            "checked": checked,
            "remedies": REMEDIES,
            "exports": exports,
            "older": older,
            "minimum": float(minimum_real_share(project.phase, project.min_real_share)),
            "parity": parity,
            "parity_charts": charts,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def export_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "export")
    project = access.project
    form = ExportForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            export = export_request(access, **_export_options(form))
        except ExportError as error:
            form.add_error(None, str(error))
        else:
            return redirect("export_detail", slug=project.slug, pk=export.pk)
    return _exports_page(request, access, form)


@login_required
@require_POST
def export_check_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Check only: the gates' decisions for the form's options, shown on the exports page (or, for htmx,
    in its check card), with no export made. Nothing is written, so nothing to redirect to."""
    access = get_project_for_user(request.user, slug, "export")
    form = ExportForm(request.POST, project=access.project)
    check = None
    if form.is_valid():
        try:
            check = export_check(access, **_export_options(form))
        except ExportError as error:
            form.add_error(None, str(error))
    status = 400 if form.errors else 200
    if request.htmx:
        context = {"project": access.project, "form": form, "check": check, "checked": True, "remedies": REMEDIES}
        return render(request, "reviews/exports.html#export-check", context, status=status)
    return _exports_page(request, access, form, check=check, checked=True, status=status)


@login_required
@require_GET
def export_detail(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, export = get_export_for_user(request.user, slug, pk)
    progress = progress_get(progress_key("export", export.pk)) if not export.finished else None
    context = {
        "project": access.project,
        "access": access,
        "export": export,
        "progress": progress,
        "remedies": REMEDIES,
        "result_form": DownstreamResultForm(),
        "leak_kinds": dict(LeakKind.choices),
        "results": list(export.downstream_results.select_related("recorded_by").order_by("metric", "id")),
    }
    if request.htmx and request.GET.get("part") == "status":
        response = render(request, "reviews/export_detail.html#export-status", context)
        return HttpResponseStopPolling(response.content) if export.finished else response
    return render(request, "reviews/export_detail.html", context)


def _stored_file(export: Export) -> Path:
    """The export's file, only if it lies where the server put it."""
    path = export_file_path(export)
    if path is None:
        raise Http404("This export has no file.")
    return path


@login_required
@require_GET
def export_download(request: AuthenticatedHttpRequest, slug: str, pk: int) -> FileResponse:
    _, export = get_export_for_user(request.user, slug, pk)
    path = _stored_file(export)
    # FileResponse writes Content-Disposition itself, quoting and encoding the name; the name is ours anyway.
    response = FileResponse(path.open("rb"), as_attachment=True, filename=export.file_name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def export_manifest(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    _, export = get_export_for_user(request.user, slug, pk)
    if not export.finished or export.manifest is None:
        raise Http404("The manifest is written when the export finishes.")
    response = HttpResponse(
        json.dumps(export.manifest, indent=2, ensure_ascii=False) + "\n", content_type="application/json; charset=utf-8"
    )
    name = f"{export.project.slug}-export-{export.pk}.manifest.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def downstream_result_add(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, export = get_export_for_user(request.user, slug, pk)
    form = DownstreamResultForm(request.POST)
    if form.is_valid():
        try:
            downstream_result_record(access, export=export, **form.cleaned_data)
        except DownstreamError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Result recorded.")
    else:
        messages.error(request, form_errors_text(form))
    return redirect("export_detail", slug=access.project.slug, pk=export.pk)
