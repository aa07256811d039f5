"""The recursion guard is on by default: the policy page declares the models a
project trains, with their lineage; every training export is checked against
them (the one it names, else all), an export naming an undeclared model is
refused, and the manifest carries each generator's lineage. Walked as a lead
and an admin do: the policy page, the export page, the manifest download and
the export_samples command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from generation.models import Origin
from reviews.models import Export
from synthreview.projects.models import AuditLog
from tests.reviews.review_helpers import XSS, XSS_ESCAPED, add_samples, body, generator

pytestmark = pytest.mark.django_db

OVERRIDE = "Recursion test: the audit gate is not what is tested here."


def _policy_form(project, **changes: object) -> dict:
    """The policy form as the page fills it in, with some fields changed."""
    data = {
        "phase": project.phase,
        "min_real_share": "",
        "noise_floor_limit": project.noise_floor_limit * 100,
        "eval_leak_threshold": project.eval_leak_threshold,
        "max_generation_depth": project.max_generation_depth,
        "target_models": "",
        "hidden_metadata_keys": ", ".join(project.hidden_metadata_keys),
        "quality_check_schedule": project.quality_check_schedule,
    }
    data.update(changes)
    return data


def _declare_on_the_policy_page(project, admin, client_for, text: str):
    response = client_for(admin).post(
        reverse("policy_settings", args=[project.slug]), _policy_form(project, target_models=text)
    )
    assert response.status_code == 302, body(response)
    project.refresh_from_db()


def _export_through_the_page(
    project,
    lead,
    client_for,
    capture_on_commit,
    **fields: object,
) -> tuple[Export, str]:
    data = {
        "format": "jsonl",
        "split": "train",
        "max_generation_depth": 1,
        "target_model": "",
        "audit_override_reason": OVERRIDE,
    } | fields
    with capture_on_commit(execute=True):
        response = client_for(lead).post(reverse("export_list", args=[project.slug]), data)
    assert response.status_code == 302, body(response)
    export = Export.objects.filter(project=project).latest("id")
    return export, body(client_for(lead).get(response["Location"]))


def _lineage(project, name: str, model: str, *derived_from: str):
    gen = generator(project, name)
    gen.model_name, gen.derived_from = model, list(derived_from)
    gen.save()
    return gen


@pytest.fixture
def samples(project):
    """Real samples, and synthetic ones from a fine-tune of acme-7b and from a sibling of its base."""
    add_samples(project, 4, origin=Origin.REAL, status="accepted")
    tuned = _lineage(project, "tuned", "acme-7b-instruct", "acme-7b")
    sibling = _lineage(project, "sibling", "mistral-7b-instruct", "mistral-7b")
    add_samples(project, 3, gen=tuned, status="accepted")
    add_samples(project, 2, gen=sibling, status="accepted")
    return {"tuned": tuned, "sibling": sibling}


def test_an_export_naming_an_undeclared_target_model_is_refused(
    project, lead, client_for, samples, run_tasks_inline, django_capture_on_commit_callbacks
):
    # The policy declares another model; acme-7b, whose fine-tune made samples here, is not declared.
    assert [m["name"] for m in project.target_models] == ["math-tutor-under-test"]
    export, page = _export_through_the_page(
        project,
        lead,
        client_for,
        django_capture_on_commit_callbacks,
        target_model="acme-7b",
        excluded_generators=[samples["tuned"].pk],
    )
    assert export.status == "refused"
    [refusal] = export.refusals
    assert refusal["gate"] == "recursion"
    assert (
        "The target model acme-7b is not declared on the Policy page (declared: math-tutor-under-test)"
        in (refusal["reason"])
    )
    assert "is not declared on the Policy page" in page and "declare the model being trained" in page
    assert not export.stored_path


def test_an_export_naming_no_target_is_checked_against_every_declared_model(
    project, admin_member, lead, client_for, samples, run_tasks_inline, django_capture_on_commit_callbacks
):
    _declare_on_the_policy_page(project, admin_member, client_for, "math-tutor-under-test\nacme-7b <- llama-3-8b")
    teacher = _lineage(project, "teacher", "llama-3-8b")
    add_samples(project, 1, gen=teacher, status="accepted")
    export, page = _export_through_the_page(project, lead, client_for, django_capture_on_commit_callbacks)
    assert export.status == "refused"
    reason = {r["gate"]: r["reason"] for r in export.refusals}["recursion"]
    # tuned is a fine-tune of acme-7b; acme-7b is itself derived from teacher's model, as the policy (and no
    # generator) declares; the sibling is no relative.
    assert "tuned (3 samples): its model lineage (acme-7b-instruct → acme-7b) contains acme-7b" in reason
    assert "teacher (1 samples): acme-7b is itself derived from its model llama-3-8b" in reason
    assert "sibling" not in reason
    recursion = next(d for d in export.manifest["decisions"] if d["gate"] == "recursion")
    assert recursion["details"]["checked_against"] == ["math-tutor-under-test", "acme-7b"]
    assert "tuned (3 samples)" in page

    # Left out, the relatives no longer stop it.
    passed, _ = _export_through_the_page(
        project,
        lead,
        client_for,
        django_capture_on_commit_callbacks,
        excluded_generators=[samples["tuned"].pk, teacher.pk],
    )
    assert passed.status == "completed", passed.refusals
    assert passed.rows_written == 4 + 2


def test_a_project_that_declares_no_model_refuses_training_exports(
    project, lead, client_for, samples, run_tasks_inline, django_capture_on_commit_callbacks
):
    project.target_models = []
    project.save(update_fields=["target_models"])
    export_page = body(client_for(lead).get(reverse("export_list", args=[project.slug])))
    assert "none yet" in export_page
    export, page = _export_through_the_page(
        project, lead, client_for, django_capture_on_commit_callbacks, excluded_generators=[samples["tuned"].pk]
    )
    assert export.status == "refused"
    assert [r["gate"] for r in export.refusals] == ["recursion"]
    assert "has not declared the model it trains" in page and "on the Policy page" in page


def test_an_all_real_export_needs_no_declared_model(
    project, lead, client_for, samples, run_tasks_inline, django_capture_on_commit_callbacks
):
    """Real data cannot carry any model's output back to it, so there is nothing to check."""
    project.target_models = []
    project.save(update_fields=["target_models"])
    export, _ = _export_through_the_page(
        project,
        lead,
        client_for,
        django_capture_on_commit_callbacks,
        excluded_generators=[samples["tuned"].pk, samples["sibling"].pk],
    )
    assert export.status == "completed", export.refusals
    assert export.rows_written == 4


