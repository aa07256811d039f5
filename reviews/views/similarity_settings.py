"""The similarity settings page: leads (and admins) set what is embedded, the
near-duplicate threshold, the variant rule and the low-novelty thresholds, and choose
the threshold by looking at how the similarities spread and at pairs either side of it."""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from reviews.charts import histogram
from reviews.forms.similarity_settings import THRESHOLD_MESSAGE, SimilaritySettingsForm
from reviews.selectors.similarity_settings import (
    PREVIEW_MAX_SAMPLES,
    grouping_estimate,
    neighbour_similarity_bins,
    open_groups_now,
    pairs_near_threshold,
)
from reviews.services.similarity_settings import (
    MIN_NEAR_DUPLICATE_THRESHOLD,
    SimilaritySettingsChange,
    project_similarity_settings_set,
)
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import get_project_for_user
from synthreview.projects.models import Project


def _proposed(raw: str | None) -> tuple[float | None, str]:
    """The threshold a lead is trying out (?near_duplicate_threshold=0.88), or a problem to show."""
    if raw is None or not raw.strip():
        return None, ""
    try:
        value = float(raw)
    except ValueError:
        return None, THRESHOLD_MESSAGE
    if not math.isfinite(value) or not MIN_NEAR_DUPLICATE_THRESHOLD <= value <= 1:
        return None, THRESHOLD_MESSAGE
    return round(value, 4), ""


def _preview(project: Project, proposed: float | None, problem: str) -> dict:
    current = project.near_duplicate_threshold
    threshold = current if proposed is None else proposed
    marks = [] if threshold == current else [(current, f"saved {current:.2f}")]
    above, below = pairs_near_threshold(project, threshold)
    return {
        "threshold": threshold,
        "proposed": proposed,
        "problem": problem,
        "current": current,
        "chart": histogram(
            neighbour_similarity_bins(project),
            title="Each sample's nearest neighbour",
            x_label="cosine similarity to the nearest other sample",
            y_label="samples",
            highlight_from=threshold,
            marks=marks,
            empty_message="No neighbours yet: they appear after the first similarity build",
        ),
        "estimate": grouping_estimate(project, threshold),
        "estimate_now": None if threshold == current else grouping_estimate(project, current),
        "stored": open_groups_now(project),
        "above": above,
        "below": below,
        "limit": PREVIEW_MAX_SAMPLES,
    }


def _saved_message(change: SimilaritySettingsChange) -> str:
    if not change.moved:
        return "Nothing changed."
    parts = ["Similarity settings saved."]
    if change.reembed:
        parts.append(
            "The embedded text changed: every sample is being embedded again, then neighbours, groups "
            "and clusters are rebuilt. The similarity view shows the progress."
        )
    elif change.regroup:
        parts.append("Regrouping from the stored neighbours in a worker (no embedding again).")
    if change.low_novelty_clusters is not None:
        parts.append(
            f"{change.low_novelty_clusters:,} cluster{'s' if change.low_novelty_clusters != 1 else ''} now low-novelty."
        )
    return " ".join(parts)


@login_required
@require_http_methods(["GET", "POST"])
def similarity_settings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "similarity_settings")
    project = access.project
    proposed, problem = _proposed(request.GET.get("near_duplicate_threshold"))
    if request.method == "GET" and request.htmx:
        # The threshold field's preview: the chart, the pairs and the estimate for the value typed.
        return render(
            request,
            "reviews/similarity_settings.html#preview",
            {"project": project, "access": access, "preview": _preview(project, proposed, problem)},
            status=400 if problem else 200,
        )
    form = SimilaritySettingsForm(
        request.POST if request.method == "POST" else None,
        project=project,
        proposed_threshold=proposed,
        preview_url=reverse("similarity_settings", args=[slug]),
    )
    if request.method == "POST" and form.is_valid():
        try:
            change = project_similarity_settings_set(access, **form.changes())
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(None if field == "__all__" else field, errors)
        else:
            messages.success(request, _saved_message(change))
            return redirect(reverse("similarity_settings", args=[slug]))
    if request.method == "POST" and proposed is None and "near_duplicate_threshold" not in form.errors:
        proposed, _ = _proposed(request.POST.get("near_duplicate_threshold"))
    context = {"project": project, "access": access, "form": form, "preview": _preview(project, proposed, problem)}
    return render(request, "reviews/similarity_settings.html", context, status=400 if form.errors or problem else 200)
