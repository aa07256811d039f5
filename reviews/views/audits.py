"""Audit pages: the list and the planner, one audit's figures, closing,
adjudicating disagreements, gold samples, and the project's noise floor."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generation.access import get_sample_with_access
from reviews.access import get_audit_for_user
from reviews.charts import interval_bars, trend_lines
from reviews.forms.audits import AdjudicationForm, AuditCloseForm, AuditForm, AuditPlanForm, GoldForm
from reviews.metrics import planned_interval_width, wilson_interval
from reviews.models import Audit, AuditStatus
from reviews.selectors.audit_queue import audit_progress, audits_progress
from reviews.selectors.audits import BREAKDOWNS, audit_figures, gold_sample_count, project_audits
from reviews.selectors.blinding import blinding_for
from reviews.selectors.noise_floor import (
    closed_audits,
    error_categories_pooled,
    noise_floor_by,
    noise_floor_compare,
    noise_floor_trend,
)
from reviews.services.audits import (
    AuditClosed,
    audit_adjudicate,
    audit_close,
    gold_sample_remove,
    gold_sample_set,
)
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import ProjectAccess, get_project_for_user
from synthreview.projects.forms.errors import form_errors_text
from synthreview.projects.params import non_negative_int_or_none

PLANNER_SIZES = (30, 50, 60, 80, 100, 150)


def noise_floor_chart(
    rows: list[dict], *, title: str, limit: float, empty_message: str = "Nothing to show yet"
) -> SafeString:
    """Rows of noise-floor figures (rate, low, high, wrong, judged) as interval bars against the project's limit."""
    return interval_bars(
        [
            {
                "label": row["label"],
                "value": row["rate"],
                "low": row["low"],
                "high": row["high"],
                "note": f"{row['wrong']} wrong of {row['judged']}"
                + (f" in {row['audits']} audits" if row.get("audits", 1) > 1 else ""),
            }
            for row in rows
        ],
        title=title,
        axis_label="Share marked wrong",
        limit=limit,
        empty_message=empty_message,
    )


def _refusal(error: Exception) -> str:
    return " ".join(getattr(error, "messages", None) or [str(error)])


def _plan(sample_size: int, expected_percent: int) -> dict:
    rate = expected_percent / 100
    expected_wrong = round(sample_size * rate)
    low, high = wilson_interval(expected_wrong, sample_size)
    return {
        "n": sample_size,
        "rate": rate,
        "width": planned_interval_width(sample_size, rate),
        "half": planned_interval_width(sample_size, rate) / 2,
        "low": low,
        "high": high,
        "expected_wrong": expected_wrong,
        "table": [{"n": n, "width": planned_interval_width(n, rate)} for n in PLANNER_SIZES],
    }


@login_required
@require_http_methods(["GET", "POST"])
def audit_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "review")
    project = access.project
    form = None
    if access.can("audit"):
        form = AuditForm(request.POST or None, project=project)
        if request.method == "POST" and form.is_valid():
            try:
                audit = form.audit_draw(access)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                gold = (
                    f" and {audit.gold_items} gold item{'s' if audit.gold_items != 1 else ''}"
                    if audit.gold_items
                    else ""
                )
                messages.success(
                    request, f"Drew {audit.sample_size} item{'s' if audit.sample_size != 1 else ''}{gold}."
                )
                return redirect("audit_detail", slug, audit.pk)
    elif request.method == "POST":
        get_project_for_user(request.user, slug, "audit")
    audits = project_audits(project)
    progress = audits_progress(audits)
    rows = [{"audit": audit, "progress": progress[audit.pk], "floor": audit.frozen_noise_floor} for audit in audits]
    # What the lead typed, even when the form refuses it, so the planner shows that audit; a rate is a percent.
    planned = non_negative_int_or_none(str(form["sample_size"].value())) if form else None
    rate = non_negative_int_or_none(str(form["expected_error_rate"].value()), maximum=100) if form else None
    context = {
        "project": project,
        "access": access,
        "form": form,
        "rows": rows,
        "gold_count": gold_sample_count(project),
        "plan": _plan(60 if planned is None else planned, 10 if rate is None else rate) if form else None,
    }
    return render(request, "reviews/audits.html", context, status=400 if form is not None and form.errors else 200)