def test_the_manifest_carries_each_generators_lineage(
    project, admin_member, lead, client_for, samples, run_tasks_inline, django_capture_on_commit_callbacks
):
    _declare_on_the_policy_page(project, admin_member, client_for, "math-tutor-under-test <- qwen-2-1.5b")
    _lineage(project, "mid", "mistral-7b", "mistral-base")  # declares mistral-7b ← mistral-base
    export, page = _export_through_the_page(
        project, lead, client_for, django_capture_on_commit_callbacks, excluded_generators=[samples["tuned"].pk]
    )
    assert export.status == "completed", export.refusals
    manifest = json.loads(client_for(lead).get(reverse("export_manifest", args=[project.slug, export.pk])).content)
    lineage = manifest["lineage"]
    assert lineage["target_models"] == [{"name": "math-tutor-under-test", "derived_from": ["qwen-2-1.5b"]}]
    assert lineage["checked_against"] == ["math-tutor-under-test"]
    # Only the generators whose samples are in the file; tuned was left out, mid made none.
    assert lineage["generators"] == [
        {
            "name": "sibling",
            "model": "mistral-7b-instruct",
            "derived_from": ["mistral-7b"],
            "lineage": ["mistral-7b-instruct", "mistral-7b"],
            "all_ancestors": ["mistral-7b", "mistral-base"],
        }
    ]
    assert 'data-testid="lineage"' in page and "mistral-7b-instruct" in page


