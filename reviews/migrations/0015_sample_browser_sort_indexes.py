"""The sample browser's order by similarity to the nearest real sample at a million samples:
(project, nearest_real_similarity, sample) on the similarity rows, as similarity_project_novelty
serves the orders by novelty. Walked backwards for most similar first; the sample's id is the
tie-break, and the join makes it the same as sample_id.

Built CONCURRENTLY on PostgreSQL, as generation's migration 0013 builds the browser's filter
indexes; left out of the model's state, as generation's length index is.
"""

from django.db import migrations, models

NEAREST_REAL_INDEX = models.Index(
    fields=["project", "nearest_real_similarity", "sample"], name="similarity_project_nearest_real"
)


def create_index(apps, schema_editor):
    similarity = apps.get_model("reviews", "SampleSimilarity")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            str(NEAREST_REAL_INDEX.create_sql(similarity, schema_editor, concurrently=True)).replace(
                "CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY IF NOT EXISTS", 1
            )
        )
    else:
        schema_editor.add_index(similarity, NEAREST_REAL_INDEX)


def drop_index(apps, schema_editor):
    similarity = apps.get_model("reviews", "SampleSimilarity")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NEAREST_REAL_INDEX.name}")
    else:
        schema_editor.remove_index(similarity, NEAREST_REAL_INDEX)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    # Written against 0013_verdict_sample_value_index; placed after the alerts migration that took 0014.
    dependencies = [("reviews", "0014_alert_snooze_and_delivery")]

    operations = [migrations.RunPython(create_index, drop_index)]
