"""An audit from drawing to frozen figures, through the services and the pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from reviews.models import Audit, AuditItem, Verdict
from reviews.services.audits import (
    AuditClosed,
    AuditItemFull,
    audit_close,
    audit_create,
    audit_verdict_record,
    gold_sample_set,
)
from synthreview.projects.access import ProjectAccess, project_access
from synthreview.projects.models import Role
from tests.reviews.review_helpers import add_samples, generator, template_version

pytestmark = pytest.mark.django_db


def _project_with_two_generators(project):
    version = template_version(project)
    first, second = generator(project, "gen-a"), generator(project, "gen-b")
    add_samples(project, 30, gen=first, template_version=version)
    add_samples(project, 10, gen=second, template_version=version)
    return first, second


def test_draw_is_stratified_reproducible_and_blind_to_gold(project, lead):
    first, second = _project_with_two_generators(project)
    real = add_samples(project, 3, origin="real")
    for sample in real:
        gold_sample_set(project_access(lead, project), sample_id=sample.pk, expected_value="correct")
    audit = audit_create(project_access(lead, project), scope="project", sample_size=20, gold_items=2, seed=7)
    items = list(AuditItem.objects.filter(audit=audit).select_related("sample"))
    scored = [item for item in items if not item.is_gold]
    # 30:10 of 20 → 15 and 5.
    assert sum(item.sample.generator_id == first.pk for item in scored) == 15
    assert sum(item.sample.generator_id == second.pk for item in scored) == 5
    assert sum(item.is_gold for item in items) == 2
    assert {item.sample.origin for item in items if item.is_gold} == {"real"}
    again = audit_create(project_access(lead, project), scope="project", sample_size=20, gold_items=2, seed=7)
    assert [(i.sample_id, i.is_gold) for i in AuditItem.objects.filter(audit=again).order_by("position")] == [
        (i.sample_id, i.is_gold) for i in AuditItem.objects.filter(audit=audit).order_by("position")
    ]


def test_overlap_two_gives_kappa_and_freezes_when_complete(project, lead, expert, django_user_model):
    _project_with_two_generators(project)
    second_expert = django_user_model.objects.create_user("expert2", password="x")
    project.memberships.create(user=second_expert, role="expert")
    audit = audit_create(project_access(lead, project), scope="project", sample_size=10, overlap=2, seed=3)
    items = list(AuditItem.objects.filter(audit=audit).order_by("position"))
    # Both say wrong on the first 2, correct on the rest: complete agreement.
    for reviewer in (expert, second_expert):
        for index, item in enumerate(items):
            audit_verdict_record(
                project_access(reviewer, project),
                audit=audit,
                sample_id=item.sample_id,
                value="wrong" if index < 2 else "correct",
                error_category="wrong_label" if index < 2 else "",
            )
    audit.refresh_from_db()
    assert audit.status == "closed"
    figures = audit.frozen_figures
    assert figures["noise_floor"]["wrong"] == 2 and figures["noise_floor"]["judged"] == 10
    # Wilson 95% for 2 of 10: 0.0567 to 0.5098 (Newcombe 1998's method 3 applied by hand).
    assert figures["noise_floor"]["low"] == pytest.approx(0.0567, abs=5e-4)
    assert figures["noise_floor"]["high"] == pytest.approx(0.5098, abs=5e-4)
    assert figures["agreement"]["method"] == "Cohen's κ" and figures["agreement"]["value"] == pytest.approx(1.0)
    third = django_user_model.objects.create_user("expert3", password="x")
    # Not a member: the service leaves membership to the view, so the expert's access is built by hand.
    third_access = ProjectAccess(project=project, role=Role.EXPERT, user=third)
    with pytest.raises(AuditClosed):
        audit_verdict_record(third_access, audit=audit, sample_id=items[0].sample_id, value="correct")


def test_a_third_reviewer_is_turned_away_from_a_full_item(project, lead, expert, django_user_model):
    _project_with_two_generators(project)
    audit = audit_create(project_access(lead, project), scope="project", sample_size=10, overlap=1, seed=1)
    item = AuditItem.objects.filter(audit=audit).first()
    audit_verdict_record(project_access(expert, project), audit=audit, sample_id=item.sample_id, value="correct")
    other = django_user_model.objects.create_user("other", password="x")
    # Not a member: the service leaves membership to the view, so the expert's access is built by hand.
    other_access = ProjectAccess(project=project, role=Role.EXPERT, user=other)
    with pytest.raises(AuditItemFull):
        audit_verdict_record(other_access, audit=audit, sample_id=item.sample_id, value="wrong")
    assert Verdict.objects.filter(audit=audit).count() == 1


def test_closing_early_needs_a_reason(project, lead):
    _project_with_two_generators(project)
    audit = audit_create(project_access(lead, project), scope="project", sample_size=10, seed=1)
    with pytest.raises(ValidationError, match="say why"):
        audit_close(project_access(lead, project), audit=audit, reason="")
    audit_close(project_access(lead, project), audit=audit, reason="generator retired")
    assert Audit.objects.get(pk=audit.pk).status == "closed"


def test_pages_render(project, lead, expert, client_for):
    _project_with_two_generators(project)
    audit = audit_create(project_access(lead, project), scope="project", sample_size=10, overlap=1, seed=1)
    lead_client, expert_client = client_for(lead), client_for(expert)
    for name, args in (
        ("audit_list", []),
        ("audit_detail", [audit.pk]),
        ("noise_floor", []),
        ("dashboard", []),
        ("alert_settings", []),
    ):
        response = lead_client.get(reverse(name, args=[project.slug, *args]))
        assert response.status_code == 200, (name, response.content[:500])
    response = expert_client.get(reverse("review_queue", args=[project.slug]) + f"?audit={audit.pk}")
    assert response.status_code == 200
    assert b"Item 1 of 10" in response.content
    item = AuditItem.objects.get(audit=audit, position=1)
    response = expert_client.post(
        reverse("verdict_save", args=[project.slug, item.sample_id]),
        {"value": "wrong", "error_category": "hallucination", "revision": 0, "audit": audit.pk, "order": "audit"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"Item 2 of 10" in response.content
    assert Verdict.objects.get(audit=audit, sample_id=item.sample_id).value == "wrong"
    assert expert_client.get(reverse("dashboard", args=[project.slug])).status_code == 403
