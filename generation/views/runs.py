"""Pages for generation runs: list, define (preview, launch), watch, resume."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from generation.access import get_run_for_user
from generation.forms.runs import RunForm
from generation.runs.plan import PlanError
from generation.selectors.runs import (
    RUN_FINISHED_STATUSES,
    project_runs,
    run_constraint_counts,
    run_failed_items,
    run_flag_counts,
    run_lanes,
    run_prerequisites,
    run_totals,
    run_unattended_lanes,
)
from generation.services.runs import run_cancel, run_create, run_preview, run_resume
from synthreview.http import HtmxHttpRequest
from synthreview.projects.access import get_project_for_user


@login_required
def run_list(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    runs = list(project_runs(access.project, limit=100))
    context = {
        "access": access,
        "project": access.project,
        "runs": runs,
        # An empty list says which step comes first: a template, a generator, or the run itself.
        "prerequisites": None if runs else run_prerequisites(access.project),
    }
    return render(request, "generation/runs.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def run_new(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "generate")
    form = RunForm(request.POST or None, request.FILES or None, project=access.project)
    context = {"access": access, "project": access.project, "form": form, "preview": None, "plan_errors": []}
    if request.method == "POST" and form.is_valid():
        try:
            if request.POST.get("action") == "launch":
                run = run_create(access, spec=form.spec())
                # The message stays on the page while the status below it changes: it names no state.
                messages.success(request, f"Run {run.name} launched: {run.items_total:,} items.")
                return redirect("run_detail", slug=slug, pk=run.pk)
            context["preview"] = run_preview(form.spec())
        except PlanError as error:
            context["plan_errors"] = error.errors
    if request.htmx and request.method == "POST":
        return render(request, "generation/run_new.html#preview", context)
    return render(request, "generation/run_new.html", context)


@login_required
def run_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, run = get_run_for_user(request.user, slug, pk, "view")
    lanes = run_lanes(run)
    finished = run.status in RUN_FINISHED_STATUSES
    context = {
        "access": access,
        "project": access.project,
        "run": run,
        "lanes": lanes,
        "totals": run_totals(run, lanes),
        "finished": finished,
        "failed_items": run_failed_items(run),
        "flag_counts": run_flag_counts(run),
        "can_act": access.can("generate"),
        "unattended": run_unattended_lanes(run, lanes),
    }
    if request.htmx:
        response = render(request, "generation/run_detail.html#status", context)
        return HttpResponseStopPolling(response.content) if finished else response
    context["constraint_counts"] = run_constraint_counts(run)
    return render(request, "generation/run_detail.html", context)


@login_required
@require_POST
def run_action(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access, run = get_run_for_user(request.user, slug, pk, "generate")
    action = request.POST.get("action")
    if action == "cancel":
        run_cancel(access, run=run)
        messages.info(request, "The run is cancelled; its pending items stay pending until you resume it.")
    elif action in ("resume", "retry-failed"):
        run_resume(access, run=run, retry_failed=action == "retry-failed")
        messages.info(request, "The run's pending items go back to the workers; items already done are not redone.")
    else:
        messages.error(request, "Unknown action.")
    return redirect("run_detail", slug=slug, pk=run.pk)
