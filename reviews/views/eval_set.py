"""The eval-set page: which real samples are in the eval split, its frozen
versions with their hashes, and the leaks found against the latest one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from reviews.forms.governance import EvalDrawForm, EvalFreezeForm, EvalIdsForm
from reviews.selectors.governance import eval_set_overview
from reviews.services.eval_sets import (
    EvalSetError,
    eval_set_version_create,
    eval_split_add,
    eval_split_draw,
    eval_split_remove,
)
from synthreview.projects.access import get_project_for_user

ACTIONS = ("add", "remove", "draw", "freeze")


@login_required
@require_http_methods(["GET", "POST"])
def eval_set_view(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "export")
    project = access.project
    action = request.POST.get("action") if request.method == "POST" else None
    forms = {
        "add": EvalIdsForm(request.POST if action == "add" else None, prefix="add"),
        "remove": EvalIdsForm(request.POST if action == "remove" else None, prefix="remove"),
        "draw": EvalDrawForm(request.POST if action == "draw" else None, prefix="draw"),
        "freeze": EvalFreezeForm(request.POST if action == "freeze" else None, prefix="freeze"),
    }
    if action in ACTIONS and forms[action].is_valid():
        data = forms[action].cleaned_data
        try:
            if action == "add":
                moved = eval_split_add(access, sample_ids=data["sample_ids"])
                messages.success(request, f"{moved:,} sample{'s' if moved != 1 else ''} moved into the eval split.")
            elif action == "remove":
                moved = eval_split_remove(access, sample_ids=data["sample_ids"])
                messages.success(request, f"{moved:,} sample{'s' if moved != 1 else ''} taken out of the eval split.")
            elif action == "draw":
                moved = eval_split_draw(access, count=data["count"], seed=data["seed"])
                messages.success(request, f"{moved:,} real samples drawn into the eval split.")
            else:
                version = eval_set_version_create(access, note=data["note"])
                messages.success(
                    request,
                    f"Eval set v{version.version} frozen: {version.member_count:,} samples, "
                    f"hash {version.content_hash[:12]}…. Checking the train side for leaks.",
                )
        except EvalSetError as error:
            forms[action].add_error(None, str(error))
        else:
            return redirect("eval_set", slug=project.slug)
    return render(
        request,
        "reviews/eval_set.html",
        {"project": project, "access": access, "forms": forms, "overview": eval_set_overview(project)},
    )
