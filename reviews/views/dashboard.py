"""The leads' dashboard, its downloadable figures, quality recomputation, and alert settings."""

from __future__ import annotations

import csv
import io
import json
import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reviews.access import get_alert_for_user
from reviews.charts import histogram, stacked_share, trend_lines
from reviews.forms.alerts import AlertsAcknowledgeForm, AlertsSnoozeForm
from reviews.models import SnapshotScope
from reviews.quality.drift import MIN_WINDOW
from reviews.quality.thresholds import COPY_SIMILARITY, THRESHOLD_SPECS, project_thresholds
from reviews.selectors.alerts import alert_overview
from reviews.selectors.dashboard import (
    FIGURES,
    alert_channel_of,
    drift_history,
    figure_rows,
    latest_snapshots,
    metrics_table,
    nearest_real_bins,
    novelty_bins,
    project_snapshot_history,
    sample_mix,
)
from reviews.selectors.dashboard_summary import metric_groups, slipped_figures
from reviews.selectors.noise_floor import closed_audits, noise_floor_by, noise_floor_trend
from reviews.services.alerts import (
    alert_acknowledge,
    alert_channel_set,
    alerts_acknowledge_all,
    alerts_snooze,
    threshold_set,
)
from reviews.services.quality_checks import quality_snapshot_request
from reviews.services.quality_snapshots import SUBSET_ROWS
from reviews.views.audits import noise_floor_chart
from synthreview.csv_safety import csv_safe_cell
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import get_project_for_user
from synthreview.projects.forms.errors import form_errors_text

SCHEDULE_WORDS = {"minute": "every minute", "daily": "daily", "weekly": "weekly", "monthly": "monthly"}


@login_required
@require_GET
def dashboard(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "dashboard")
    project = access.project
    audits = closed_audits(project)
    limit = project.noise_floor_limit
    generators = [entry.as_row() for entry in noise_floor_by(project, "generator", audits)]
    snapshots = latest_snapshots(project)
    overall = next((s for s in snapshots if s.scope == SnapshotScope.PROJECT), None)
    thresholds = project_thresholds(project)
    history = project_snapshot_history(project)
    mix = sample_mix(project)
    copy_limit = thresholds["copy_share"]
    drift = drift_history(project, history)
    charts = {
        "noise_floor": noise_floor_chart(
            generators,
            title="Noise floor per generator (95% Wilson interval)",
            limit=limit,
            empty_message="No closed audits yet",
        ),
        "trend": trend_lines(
            noise_floor_trend(project, "generator", audits),
            title="Noise floor over time",
            y_label="Share marked wrong",
            limit=limit,
        ),
        "duplicates": trend_lines(
            [
                {
                    "name": name,
                    "points": [
                        (s.computed_at, s.metrics.get(metric), None, None)
                        for s in history
                        if s.metrics.get(metric) is not None
                    ],
                }
                for name, metric in (
                    ("In duplicate groups", "duplicate_share"),
                    ("Copy share", "copy_share"),
                    ("Low-novelty share", "low_novelty_share"),
                )
            ],
            title="Duplication and copies over time",
            y_label="Share of synthetic samples",
            empty_message="No quality snapshot yet",
        ),
        "drift": trend_lines(
            drift["previous"],
            title="Drift from the previous window",
            y_label="Fréchet distance",
            percent=False,
            limit=thresholds["drift_previous"].limit,
            empty_message="No drift measured yet: it needs two windows of new samples",
        ),
        "drift_to_real": trend_lines(
            drift["to_real"],
            title="Each window's distance to the real anchors",
            y_label="Fréchet distance",
            percent=False,
            empty_message="No window compared with real anchors yet",
        ),
        "novelty": histogram(
            novelty_bins(overall),
            title="Novelty of synthetic samples",
            x_label="1 − similarity to the nearest real or accepted sample",
            empty_message="No novelty scores yet",
        ),
        "nearest_real": histogram(
            nearest_real_bins(overall),
            title="Similarity to the nearest real sample",
            x_label="cosine similarity",
            highlight_from=COPY_SIMILARITY,
            highlight_label=f"copies (≥ {COPY_SIMILARITY})",
            empty_message="No real anchors to compare with yet",
        ),
        "mix": stacked_share(
            [("Real", mix.get("real", 0)), ("Synthetic", mix.get("synthetic", 0))], title="Real and synthetic samples"
        ),
    }
    expand = request.GET.get("alerts")
    alerts = alert_overview(project, expand=expand if expand in THRESHOLD_SPECS else None)
    groups = metric_groups(metrics_table(snapshots, thresholds), thresholds)
    context = {
        "project": project,
        "access": access,
        "charts": charts,
        "generators": generators,
        "audits": audits,
        "snapshot": overall,
        "groups": groups if snapshots else [],
        "slipped": slipped_figures(groups, generators, limit),
        "thresholds": thresholds,
        "copy_limit": copy_limit,
        "copy_similarity": COPY_SIMILARITY,
        "alerts": alerts,
        "figures": FIGURES,
        "class_balance": (overall.metrics.get("class_balance") or []) if overall else [],
        "min_window": MIN_WINDOW,
        "subset_rows": SUBSET_ROWS,
        "schedule": SCHEDULE_WORDS.get(project.quality_check_schedule, ""),
    }
    return render(request, "reviews/dashboard.html", context)


