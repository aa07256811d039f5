"""The governance policy page: leads read it, admins change it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from generation.selectors.generators import project_generators
from reviews.forms.policy import PolicyForm
from reviews.governance.mix_policy import PHASE_MIN_REAL_SHARE, minimum_real_share
from reviews.selectors.audit_log import policy_history
from reviews.services.policy import project_policy_set
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import get_project_for_user
from synthreview.projects.models import Phase


@login_required
@require_http_methods(["GET", "POST"])
def policy_settings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "dashboard")
    if request.method == "POST" and not access.can("policy"):
        raise PermissionDenied("Only the project's admins change its policy.")
    project = access.project
    generators = list(project_generators(project))
    form = PolicyForm(request.POST if request.method == "POST" else None, project=project, generators=generators)
    if request.method == "POST" and form.is_valid():
        try:
            project_policy_set(access, **form.changes())
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(None if field in ("__all__", "generator_caps") else field, problems)
        else:
            messages.success(request, "Policy saved.")
            url = reverse("policy_settings", args=[slug])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if not access.can("policy"):
        form.disable()
    minimum = minimum_real_share(project.phase, project.min_real_share)
    context = {
        "project": project,
        "access": access,
        "form": form,
        "can_change": access.can("policy"),
        "minimum": float(minimum),
        "custom": project.min_real_share is not None,
        "phases": [
            {
                "value": value,
                "label": label,
                "minimum": float(PHASE_MIN_REAL_SHARE[value]),
                "current": value == project.phase,
            }
            for value, label in Phase.choices
        ],
        "history": policy_history(project),
    }
    template = "reviews/policy.html#policy-form" if request.htmx else "reviews/policy.html"
    return render(request, template, context, status=400 if form.errors else 200)
