"""The export and eval-set pages: who may see them, what they show, and how files are served."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.http import Http404
from django.urls import reverse

from generation.models import Origin, Sample, Split
from reviews.models import DownstreamResult, Export
from reviews.views.exports import _stored_file
from tests.reviews.export_helpers import exported, synthetic_run
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed(project, lead) -> Export:
    add_samples(project, 6, origin=Origin.REAL, status="accepted")
    synthetic_run(project, "r1", 2)
    export = exported(project, lead, audit_override_reason="pilot, audited next week")
    assert export.status == "completed", export.refusals
    return export


@pytest.mark.parametrize("name", ["export_list", "eval_set"])
def test_governance_pages_are_for_leads_and_admins(name, project, expert, lead, admin_member, outsider, client_for):
    url = reverse(name, args=[project.slug])
    assert client_for(lead).get(url).status_code == 200
    assert client_for(admin_member).get(url).status_code == 200
    assert client_for(expert).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 404


def test_downloads_are_for_leads_only_and_scoped_to_the_project(
    completed, project, other_project, expert, lead, outsider, client_for
):
    download = reverse("export_download", args=[project.slug, completed.pk])
    manifest = reverse("export_manifest", args=[project.slug, completed.pk])
    assert client_for(expert).get(download).status_code == 403
    assert client_for(outsider).get(download).status_code == 404
    # The export's id under another project's slug is not found, even for a member of that project.
    assert (
        client_for(outsider).get(reverse("export_download", args=[other_project.slug, completed.pk])).status_code == 404
    )
    response = client_for(lead).get(download)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{project.slug}-train-export-{completed.pk}.jsonl"'
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == completed.sha256
    assert len(body.splitlines()) == 8
    response = client_for(lead).get(manifest)
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["counts"]["total"] == 8 and data["override"]["reason"] == "pilot, audited next week"


def test_a_path_outside_the_export_folder_is_never_served(completed, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not for download")
    # The record cannot be changed (the trigger refuses it), so a copy in memory stands in for a tampered row.
    tampered = Export.objects.get(pk=completed.pk)
    # Another project's folder, reached by climbing out of this one's.
    elsewhere = (
        Path(completed.stored_path).parent / ".." / str(completed.project_id + 1) / f"export-{completed.pk}.jsonl"
    )
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    elsewhere.write_text("{}\n")
    for path in (str(outside), str(elsewhere)):
        tampered.stored_path = path
        with pytest.raises(Http404):
            _stored_file(tampered)
    tampered.stored_path = completed.stored_path
    assert _stored_file(tampered) == Path(completed.stored_path).resolve()


def test_the_form_asks_for_an_export_and_the_page_shows_the_refusal(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    add_samples(project, 2, origin=Origin.REAL, status="accepted")
    synthetic_run(project, "only-run", 8)
    project.phase = 1
    project.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).post(
            reverse("export_list", args=[project.slug]), {"format": "csv", "split": "train", "max_generation_depth": 1}
        )
    export = Export.objects.get(project=project)
    assert response.status_code == 302 and response["Location"].endswith(f"/exports/{export.pk}/")
    page = client_for(lead).get(response["Location"]).content.decode()
    assert "Refused" in page
    # 2 real and 8 synthetic: (2 + a) / (10 + a) ≥ 1/2 needs a = 6.
    assert "add 6 real samples" in page
    assert "run only-run" in page
    assert reverse("export_download", args=[project.slug, export.pk]) not in page


def test_status_partial_for_htmx_polling(completed, project, lead, client_for):
    url = reverse("export_detail", args=[project.slug, completed.pk]) + "?part=status"
    response = client_for(lead).get(url, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'id="export-status"' in body and "<html" not in body
    assert completed.sha256 in body


def test_recorded_results_appear_in_the_parity_comparison(completed, project, lead, client_for):
    url = reverse("downstream_result_add", args=[project.slug, completed.pk])
    client_for(lead).post(
        url, {"model_name": "tiny-<b>bert</b>", "metric": "accuracy", "value": "0.8125", "higher_is_better": "on"}
    )
    result = DownstreamResult.objects.get(export=completed)
    assert (result.metric, result.value) == ("accuracy", 0.8125)
    page = client_for(lead).get(reverse("export_list", args=[project.slug])).content.decode()
    assert "0.8125" in page and "tiny-&lt;b&gt;bert&lt;/b&gt;" in page and "<b>bert</b>" not in page
    # 6 real of 8 exported.
    assert "75.0%" in page
    assert "chart-scatter" in page


def test_eval_set_page_refuses_synthetic_ids_and_freezes_real_ones(project, lead, client_for, run_tasks_inline):
    real = add_samples(project, 3, origin=Origin.REAL)
    _, synthetic = synthetic_run(project, "r", 1)
    url = reverse("eval_set", args=[project.slug])
    response = client_for(lead).post(url, {"action": "add", "add-sample_ids": f"{real[0].pk}, {synthetic[0].pk}"})
    assert response.status_code == 200
    assert f"these are synthetic: {synthetic[0].pk}" in response.content.decode()
    assert not Sample.objects.filter(project=project, split=Split.EVAL).exists()
    response = client_for(lead).post(url, {"action": "add", "add-sample_ids": f"{real[0].pk} {real[1].pk}"})
    assert response.status_code == 302
    client_for(lead).post(url, {"action": "freeze", "freeze-note": "first"})
    page = client_for(lead).get(url).content.decode()
    assert "v1" in page and "Unchanged since v1" in page


def test_export_files_stay_in_the_server_built_folder(completed, settings):
    path = Path(completed.stored_path)
    assert path.parent == Path(settings.DATA_DIR) / "exports" / str(completed.project_id)
    assert path.name == f"export-{completed.pk}.jsonl"