@login_required
@require_GET
def dashboard_figure(request: AuthenticatedHttpRequest, slug: str, figure: str, fmt: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "dashboard")
    if fmt not in ("csv", "json"):
        raise Http404("Figures come as CSV or JSON.")
    rows = figure_rows(access.project, figure)
    if rows is None:
        raise Http404("No such figure.")
    # The name is built from the project slug and a known figure name, never from free text.
    filename = f"{access.project.slug}-{figure}.{fmt}"
    if fmt == "json":
        response = HttpResponse(json.dumps(rows, cls=DjangoJSONEncoder, indent=1), content_type="application/json")
    else:
        out = io.StringIO()
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_safe_cell(_csv_value(row.get(column))) for column in columns])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_value(value: object) -> object:
    if isinstance(value, (dict, list)):
        return json.dumps(value, cls=DjangoJSONEncoder)
    return "" if value is None else value


@login_required
@require_POST
def quality_recompute(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "dashboard")
    quality_snapshot_request(access)
    messages.success(request, "Quality figures are being recomputed by a worker; reload in a minute.")
    return redirect("dashboard", slug)


@login_required
@require_POST
def alert_acknowledge_view(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, alert = get_alert_for_user(request.user, slug, pk, "dashboard")
    alert_acknowledge(access, alert_id=alert.pk)
    return redirect(f"/p/{slug}/dashboard/#alerts")


def _bulk_answer(request: AuthenticatedHttpRequest, form: AlertsAcknowledgeForm) -> HttpResponse:
    return HttpResponse(
        f"Nothing changed: {form_errors_text(form)}", status=400, content_type="text/plain; charset=utf-8"
    )


@login_required
@require_POST
def alerts_acknowledge_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Acknowledge every open alert shown, or one figure's."""
    access = get_project_for_user(request.user, slug, "dashboard")
    form = AlertsAcknowledgeForm(request.POST)
    if not form.is_valid():
        return _bulk_answer(request, form)
    count = alerts_acknowledge_all(access, metric=form.figure())
    messages.success(request, f"{count} alert{'s' if count != 1 else ''} acknowledged.")
    return redirect(f"/p/{slug}/dashboard/#alerts")


@login_required
@require_POST
def alerts_snooze_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Hide every open alert shown, or one figure's, for a day or a week."""
    access = get_project_for_user(request.user, slug, "dashboard")
    form = AlertsSnoozeForm(request.POST)
    if not form.is_valid():
        return _bulk_answer(request, form)
    days = form.cleaned_data["days"]
    count = alerts_snooze(access, metric=form.figure(), days=days)
    messages.success(
        request, f"{count} alert{'s' if count != 1 else ''} snoozed for {days} day{'s' if days != 1 else ''}."
    )
    return redirect(f"/p/{slug}/dashboard/#alerts")


@login_required
@require_http_methods(["GET", "POST"])
def alert_settings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Leads set thresholds and who is emailed; only admins set the webhook URL."""
    access = get_project_for_user(request.user, slug, "dashboard")
    project = access.project
    channel = alert_channel_of(project)
    errors: list[str] = []
    if request.method == "POST":
        current = project_thresholds(project)
        try:
            with transaction.atomic():
                for metric, spec in THRESHOLD_SPECS.items():
                    raw = request.POST.get(f"limit_{metric}", "").strip()
                    if not raw:
                        continue
                    try:
                        limit = float(raw) / 100 if spec.percent else float(raw)
                    except ValueError:
                        raise ValidationError(f"{spec.label}: “{raw}” is not a number.") from None
                    enabled = request.POST.get(f"enabled_{metric}") == "on"
                    # An untouched default stays a default, so it follows later changes to the default.
                    if not current[metric].custom and enabled and math.isclose(limit, current[metric].limit):
                        continue
                    threshold_set(access, metric=metric, limit=limit, enabled=enabled)
                webhook = request.POST.get("webhook_url")
                if webhook is not None and not access.can("generators"):
                    raise PermissionDenied("Only admins set the webhook URL.")
                if webhook is not None or "email_recipients" in request.POST:
                    alert_channel_set(
                        access,
                        webhook_url=webhook,
                        email_recipients=request.POST.get("email_recipients"),
                    )
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, "Alert settings saved.")
            return redirect("alert_settings", slug)
    thresholds = project_thresholds(project)
    context = {
        "project": project,
        "access": access,
        "thresholds": thresholds,
        "channel": channel,
        "errors": errors,
        "can_set_webhook": access.can("generators"),
    }
    return render(request, "reviews/alert_settings.html", context, status=400 if errors else 200)
