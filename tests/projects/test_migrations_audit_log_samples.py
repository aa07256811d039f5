"""Bulk actions and group decisions logged before the link table existed get their links
from the backfill, in batches, so every sample's history still finds them."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from synthreview.projects.models import AuditLogSample

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_BACKFILL = [("projects", "0004_audit_log_samples")]
backfill = importlib.import_module("synthreview.projects.migrations.0005_audit_log_samples_backfill")


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.fixture
def logged_before_the_links(monkeypatch) -> Iterator[dict[str, int]]:
    # Two entries a batch, so the five entries below take three batches.
    monkeypatch.setattr(backfill, "ENTRY_BATCH", 2)
    executor = migrate(BEFORE_THE_BACKFILL)
    old = executor.loader.project_state(BEFORE_THE_BACKFILL).apps
    log = old.get_model("projects", "AuditLog").objects
    entries = {
        "bulk": log.create(action="samples.bulk_reject", object_type="bulk", details={"sample_ids": [11, 12, 13]}),
        "group": log.create(
            action="duplicate_group.resolve", object_type="reviews.duplicategroup", details={"sample_ids": [12]}
        ),
        "policy": log.create(action="policy.set", object_type="generation.project", details={"before": {}}),
        "eval": log.create(
            action="eval_split.add", object_type="generation.sample", details={"sample_ids": [11], "moved": 1}
        ),
        "linked": log.create(action="samples.bulk_accept", object_type="bulk", details={"sample_ids": [14, 15]}),
    }
    # Written by the new code while the backfill waited to run: already linked, not linked twice.
    old.get_model("projects", "AuditLogSample").objects.create(entry=entries["linked"], sample_id=14)
    try:
        yield {name: entry.pk for name, entry in entries.items()}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_the_backfill_links_each_listed_sample_of_bulk_actions_and_group_decisions(logged_before_the_links):
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    entry = logged_before_the_links
    assert sorted(AuditLogSample.objects.values_list("entry_id", "sample_id")) == sorted(
        [
            (entry["bulk"], 11),
            (entry["bulk"], 12),
            (entry["bulk"], 13),
            (entry["group"], 12),
            (entry["linked"], 14),
            (entry["linked"], 15),
        ]
    )
