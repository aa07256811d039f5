"""The runtime role cannot rewrite history: connected as it, the app reads and writes as
usual, but no statement can disable, drop or go around the append-only triggers.

The CI user is the superuser `postgres`, which owns the test database; each test
creates the runtime role and grants it inside the test's transaction, then acts as it
with SET ROLE. The rollback takes the role and its grants away again, so a killed run
leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

import numpy as np
import psycopg.errors
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from psycopg import sql

from generation.models import Sample
from reviews.models import EvalSetVersion, Export, SampleEmbedding, Verdict
from reviews.services.embeddings import embeddings_store
from reviews.services.eval_sets import eval_set_version_create, eval_split_add
from reviews.services.verdicts import verdict_record
from synthreview.projects.access import ProjectAccess
from synthreview.projects.checks import append_only_tables_exposed
from synthreview.projects.models import AuditLog, Role
from synthreview.projects.services import audit_log_record
from tests.reviews.export_helpers import exported
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.postgres(reason="roles, privileges and triggers are PostgreSQL's")

# The tables whose triggers refuse UPDATE and DELETE (reviews/migrations/0005 and 0007, projects/migrations/0004), written
# out here: the grant finds them in the catalog, and this is what it must find.
APPEND_ONLY_TRIGGERS = {
    "projects_auditlogsample": "projects_auditlogsample_append_only",
    "reviews_auditlog": "reviews_auditlog_append_only",
    "reviews_evalsetmember": "reviews_evalsetmember_frozen",
    "reviews_evalsetversion": "reviews_evalsetversion_frozen",
    "reviews_export": "reviews_export_final",
}

HISTORY_REWRITES = {
    "disable its triggers": "ALTER TABLE {table} DISABLE TRIGGER ALL",
    "drop its trigger": "DROP TRIGGER {trigger} ON {table}",
    "truncate it": "TRUNCATE {table} CASCADE",
    # A trigger of one's own that returns NULL would drop new rows without a word.
    "add a trigger": "CREATE TRIGGER swallow BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    "delete rows": "DELETE FROM {table}",
    "rename it": "ALTER TABLE {table} RENAME TO {table}_old",
}


@pytest.fixture
def runtime_role(db) -> str:
    # Roles belong to the whole cluster: one per test database, so parallel runs do not share one.
    name = f"sr_runtime_{connection.settings_dict['NAME']}"[:63]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
        else:  # left by a run that committed it somehow: start from no privileges
            cursor.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    call_command("grant_runtime_role", name, stdout=StringIO())
    return name


@contextmanager
def acting_as(role: str) -> Iterator[None]:
    """Run the block as `role`, in a savepoint. SET LOCAL outlives a released savepoint,
    hence the RESET; a failing block rolls the savepoint and the SET back."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        yield
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def _run_as(role: str, statement: str) -> None:
    with acting_as(role), connection.cursor() as cursor:
        cursor.execute(statement)


def _refused(role: str, statement: str) -> str:
    """The error PostgreSQL answers `statement` with when `role` runs it."""
    with pytest.raises(DatabaseError) as refusal:
        _run_as(role, statement)
    assert isinstance(refusal.value.__cause__, psycopg.errors.InsufficientPrivilege), repr(refusal.value.__cause__)
    return str(refusal.value)


def _current_user() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        return cursor.fetchone()[0]


@on_postgresql
@pytest.mark.parametrize("table", sorted(APPEND_ONLY_TRIGGERS))
@pytest.mark.parametrize("rewrite", sorted(HISTORY_REWRITES))
def test_the_runtime_role_cannot_rewrite_an_append_only_table(runtime_role, table, rewrite):
    statement = HISTORY_REWRITES[rewrite].format(table=table, trigger=APPEND_ONLY_TRIGGERS[table])
    message = _refused(runtime_role, statement)
    # Refused by a privilege, not by the row trigger (which says "append-only", "frozen" or "permanent").
    assert "must be owner" in message or "permission denied" in message, message
    assert _current_user() != runtime_role


@on_postgresql
def test_the_runtime_role_cannot_switch_the_triggers_off_for_its_session(runtime_role):
    message = _refused(runtime_role, "SET session_replication_role = replica")
    assert "permission denied" in message


