"""On PostgreSQL the database itself refuses to change or delete audit-log rows,
so no code path, shell or bulk query can rewrite history. TRUNCATE (used by test
flushes and by an operator wiping a whole database on purpose) is not a row change
and stays possible."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

CREATE = """
CREATE OR REPLACE FUNCTION reviews_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'reviews_auditlog is append-only: %% refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS reviews_auditlog_append_only ON reviews_auditlog;
CREATE TRIGGER reviews_auditlog_append_only BEFORE UPDATE OR DELETE ON reviews_auditlog
    FOR EACH ROW EXECUTE FUNCTION reviews_auditlog_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS reviews_auditlog_append_only ON reviews_auditlog;
DROP FUNCTION IF EXISTS reviews_auditlog_append_only();
"""


def create(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0004_audits_quality")]

    operations = [migrations.RunPython(create, drop)]
