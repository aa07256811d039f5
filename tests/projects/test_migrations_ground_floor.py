"""A database made before projects, memberships and the audit log moved to the ground
floor (synthreview/projects) migrates forward without losing a row."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError

from generation.models import Sample
from synthreview.projects.models import AuditLog, Membership, Project, Role, SampleCount

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [
    ("generation", "0009_similarity_settings_and_skipped_rows"),
    ("reviews", "0010_variants_search_refits"),
    ("projects", None),
]


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.fixture
def filled_before_the_move() -> Iterator[dict[str, int]]:
    executor = migrate(BEFORE_THE_MOVE)
    old = executor.loader.project_state(BEFORE_THE_MOVE[:2]).apps
    user = old.get_model("auth", "User").objects.create(username="ada")
    project = old.get_model("generation", "Project").objects.create(slug="old-house", name="Old house")
    membership = old.get_model("generation", "Membership").objects.create(user=user, project=project, role="lead")
    entry = old.get_model("reviews", "AuditLog").objects.create(
        project=project, actor=user, action="policy.set", object_type="generation.project", object_id=str(project.pk)
    )
    sample = old.get_model("generation", "Sample").objects.create(
        project=project, origin="real", input="2+2?", output="4", content_hash="h" * 64
    )
    counter = old.get_model("generation", "SampleCount").objects.create(
        project=project, origin="real", status="pending", count=1
    )
    content_type = ContentType.objects.get_or_create(app_label="generation", model="project")[0]
    counter_type = ContentType.objects.get_or_create(app_label="generation", model="samplecount")[0]
    yield {
        "counter": counter.pk,
        "counter_type": counter_type.pk,
        "user": user.pk,
        "project": project.pk,
        "membership": membership.pk,
        "entry": entry.pk,
        "sample": sample.pk,
        "content_type": content_type.pk,
    }
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_the_sample_counters_move_to_the_ground_floor_with_their_rows(filled_before_the_move):
    ids = filled_before_the_move
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    counter = SampleCount.objects.get(pk=ids["counter"])
    assert (counter.project_id, counter.origin, counter.status, counter.count) == (ids["project"], "real", "pending", 1)
    assert list(Project.objects.get(pk=ids["project"]).sample_counts.all()) == [counter]
    moved_type = ContentType.objects.get(pk=ids["counter_type"])
    assert (moved_type.app_label, moved_type.model) == ("projects", "samplecount")


def test_rows_made_before_the_move_are_reachable_through_the_ground_floor(filled_before_the_move):
    ids = filled_before_the_move
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    project = Project.objects.get(pk=ids["project"])
    assert (project.slug, project.name) == ("old-house", "Old house")
    membership = Membership.objects.get(pk=ids["membership"])
    assert (membership.project, membership.user_id, membership.role) == (project, ids["user"], Role.LEAD)
    entry = AuditLog.objects.get(pk=ids["entry"])
    assert (entry.project, entry.actor_id, entry.action) == (project, ids["user"], "policy.set")
    assert list(project.audit_log.all()) == [entry]
    assert Sample.objects.get(pk=ids["sample"]).project == project
    assert list(project.samples.values_list("pk", flat=True)) == [ids["sample"]]


def test_the_content_type_follows_the_project_model(filled_before_the_move):
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert ContentType.objects.get(pk=filled_before_the_move["content_type"]).model_class() is Project


@pytest.mark.postgres(reason="the append-only trigger exists on PostgreSQL only")
def test_the_audit_log_stays_append_only_after_the_move(filled_before_the_move):
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            AuditLog.objects.filter(pk=filled_before_the_move["entry"]).update(action="rewritten")
    assert AuditLog.objects.get(pk=filled_before_the_move["entry"]).action == "policy.set"