@login_required
@require_GET
def audit_plan(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The planner, redrawn by htmx as the lead changes n or the expected error rate."""
    access = get_project_for_user(request.user, slug, "audit")
    form = AuditPlanForm(request.GET)
    sample_size, rate = 60, 10
    if form.is_valid():
        sample_size = form.cleaned_data["sample_size"] or sample_size
        rate = form.cleaned_data["expected_error_rate"] or rate
    return render(
        request,
        "reviews/audits.html#plan",
        {"project": access.project, "plan": _plan(sample_size, rate), "plan_error": form_errors_text(form)},
    )


@login_required
@require_GET
def audit_detail(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, audit = get_audit_for_user(request.user, slug, pk, "review")
    return _audit_detail_page(request, access, audit)


def _audit_detail_page(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    audit: Audit,
    *,
    close_form: AuditCloseForm | None = None,
    status: int = 200,
) -> HttpResponse:
    figures = audit_figures(audit)
    if (blinding := blinding_for(request.user, access)).held:
        figures = {**figures, "disagreements": blinding.left_out(figures.get("disagreements") or [])}
    # While an audit is open, experts see only progress: the running noise floor would anchor their verdicts.
    show_figures = access.can("audit") or audit.status == AuditStatus.CLOSED
    charts = {}
    if show_figures:
        for key, title in BREAKDOWNS.items():
            charts[key] = noise_floor_chart(
                figures["breakdowns"][key],
                title=f"Noise floor by {title.lower()}",
                limit=access.project.noise_floor_limit,
            )
    context = {
        "project": access.project,
        "access": access,
        "audit": audit,
        "figures": figures,
        "show_figures": show_figures,
        "chart_list": list(charts.values()),
        "progress": audit_progress(audit, request.user),
        "close_form": close_form or AuditCloseForm(),
        "verdict_choices": cast(forms.ChoiceField, AdjudicationForm.base_fields["value"]).choices,
        "category_choices": cast(forms.ChoiceField, AdjudicationForm.base_fields["error_category"]).choices,
    }
    return render(request, "reviews/audit_detail.html", context, status=status)


@login_required
@require_POST
def audit_close_view(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, audit = get_audit_for_user(request.user, slug, pk, "audit")
    form = AuditCloseForm(request.POST, figures=audit_figures(audit) if audit.status == AuditStatus.OPEN else None)
    if not form.is_valid():
        return _audit_detail_page(request, access, audit, close_form=form, status=400)
    try:
        audit_close(access, audit=audit, reason=form.cleaned_data["reason"])
        messages.success(request, "The audit is closed and its figures are frozen.")
    except ValidationError as error:
        # The figures moved between the form's check and the service's (a verdict arrived): same field, same words.
        form.add_error("reason", _refusal(error))
        return _audit_detail_page(request, access, audit, close_form=form, status=400)
    except AuditClosed as error:
        messages.error(request, _refusal(error))
    return redirect("audit_detail", slug, audit.pk)


@login_required
@require_POST
def audit_adjudicate_view(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, audit = get_audit_for_user(request.user, slug, pk, "audit")
    form = AdjudicationForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The decision was not saved. {form_errors_text(form)}")
    else:
        data = form.cleaned_data
        try:
            audit_adjudicate(
                access,
                audit=audit,
                sample_id=data["sample"],
                value=data["value"],
                error_category=data["error_category"] or "",
                note=data["note"] or "",
            )
            messages.success(request, f"Decided: {data['value']}.")
        except (ValidationError, AuditClosed) as error:
            messages.error(request, _refusal(error))
    return redirect(f"{reverse('audit_detail', args=[slug, audit.pk])}#disagreements")


@login_required
@require_POST
def gold_set_view(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, sample = get_sample_with_access(request.user, slug, pk, "audit")
    form = GoldForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not saved: {form_errors_text(form)}")
    elif form.cleaned_data["expected_value"] == "remove":
        gold_sample_remove(access, sample_id=sample.pk)
        messages.success(request, "Removed from the gold set.")
    else:
        try:
            gold_sample_set(
                access,
                sample_id=sample.pk,
                expected_value=form.cleaned_data["expected_value"],
                expected_error_category=form.cleaned_data["expected_error_category"] or "",
                note=form.cleaned_data["note"] or "",
            )
            messages.success(request, "Added to the gold set.")
        except ValidationError as error:
            messages.error(request, _refusal(error))
    return redirect("sample_detail", slug, sample.pk)


@login_required
@require_GET
def noise_floor_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "dashboard")
    project = access.project
    audits = closed_audits(project)
    limit = project.noise_floor_limit
    tables, charts = {}, {}
    for key, title in BREAKDOWNS.items():
        rows = [entry.as_row() for entry in noise_floor_by(project, key, audits)]
        tables[key] = rows
        charts[key] = noise_floor_chart(
            rows, title=f"Noise floor by {title.lower()}", limit=limit, empty_message="No closed audits yet"
        )
    compare_key = request.GET.get("compare", "generator")
    compare_key = compare_key if compare_key in ("generator", "template_version") else "generator"
    comparison = None
    first, second = (
        non_negative_int_or_none(request.GET.get("first")),
        non_negative_int_or_none(request.GET.get("second")),
    )
    if first is not None and second is not None:
        comparison = noise_floor_compare(project, compare_key, first, second)
    context = {
        "project": project,
        "access": access,
        "audits": audits,
        "limit": limit,
        "split_left_out": sum(floor.split for a in audits if (floor := a.frozen_noise_floor) is not None),
        "sections": [
            {"key": key, "title": title, "rows": tables[key], "chart": charts[key]} for key, title in BREAKDOWNS.items()
        ],
        "trend": trend_lines(
            noise_floor_trend(project, "generator", audits),
            title="Noise floor over time",
            y_label="Share marked wrong",
            limit=limit,
        ),
        "categories": error_categories_pooled(project, audits),
        "comparison": comparison,
        "compare_key": compare_key,
        "compare_options": tables[compare_key],
        "first": first,
        "second": second,
    }
    return render(request, "reviews/noise_floor.html", context)