def test_the_command_follows_the_same_rules(project, samples, tmp_path):
    def export_samples(*args: str) -> None:
        call_command(
            "export_samples",
            project.slug,
            "--format",
            "jsonl",
            "--out",
            str(tmp_path / "out.jsonl"),
            "--override-audit",
            OVERRIDE,
            "--exclude-generator",
            "tuned",
            "--no-progress",
            *args,
            stdout=StringIO(),
            stderr=StringIO(),
        )

    with pytest.raises(CommandError, match=r"recursion: The target model acme-7b is not declared"):
        export_samples("--target-model", "acme-7b")
    project.target_models = [{"name": "Mistral-7B-Instruct", "derived_from": []}]
    project.save(update_fields=["target_models"])
    # No target named: checked against the declared one, which made sibling's samples (names compare without case).
    with pytest.raises(CommandError, match=r"recursion: .*sibling \(2 samples\)"):
        export_samples()
    project.target_models = []
    project.save(update_fields=["target_models"])
    with pytest.raises(CommandError, match=r"recursion: This project has not declared the model it trains"):
        export_samples()
    assert not (tmp_path / "out.jsonl").exists()
    assert list(Export.objects.filter(project=project).values_list("status", flat=True)) == ["refused"] * 3


# --- The policy page ----------------------------------------------------------------------------------------


def test_admin_declares_target_models_hidden_keys_and_schedule_and_the_log_records_them(
    project, admin_member, client_for
):
    url = reverse("policy_settings", args=[project.slug])
    response = client_for(admin_member).post(
        url,
        _policy_form(
            project,
            target_models="acme-7b <- llama-3-8b-instruct <- llama-3-8b\n\n  beta-1b  \n",
            hidden_metadata_keys="expected_answer, rubric\nsecret_key,, rubric",
            quality_check_schedule="weekly",
        ),
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.target_models == [
        {"name": "acme-7b", "derived_from": ["llama-3-8b-instruct", "llama-3-8b"]},
        {"name": "beta-1b", "derived_from": []},
    ]
    assert project.hidden_metadata_keys == ["expected_answer", "rubric", "secret_key"]
    assert project.quality_check_schedule == "weekly"
    entry = AuditLog.objects.get(project=project, action="policy.set")
    assert entry.actor == admin_member
    assert entry.details["target_models"] == [
        [{"name": "math-tutor-under-test", "derived_from": []}],
        project.target_models,
    ]
    assert entry.details["quality_check_schedule"] == ["monthly", "weekly"]
    assert entry.details["hidden_metadata_keys"][1] == ["expected_answer", "rubric", "secret_key"]
    # The page shows the declaration as it is typed.
    page = body(client_for(admin_member).get(url))
    assert "acme-7b &lt;- llama-3-8b-instruct &lt;- llama-3-8b\nbeta-1b</textarea>" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("target_models", "acme-7b\nbeta-1b <- ", "Line 2 (beta-1b &lt;-): a model name is missing"),
        (
            "target_models",
            "acme-7b: llama-3-8b, mistral-7b",
            "Line 1 (acme-7b: llama-3-8b, mistral-7b): write a lineage as a chain",
        ),
        (
            "target_models",
            "acme-7b\n# a comment\nACME-7B <- base",
            "Line 3 (ACME-7B &lt;- base): ACME-7B is already declared on line 1",
        ),
        (
            "target_models",
            "acme-7b <- base <- acme-7b",
            "Line 1 (acme-7b &lt;- base &lt;- acme-7b): a model cannot be derived from itself",
        ),
        ("target_models", "x" * 201, "at most 200 characters"),
        ("hidden_metadata_keys", "k" * 101, "A metadata key is at most 100 characters"),
        ("quality_check_schedule", "hourly", "Select a valid choice"),
    ],
)
def test_a_bad_declaration_is_a_form_error_naming_the_line(field, value, message, project, admin_member, client_for):
    response = client_for(admin_member).post(
        reverse("policy_settings", args=[project.slug]), _policy_form(project, phase=2, **{field: value})
    )
    assert response.status_code == 400
    assert f'data-testid="error-{field}"' in body(response) and message in body(response)
    project.refresh_from_db()
    assert project.phase == 0 and project.target_models == [{"name": "math-tutor-under-test", "derived_from": []}]
    assert not AuditLog.objects.filter(action="policy.set").exists()


def test_declared_model_names_are_escaped_on_the_policy_and_export_pages(project, admin_member, lead, client_for):
    _declare_on_the_policy_page(project, admin_member, client_for, f"{XSS} <- base")
    for url in (reverse("policy_settings", args=[project.slug]), reverse("export_list", args=[project.slug])):
        page = body(client_for(lead).get(url))
        assert XSS_ESCAPED in page and XSS not in page
