"""The sample browser's verdict filter at a million samples: "has a wrong verdict" answered from
the index alone, per sample or for every sample with that value, without reading verdict rows.
Built CONCURRENTLY on PostgreSQL: a project with a million samples keeps its reviewers meanwhile."""

from django.db import migrations, models

INDEX = models.Index(fields=["sample", "value"], name="verdict_sample_value")


def create_index(apps, schema_editor):
    verdict = apps.get_model("reviews", "Verdict")
    if schema_editor.connection.vendor == "postgresql":
        statement = str(INDEX.create_sql(verdict, schema_editor, concurrently=True))
        schema_editor.execute(
            statement.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY IF NOT EXISTS", 1)
        )
    else:
        schema_editor.add_index(verdict, INDEX)


def drop_index(apps, schema_editor):
    verdict = apps.get_model("reviews", "Verdict")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    else:
        schema_editor.remove_index(verdict, INDEX)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("reviews", "0012_queue_claims")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="verdict", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        )
    ]