@on_postgresql
def test_the_owner_could_disable_the_trigger(runtime_role):
    """What the runtime role is for: the tables' owner can still switch the trigger off."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE reviews_auditlog DISABLE TRIGGER ALL")
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'reviews_auditlog_append_only' AND tgenabled = 'D'"
        )
        assert cursor.fetchone()[0] == 1
        transaction.set_rollback(True)


@on_postgresql
def test_the_grant_finds_the_append_only_tables_in_the_catalog(runtime_role):
    out = StringIO()
    call_command("grant_runtime_role", runtime_role, stdout=out)  # a second run: idempotent
    assert "append-only reviews_auditlog: SELECT, INSERT\n" in out.getvalue()
    assert "append-only reviews_evalsetversion: SELECT, INSERT\n" in out.getvalue()
    assert "append-only reviews_evalsetmember: SELECT, INSERT\n" in out.getvalue()
    # An export moves from queued to finished, so its rows take UPDATE until the trigger says no.
    assert "append-only reviews_export: SELECT, INSERT, UPDATE\n" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.privilege FROM pg_class c"
            " CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) p(privilege)"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
            " AND has_table_privilege(%s, c.oid, p.privilege)",
            [runtime_role],
        )
        held: dict[str, set[str]] = {}
        for table, privilege in cursor.fetchall():
            held.setdefault(table, set()).add(privilege)
    assert held["generation_sample"] == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert held["reviews_auditlog"] == {"SELECT", "INSERT"}
    assert held["reviews_evalsetversion"] == {"SELECT", "INSERT"}
    assert held["reviews_export"] == {"SELECT", "INSERT", "UPDATE"}
    assert not any(privileges & {"TRUNCATE", "TRIGGER", "REFERENCES"} for privileges in held.values())
    assert len(held) > 40, "every table of the app gets the runtime privileges"


@on_postgresql
def test_a_table_a_later_migration_creates_is_writable_but_not_truncatable(runtime_role):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE later_table (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)")
    _run_as(runtime_role, "INSERT INTO later_table (note) VALUES ('written by the app')")
    assert "permission denied" in _refused(runtime_role, "TRUNCATE later_table")


@on_postgresql
def test_the_app_reads_and_writes_as_the_runtime_role(runtime_role, project, lead, expert):
    expert_access = ProjectAccess(project, Role.EXPERT, user=expert)
    lead_access = ProjectAccess(project, Role.LEAD, user=lead)
    with acting_as(runtime_role):
        assert _current_user() == runtime_role
        real = add_samples(project, 3, origin="real", status="accepted")
        # Real samples only, so every gate passes: queued, running, then completed.
        export = exported(project, lead)
        synthetic = add_samples(project, 2)
        entry = audit_log_record(project=project, actor=lead, action="test.append", object_type="t", object_id="1")
        Sample.objects.filter(pk=synthetic[0].pk).update(status="rejected")
        verdict_record(expert_access, sample_id=synthetic[1].pk, value="correct", seen_revision=synthetic[1].revision)
        # A binary COPY through a temporary staging table.
        embeddings_store(
            project_id=project.pk,
            sample_ids=[sample.pk for sample in real],
            vectors=np.ones((3, 4), dtype=np.float32),
            model_name="test-model",
            text_kind="output",
        )
        eval_split_add(lead_access, sample_ids=[real[0].pk])
        version = eval_set_version_create(lead_access, note="frozen by the runtime role")
        assert _current_user() == runtime_role
    assert _current_user() != runtime_role
    assert AuditLog.objects.filter(pk=entry.pk).exists()
    assert Sample.objects.get(pk=synthetic[0].pk).status == "rejected"
    assert Verdict.objects.filter(sample_id=synthetic[1].pk, reviewer=expert).count() == 1
    assert SampleEmbedding.objects.filter(project=project, model_name="test-model").count() == 3
    assert EvalSetVersion.objects.get(pk=version.pk).member_count == 1
    assert Export.objects.get(pk=export.pk).status == "completed"


@on_postgresql
def test_the_runtime_role_still_meets_the_row_triggers(runtime_role, project, lead):
    entry = audit_log_record(project=project, actor=lead, action="test.append", object_type="t", object_id="1")
    assert "permission denied" in _refused(
        runtime_role, f"UPDATE reviews_auditlog SET action = 'x' WHERE id = {entry.pk}"
    )


@on_postgresql
def test_the_check_warns_as_the_owner_and_is_silent_as_the_runtime_role(runtime_role):
    as_owner = append_only_tables_exposed(None, databases=["default"])
    assert [message.id for message in as_owner] == ["synthreview.W001"]
    for table in APPEND_ONLY_TRIGGERS:
        assert table in as_owner[0].msg
    with acting_as(runtime_role):
        assert append_only_tables_exposed(None, databases=["default"]) == []


@on_postgresql
def test_the_check_warns_a_role_that_may_act_as_the_owner(runtime_role):
    """A member of the owner's role can SET ROLE to it and disable the triggers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'reviews_auditlog'")
        owner = cursor.fetchone()[0]
        cursor.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(owner), sql.Identifier(runtime_role)))
    with acting_as(runtime_role):
        assert [message.id for message in append_only_tables_exposed(None, databases=["default"])] == [
            "synthreview.W001"
        ]


@on_postgresql
def test_the_check_only_runs_when_asked_for_the_database():
    assert append_only_tables_exposed(None, databases=None) == []


@on_postgresql
def test_the_grant_refuses_the_owner_and_an_unknown_role(runtime_role):
    with pytest.raises(CommandError, match="superuser, has CREATEROLE or can act as the tables' owner"):
        call_command("grant_runtime_role", _current_user(), stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(runtime_role)))
    with pytest.raises(CommandError, match="has CREATEROLE"):
        call_command("grant_runtime_role", runtime_role, stdout=StringIO())
    with pytest.raises(CommandError, match="There is no role 'sr_no_such_role'"):
        call_command("grant_runtime_role", "sr_no_such_role", stdout=StringIO())


def test_without_postgresql_the_check_says_nothing_and_the_grant_refuses():
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite lane's test")
    assert append_only_tables_exposed(None, databases=["default"]) == []
    with pytest.raises(CommandError, match="A runtime role needs PostgreSQL; this database is sqlite"):
        call_command("grant_runtime_role", "anyone", stdout=StringIO())
