"""The sample browser's orders by length at a million samples: an expression index on
(project, length(input) + length(output), id), walked forwards for shortest first and
backwards for longest first, with the keyset's (length, id) row comparison as its range.

An expression index rather than a stored column: PostgreSQL computes it on every insert
path (the ORM, the importers' COPY, the bench's bulk SQL) with no code to keep in step, and
adding it rewrites nothing, where a stored column would rewrite the table under a lock.
Built CONCURRENTLY on PostgreSQL, as migration 0013 builds the filter indexes. The index is
left out of the model's state: the model declares no length field for it to name.
"""

from django.db import migrations, models
from django.db.models.functions import Length

LENGTH_INDEX = models.Index(
    models.F("project"), Length("input") + Length("output"), models.F("id"), name="sample_project_length_id"
)


def create_index(apps, schema_editor):
    sample = apps.get_model("generation", "Sample")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            str(LENGTH_INDEX.create_sql(sample, schema_editor, concurrently=True)).replace(
                "CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY IF NOT EXISTS", 1
            )
        )
    else:
        schema_editor.add_index(sample, LENGTH_INDEX)


def drop_index(apps, schema_editor):
    sample = apps.get_model("generation", "Sample")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {LENGTH_INDEX.name}")
    else:
        schema_editor.remove_index(sample, LENGTH_INDEX)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("generation", "0013_sample_browser_filter_indexes")]

    operations = [migrations.RunPython(create_index, drop_index)]
