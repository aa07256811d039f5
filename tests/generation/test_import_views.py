"""Leads import from the web page, with the same all-or-nothing rules as the CLI."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generation.models import ImportBatch, Sample

pytestmark = pytest.mark.django_db


def _upload(client, project, name: str, body: bytes, **fields):
    data = {"file": SimpleUploadedFile(name, body), "origin": "synthetic", "generator": "gpt-x", **fields}
    return client.post(reverse("import_new", args=[project.slug]), data)


def test_lead_imports_a_file_and_sees_the_result(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    client = client_for(lead)
    body = b'{"input": "2+2?", "output": "4"}\n{"input": "3+3?", "output": "6"}\n{"input": "2+2?", "output": "4"}\n'
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, project, "batch.jsonl", body)
    batch = ImportBatch.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("import_detail", args=[project.slug, batch.pk])
    assert Sample.objects.filter(project=project, generator__name="gpt-x").count() == 2
    page = client.get(response["Location"]).content.decode()
    assert "Imported 2, skipped 1 duplicate of 3 rows read." in page


def test_bad_row_over_the_web_lists_the_line_and_imports_nothing(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    client = client_for(lead)
    body = b'{"input": "a", "output": "b"}\n{"input": "c"}\nnot json\n'
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, project, "broken.jsonl", body)
    page = client.get(response["Location"]).content.decode()
    assert "line 2: missing output" in page
    assert "line 3: invalid JSON" in page
    assert "Nothing was imported" in page
    assert not Sample.objects.filter(project=project).exists()


def test_synthetic_upload_without_generator_is_refused_by_the_form(project, lead, client_for):
    response = _upload(client_for(lead), project, "a.jsonl", b'{"output": "x"}\n', generator="")
    assert response.status_code == 200
    assert "Synthetic samples need a generator name" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_unknown_extension_and_bad_mapping_are_form_errors(project, lead, client_for):
    response = _upload(client_for(lead), project, "a.txt", b"hello", mapping="colour=red")
    body = response.content.decode()
    assert "cannot tell the format" in body
    assert "--map cannot set &#x27;colour&#x27;" in body
    assert not ImportBatch.objects.exists()


def test_file_name_and_errors_are_escaped(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    client = client_for(lead)
    # Django keeps only the part after the last slash, so the name holds no "/".
    name = "<b onmouseover=alert(1)>x.jsonl"
    body = b'{"output": "x", "origin": "<img src=x onerror=alert(2)>"}\n'
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, project, name, body, mapping="origin=origin")
    page = client.get(response["Location"]).content.decode()
    assert "<b onmouseover" not in page
    assert "&lt;b onmouseover=alert(1)&gt;x.jsonl" in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_uploaded_file_is_stored_under_a_server_built_name(project, lead, client_for, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    _upload(client_for(lead), project, "../../etc/passwd.jsonl", b'{"output": "x"}\n')
    batch = ImportBatch.objects.get()
    assert batch.file_name == "passwd.jsonl" or batch.file_name.endswith("passwd.jsonl")
    assert batch.stored_path.startswith(str(tmp_path / "imports"))
    assert ".." not in batch.stored_path


def test_htmx_poll_gets_the_status_partial_and_stops_when_done(project, lead, client_for):
    batch = ImportBatch.objects.create(project=project, file_name="x.jsonl", format="jsonl", status="queued")
    client = client_for(lead)
    url = reverse("import_detail", args=[project.slug, batch.pk])
    polling = client.get(url, headers={"HX-Request": "true"})
    assert polling.status_code == 200
    assert b"<html" not in polling.content
    assert b'hx-trigger="every 2s"' in polling.content
    ImportBatch.objects.filter(pk=batch.pk).update(status="completed", rows_imported=5, rows_read=5)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling on 286
    assert b"Imported 5" in done.content
    assert b"hx-trigger" not in done.content


def test_an_unexpected_error_marks_the_import_failed_instead_of_waiting_forever(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks, monkeypatch
):
    from generation.services import imports as service

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "_import_rows", explode)
    client = client_for(lead)
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        _upload(client, project, "a.jsonl", b'{"output": "x"}\n')
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "failed"
    assert "unexpected error (RuntimeError)" in batch.errors[0]
    assert not Sample.objects.filter(project=project).exists()
