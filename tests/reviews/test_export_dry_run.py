"""Check only: the exports page runs the gates on the form's options and shows each decision, with no
Export row, no file and no audit-log entry; a real export that the gates refuse is still recorded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from generation.models import Origin
from reviews.models import Export
from reviews.services.eval_sets import eval_set_version_create, eval_split_add
from reviews.services.export_check import export_check
from synthreview.projects.models import AuditLog
from tests.reviews.export_helpers import exported, lead_access, synthetic_run
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db

OPTIONS = {"format": "jsonl", "split": "train", "max_generation_depth": 1}
RECURSION = "No generator is related to the model being trained"
AUDIT = "Every synthetic sample is cleared by an expert audit"
MIX = "Enough real data, and no generator over its cap"


@pytest.fixture
def refused_mix(project):
    """Phase 1 (at least half real): 2 real and 8 synthetic samples of one run, never audited."""
    project.phase = 1
    project.save(update_fields=["phase"])
    add_samples(project, 2, origin=Origin.REAL, status="accepted")
    made_run, _ = synthetic_run(project, "run-june", 8, gen=generator(project, "gen-careful"))
    return made_run


def _text(html: str) -> str:
    """What a reader sees: the page without its tags, spaces squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _exported_files() -> list[Path]:
    return [p for p in (Path(settings.DATA_DIR) / "exports").rglob("*") if p.is_file()]


def test_check_only_shows_each_rule_and_makes_no_export(project, lead, client_for, refused_mix):
    logged = AuditLog.objects.count()
    response = client_for(lead).post(reverse("export_check", args=[project.slug]), OPTIONS)
    assert response.status_code == 200
    page = _text(response.content.decode())
    assert "This export would be refused" in page
    assert f"{RECURSION} Passed" in page
    assert f"{AUDIT} Refused" in page and "run run-june" in page
    assert f"{MIX} Refused" in page and "add 6 real samples" in page
    assert "It would take 10 samples: 2 real and 8 synthetic (20.0% real)" in page
    # Nothing made, written or logged; the history still says so.
    assert Export.objects.count() == 0
    assert _exported_files() == []
    assert AuditLog.objects.count() == logged
    assert "No exports yet." in page


def test_check_only_passes_with_an_override_and_names_who_overrode(project, lead, client_for):
    add_samples(project, 4, origin=Origin.REAL, status="accepted")
    synthetic_run(project, "run-june", 2)
    options = OPTIONS | {"audit_override_reason": "pilot, audited next week"}
    page = _text(client_for(lead).post(reverse("export_check", args=[project.slug]), options).content.decode())
    assert "This export would pass" in page
    assert f"{AUDIT} Overridden Overridden by lee-lead (lead): pilot, audited next week" in page
    assert Export.objects.count() == 0


def test_check_only_counts_the_samples_of_generators_left_out(project, lead, client_for):
    add_samples(project, 6, origin=Origin.REAL, status="accepted")
    left_out = generator(project, "gen-sloppy")
    synthetic_run(project, "run-a", 4, gen=left_out)
    options = OPTIONS | {"excluded_generators": [left_out.pk]}
    html = client_for(lead).post(reverse("export_check", args=[project.slug]), options).content.decode()
    row = re.search(r'<tr data-testid="held-excluded-generator">(.*?)</tr>', html, re.S)
    assert row is not None
    assert _text(row.group(1)).strip() == "Their generator was left out: gen-sloppy 4"
    assert "It would take 6 samples: 6 real and 0 synthetic" in _text(html)
    assert "This export would pass" in _text(html)


def test_check_only_for_htmx_answers_with_the_check_card_alone(project, lead, client_for, refused_mix):
    response = client_for(lead).post(
        reverse("export_check", args=[project.slug]), OPTIONS, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="export-check"') and "<html" not in body
    assert AUDIT in body and "This export would be refused" in body
    assert Export.objects.count() == 0


def test_check_only_is_for_leads_and_admins(project, expert, lead, admin_member, outsider, client_for, refused_mix):
    url = reverse("export_check", args=[project.slug])
    assert client_for(lead).post(url, OPTIONS).status_code == 200
    assert client_for(admin_member).post(url, OPTIONS).status_code == 200
    assert client_for(expert).post(url, OPTIONS).status_code == 403
    assert client_for(outsider).post(url, OPTIONS).status_code == 404
    anonymous = client_for(None).post(url, OPTIONS)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert client_for(lead).get(url).status_code == 405
    assert Export.objects.count() == 0


def test_check_only_refuses_bad_input_and_says_why(project, lead, client_for):
    url = reverse("export_check", args=[project.slug])
    response = client_for(lead).post(url, OPTIONS | {"format": "xls", "max_generation_depth": "-1"})
    assert response.status_code == 400
    page = _text(response.content.decode())
    assert "Select a valid choice. xls is not one of the available choices." in page
    partial = client_for(lead).post(url, OPTIONS | {"format": "xls"}, headers={"HX-Request": "true"})
    assert partial.status_code == 400
    assert 'data-testid="check-errors"' in partial.content.decode() and "Format: Select a valid choice" in _text(
        partial.content.decode()
    )
    assert Export.objects.count() == 0


def test_the_check_decides_as_the_export_that_follows_it(project, lead, refused_mix):
    check = export_check(lead_access(project, lead), max_generation_depth=1)
    export = exported(project, lead, max_generation_depth=1)
    assert export.status == "refused"
    assert [(d.gate, d.outcome, d.reason) for d in check.decisions] == [
        (d["gate"], d["outcome"], d["reason"]) for d in export.manifest["decisions"]
    ]
    assert (
        (check.real, check.synthetic)
        == (2, 8)
        == (
            export.manifest["counts"]["by_origin"]["real"],
            export.manifest["counts"]["by_origin"]["synthetic"],
        )
    )


def test_the_check_counts_samples_not_yet_checked_for_leaks_and_says_so(project, lead, client_for):
    members = add_samples(project, 2, origin=Origin.REAL, status="accepted")
    eval_split_add(lead_access(project, lead), sample_ids=[m.pk for m in members])
    eval_set_version_create(lead_access(project, lead))
    add_samples(project, 3, origin=Origin.REAL, status="accepted")
    check = export_check(lead_access(project, lead))
    # No leak check has run: the export would check the 3 first; the check counts them as taken.
    assert (check.real, check.unchecked) == (3, 3)
    page = _text(client_for(lead).post(reverse("export_check", args=[project.slug]), OPTIONS).content.decode())
    assert "3 of them arrived after the last eval-leak check" in page
    assert not Export.objects.exists()


def test_a_real_refusal_is_recorded_and_its_page_reads_in_words(project, lead, client_for, refused_mix):
    response = client_for(lead).post(reverse("export_list", args=[project.slug]), OPTIONS)
    export = Export.objects.get(project=project)
    assert response.status_code == 302
    from reviews.services.exports import export_run

    export_run(export_id=export.pk)
    assert AuditLog.objects.filter(action="export.refused", object_id=str(export.pk)).exists()
    listing = _text(client_for(lead).get(reverse("export_list", args=[project.slug])).content.decode())
    assert f"#{export.pk} · Train" in listing and "Refused" in listing
    page = _text(client_for(lead).get(reverse("export_detail", args=[project.slug, export.pk])).content.decode())
    assert f"{AUDIT}: No expert audit clears these samples" in page
    assert f"{MIX}: The export is 20.0% real" in page
    assert f"{RECURSION} Passed" in page
    for code in ("Mix:", "Audit:", "Recursion Passed", "passed"):
        assert code not in page
