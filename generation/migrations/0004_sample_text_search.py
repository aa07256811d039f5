"""Full-text search over samples on PostgreSQL: a GIN index on the same
expression the sample browser filters with (see generation.selectors.text_search)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS sample_text_search ON generation_sample "
    "USING gin (to_tsvector('english'::regconfig, input || ' ' || output))"
)
DROP = "DROP INDEX IF EXISTS sample_text_search"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("generation", "0003_sample_flags")]
    operations = [migrations.RunPython(create_index, drop_index)]
