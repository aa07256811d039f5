"""Projects and memberships moved to the ground floor (synthreview/projects): foreign
keys point at projects.Project, and both models leave this app's state. No table
changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0009_similarity_settings_and_skipped_rows"),
        ("projects", "0001_take_over_tables"),
        ("reviews", "0011_auditlog_move_to_ground_floor"),
    ]

    operations = [
        # State only: the tables stay where they are.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="generator",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="generators", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="samplecount",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="sample_counts", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="sample",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="samples",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="generationrun",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="runs", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="prompttemplate",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="templates", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="sampleflag",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="importbatch",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="imports", to="projects.project"
                    ),
                ),
                migrations.DeleteModel(
                    name="Membership",
                ),
                migrations.DeleteModel(
                    name="Project",
                ),
            ],
            database_operations=[],
        ),
    ]
