"""The audit log is append-only in the database itself, not only in the model."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from synthreview.projects.models import AuditLog
from synthreview.projects.services import audit_log_record

pytestmark = pytest.mark.django_db


def test_the_model_refuses_to_change_or_delete_an_entry(project, lead):
    entry = audit_log_record(project=project, actor=lead, action="test.append", object_type="t", object_id="1")
    entry.action = "rewritten"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()


@pytest.mark.postgres(reason="the trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "statement",
    ["UPDATE reviews_auditlog SET action = 'rewritten' WHERE id = %s", "DELETE FROM reviews_auditlog WHERE id = %s"],
)
def test_postgresql_refuses_update_and_delete_below_the_orm(project, lead, statement):
    entry = audit_log_record(project=project, actor=lead, action="test.append", object_type="t", object_id="1")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry.pk])
    # Bulk ORM paths go through the same trigger.
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            AuditLog.objects.filter(pk=entry.pk).update(action="rewritten")
    assert AuditLog.objects.get(pk=entry.pk).action == "test.append"
