"""Numbers past what a database column holds, each where a page once answered it with a 500:
PostgreSQL's INTEGER stops at 2**31 - 1, and SQLite cannot bind an integer past 2**63 - 1."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from generation.models import GenerationRun, PromptTemplate, PromptTemplateVersion
from reviews.models import AuditAdjudication, Export, Verdict
from tests.reviews.audit_helpers import audit_drawn
from tests.reviews.review_helpers import add_samples, cluster, generator, run, template_version

pytestmark = pytest.mark.django_db

TWENTY_FIVE_DIGITS = "9" * 25


@pytest.fixture
def admin_client(admin_member) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(admin_member)
    return client


def test_a_verdict_timed_past_an_integer_column_is_refused_and_not_saved(project, admin_client):
    sample = add_samples(project, 1)[0]
    response = admin_client.post(
        reverse("verdict_save", args=[project.slug, sample.pk]),
        {"value": "correct", "revision": 0, "time_spent_ms": 3_000_000_000},
    )
    assert response.status_code == 400
    assert not Verdict.objects.exists()


def test_a_verdict_timed_at_a_day_is_saved(project, admin_client):
    sample = add_samples(project, 1)[0]
    admin_client.post(
        reverse("verdict_save", args=[project.slug, sample.pk]),
        {"value": "correct", "revision": 0, "time_spent_ms": 86_400_000},
    )
    assert Verdict.objects.get().time_spent_ms == 86_400_000


def test_a_clusters_page_past_any_offset_shows_the_first(project, admin_client):
    add_samples(project, 1)
    cluster(project, 1, add_samples(project, 2), label="the only cluster")
    url = reverse("similarity_view", args=[project.slug])
    response = admin_client.get(url, {"tab": "clusters", "page": TWENTY_FIVE_DIGITS})
    assert response.status_code == 200
    assert "the only cluster" in response.content.decode()


@pytest.mark.parametrize("name", ["cluster", "group"])
def test_a_sample_filter_by_an_id_no_column_holds_is_a_bad_request(name, project, admin_client):
    response = admin_client.get(reverse("sample_list", args=[project.slug]), {name: TWENTY_FIVE_DIGITS})
    assert response.status_code == 400


@pytest.mark.parametrize("name", ["cluster", "group"])
def test_a_bulk_action_on_an_id_no_column_holds_changes_nothing(name, project, admin_client):
    sample = add_samples(project, 1)[0]
    response = admin_client.post(
        reverse("samples_bulk", args=[project.slug]),
        {"action": "reject", "expected_count": 1, name: TWENTY_FIVE_DIGITS},
    )
    assert response.status_code == 400
    sample.refresh_from_db()
    assert sample.status == "pending"


def test_listed_ids_no_column_holds_are_dropped(project, admin_client):
    kept = add_samples(project, 1)[0]
    response = admin_client.get(
        reverse("sample_list", args=[project.slug]), {"ids": [TWENTY_FIVE_DIGITS, str(kept.pk)]}
    )
    assert response.status_code == 200
    assert kept.output in response.content.decode()


def test_the_audit_queue_asked_for_a_sample_no_column_holds_answers(project, lead, admin_client):
    add_samples(project, 12)
    audit = audit_drawn(project, lead, size=10)
    response = admin_client.get(
        reverse("review_queue", args=[project.slug]), {"audit": audit.pk, "sample": TWENTY_FIVE_DIGITS}
    )
    assert response.status_code == 200


def test_adjudicating_a_sample_no_column_holds_records_nothing(project, lead, admin_client):
    add_samples(project, 12)
    audit = audit_drawn(project, lead, size=10)
    response = admin_client.post(
        reverse("audit_adjudicate", args=[project.slug, audit.pk]), {"sample": TWENTY_FIVE_DIGITS, "value": "wrong"}
    )
    assert response.status_code == 302
    assert not AuditAdjudication.objects.exists()


def test_adding_an_id_no_column_holds_to_the_eval_set_is_refused_by_name(project, admin_client):
    response = admin_client.post(
        reverse("eval_set", args=[project.slug]), {"action": "add", "add-sample_ids": TWENTY_FIVE_DIGITS}
    )
    assert response.status_code == 200
    assert f"Not a sample id: {TWENTY_FIVE_DIGITS}" in response.content.decode()


def test_a_run_with_a_generator_id_no_column_holds_is_refused(project, admin_client):
    template = PromptTemplate.objects.create(project=project, name="topics")
    version = PromptTemplateVersion.objects.create(template=template, version=1, text="Write about {{ topic }}.")
    response = admin_client.post(
        reverse("run_new", args=[project.slug]),
        {"name": "refused", "template_version": version.pk, "generators": [TWENTY_FIVE_DIGITS], "seed": 0},
    )
    assert response.status_code in (200, 400)
    assert not GenerationRun.objects.filter(name="refused").exists()


def test_an_export_leaving_out_a_generator_id_no_column_holds_is_refused(project, admin_client):
    run(project, "r", template_version(project), generator(project))
    response = admin_client.post(
        reverse("export_list", args=[project.slug]),
        {"format": "jsonl", "split": "train", "max_generation_depth": 1, "excluded_generators": [TWENTY_FIVE_DIGITS]},
    )
    assert response.status_code in (200, 400)
    assert not Export.objects.exists()


@pytest.mark.parametrize("page", ["audit_log", "audit_log_csv"])
def test_the_audit_log_up_to_the_calendars_last_day_answers(page, project, admin_client):
    add_samples(project, 12)
    response = admin_client.get(reverse(page, args=[project.slug]), {"date_to": "9999-12-31"})
    assert response.status_code == 200
