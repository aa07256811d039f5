"""The per-project sample counters moved to the ground floor (synthreview/projects):
the model leaves this app's state. No table changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0010_projects_move_to_ground_floor"),
        ("projects", "0002_sample_counters_move_to_ground_floor"),
    ]

    operations = [
        # State only: the table stays where it is, now in the projects app's state.
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SampleCount")],
            database_operations=[],
        ),
    ]
