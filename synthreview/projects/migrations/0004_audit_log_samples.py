"""The samples each audit-log entry acted on, one row per sample, so that a sample's
history is an index lookup instead of a search through every bulk action's id list.
On PostgreSQL the rows are as append-only as the log they belong to."""

import django.db.models.deletion
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION projects_auditlogsample_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'projects_auditlogsample is append-only: %% refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS projects_auditlogsample_append_only ON projects_auditlogsample;
CREATE TRIGGER projects_auditlogsample_append_only BEFORE UPDATE OR DELETE ON projects_auditlogsample
    FOR EACH ROW EXECUTE FUNCTION projects_auditlogsample_append_only();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS projects_auditlogsample_append_only ON projects_auditlogsample;
DROP FUNCTION IF EXISTS projects_auditlogsample_append_only();
"""


def trigger_create(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER)


def trigger_drop(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_api_tokens"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditLogSample",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "entry", "sample_id", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("sample_id", models.BigIntegerField()),
                (
                    "entry",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="projects.auditlog",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["sample_id", "-entry"], name="auditlogsample_sample_recent")],
            },
        ),
        migrations.RunPython(trigger_create, trigger_drop),
    ]
