"""A sample's history finds the bulk actions and group decisions that changed it through
their links to it, never by searching every entry's id list: its cost stays the same
however many and however large the project's other bulk actions are."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from generation.models import Sample
from reviews.selectors import sample_history
from reviews.services.bulk import samples_bulk_set_status
from synthreview.projects.models import AuditLog, AuditLogSample
from tests.reviews.export_helpers import lead_access
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db


def bulk_reject(project, lead, samples: list[Sample]):
    queryset: QuerySet[Sample] = Sample.objects.filter(pk__in=[sample.pk for sample in samples])
    return samples_bulk_set_status(
        lead_access(project, lead),
        queryset=queryset,
        status="rejected",
        expected_count=len(samples),
        description={"ids": "chosen"},
        page_size=50,
    )


def test_a_bulk_action_shows_in_the_history_of_its_samples_and_no_other(project, lead):
    first, second, third, untouched = add_samples(project, 4)
    result = bulk_reject(project, lead, [first, second, third])

    for sample in (first, second, third):
        assert [entry.pk for entry in sample_history(sample)] == [result.log_id]
    assert sample_history(untouched) == []
    assert sorted(AuditLogSample.objects.values_list("entry_id", "sample_id")) == [
        (result.log_id, first.pk),
        (result.log_id, second.pk),
        (result.log_id, third.pk),
    ]


def test_a_sample_in_two_bulk_actions_sees_both_newest_first(project, lead):
    first, second = add_samples(project, 2)
    older = bulk_reject(project, lead, [first, second])
    Sample.objects.filter(pk=second.pk).update(status="pending")
    newer = bulk_reject(project, lead, [second])

    assert [entry.pk for entry in sample_history(second)] == [newer.log_id, older.log_id]
    assert [entry.pk for entry in sample_history(first)] == [older.log_id]


def test_the_history_leaves_out_the_id_list_but_the_audit_log_keeps_it(project, lead):
    samples = add_samples(project, 3)
    result = bulk_reject(project, lead, samples)

    (entry,) = sample_history(samples[0])
    assert entry.details["changed"] == 3 and entry.details["filter"] == {"ids": "chosen"}
    assert "sample_ids" not in entry.details
    # The audit-log page and its CSV read the row itself, which still lists every id.
    assert AuditLog.objects.get(pk=result.log_id).details["sample_ids"] == [sample.pk for sample in samples]


def test_the_history_of_an_unrelated_sample_costs_the_same_beside_a_large_bulk_action(project, lead):
    *bulk, unrelated = add_samples(project, 5001)
    with CaptureQueriesContext(connection) as before:
        assert sample_history(unrelated) == []

    result = bulk_reject(project, lead, bulk)
    assert AuditLogSample.objects.filter(entry_id=result.log_id).count() == 5000
    with CaptureQueriesContext(connection) as after:
        assert sample_history(unrelated) == []

    # The very same statements as before the bulk action existed: none searches the entries' id lists.
    assert [query["sql"] for query in after.captured_queries] == [query["sql"] for query in before.captured_queries]
    assert not any("@>" in query["sql"] or "json_each" in query["sql"] for query in after.captured_queries)
    # Each read of the log is narrowed to this sample: by its own object id, or through its links.
    for query in after.captured_queries:
        if "reviews_auditlog" in query["sql"]:
            assert '"object_id" =' in query["sql"] or "projects_auditlogsample" in query["sql"], query["sql"]


@pytest.mark.postgres(reason="the plan is PostgreSQL's")
def test_the_history_lookup_reads_the_samples_index_not_the_bulk_entries(project, lead):
    *bulk, unrelated = add_samples(project, 5001)
    bulk_reject(project, lead, bulk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE projects_auditlogsample")
    links = AuditLogSample.objects.filter(sample_id=unrelated.pk).order_by("-entry_id").values("entry_id")[:50]

    plan = json.loads(links.explain(format="json", analyze=True))[0]["Plan"]
    scans = [plan, *plan.get("Plans", [])]
    assert any(node.get("Index Name") == "auditlogsample_sample_recent" for node in scans), plan
    # The lookup touched no link row of the 5,000-sample action.
    assert all(node.get("Actual Rows", 0) == 0 for node in scans), plan


@pytest.mark.postgres(reason="the append-only trigger exists on PostgreSQL only")
def test_a_link_cannot_be_deleted_so_the_history_cannot_be_rewritten(project, lead):
    sample, other = add_samples(project, 2)
    bulk_reject(project, lead, [sample, other])

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            AuditLogSample.objects.filter(sample_id=sample.pk).delete()
    assert AuditLogSample.objects.filter(sample_id=sample.pk).exists()
