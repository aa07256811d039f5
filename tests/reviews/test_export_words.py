"""The export pages, the audit page and the audit log speak in words: each gate by its title, who
overrode by name and role, samples left out as a count of samples, and an error category by its label."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from generation.models import Origin
from reviews.services.audits import audit_verdict_record
from reviews.services.eval_sets import eval_set_version_create, eval_split_add
from synthreview.projects.access import project_access
from tests.reviews.audit_helpers import audit_drawn, scored_items
from tests.reviews.export_helpers import exported, lead_access, synthetic_run
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db

AUDIT = "Every synthetic sample is cleared by an expert audit"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _detail(client, project, export) -> str:
    return _text(client.get(reverse("export_detail", args=[project.slug, export.pk])).content.decode())


def test_the_eval_gate_reads_as_a_title_not_its_code(project, lead, client_for):
    members = add_samples(project, 3, origin=Origin.REAL, status="accepted")
    eval_split_add(lead_access(project, lead), sample_ids=[m.pk for m in members])
    eval_set_version_create(lead_access(project, lead))
    export = exported(project, lead, split="eval")
    assert export.status == "completed", export.refusals
    page = _detail(client_for(lead), project, export)
    assert "The eval set is real only Passed Eval set v1: real only, version-locked." in page
    assert "Eval_real_only" not in page and "eval_real_only" not in page


def test_an_admins_override_names_the_admin_and_their_role(project, admin_member, client_for):
    admin_member.first_name, admin_member.last_name = "Ada", "Lovelace"
    admin_member.save()
    add_samples(project, 4, origin=Origin.REAL, status="accepted")
    synthetic_run(project, "run-june", 2)
    export = exported(project, admin_member, audit_override_reason="pilot, audited next week")
    assert export.status == "completed", export.refusals
    page = _detail(client_for(admin_member), project, export)
    assert f"{AUDIT} Overridden Overridden by Ada Lovelace (admin): pilot, audited next week" in page
    assert "by a lead" not in page


def test_a_leads_override_names_the_lead(project, lead, client_for):
    add_samples(project, 4, origin=Origin.REAL, status="accepted")
    synthetic_run(project, "run-june", 2)
    export = exported(project, lead, audit_override_reason="pilot")
    page = _detail(client_for(lead), project, export)
    assert "Overridden by lee-lead (lead): pilot" in page


def test_samples_of_generators_left_out_are_counted_as_samples(project, lead, client_for):
    add_samples(project, 6, origin=Origin.REAL, status="accepted")
    sloppy = generator(project, "gen-sloppy")
    synthetic_run(project, "run-a", 4, gen=sloppy)
    export = exported(project, lead, excluded_generator_ids=[sloppy.pk])
    assert export.status == "completed", export.refusals
    html = client_for(lead).get(reverse("export_detail", args=[project.slug, export.pk])).content.decode()
    held = re.search(r'<table class="samples held-back".*?</table>', html, re.S)
    assert held is not None
    assert "Why Samples" in _text(held.group(0))
    assert "Their generator was left out: gen-sloppy 4" in _text(held.group(0))
    assert "Generators left out" not in _text(html)


def test_the_exports_page_names_the_phase(project, lead, client_for):
    project.phase = 1
    project.save(update_fields=["phase"])
    page = _text(client_for(lead).get(reverse("export_list", args=[project.slug])).content.decode())
    assert "at least 50% real data (the minimum of phase 1)" in page
    assert "Audit override (leads and admins)" in page


def test_the_exports_page_names_the_prototype_phase_without_nesting_brackets(project, lead, client_for):
    project.phase = 0
    project.save(update_fields=["phase"])
    page = _text(client_for(lead).get(reverse("export_list", args=[project.slug])).content.decode())
    assert "at least 0% real data (the minimum of phase 0, the prototype)" in page


def test_a_disagreement_shows_the_error_categorys_label(project, lead, expert, admin_member, client_for):
    synthetic_run(project, "run-a", 10)
    audit = audit_drawn(project, lead, size=10, overlap=2)
    for index, item in enumerate(scored_items(audit)):
        for reviewer, value in ((expert, "wrong" if index == 0 else "correct"), (admin_member, "correct")):
            audit_verdict_record(
                project_access(reviewer, project),
                audit=audit,
                sample_id=item.sample_id,
                value=value,
                error_category="wrong_label" if value == "wrong" else "",
            )
    page = _text(client_for(lead).get(reverse("audit_detail", args=[project.slug, audit.pk])).content.decode())
    assert "erin-expert: wrong (wrong label)" in page
    assert "wrong_label" not in page

    log = _text(client_for(lead).get(reverse("audit_log", args=[project.slug])).content.decode())
    assert "Wrong label" in log
    assert "wrong_label" not in log
