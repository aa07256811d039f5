"""The audit log moved to the ground floor (synthreview/projects): foreign keys point
at projects.Project, and AuditLog leaves this app's state. No table changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_take_over_tables"),
        ("reviews", "0010_variants_search_refits"),
    ]

    operations = [
        # State only: the tables stay where they are.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="alert",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="alerts", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="alertchannel",
                    name="project",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="alert_channel", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="audit",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="audits", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="cluster",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="clusters", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="duplicategroup",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="duplicate_groups",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="embeddingmap",
                    name="project",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="embedding_map", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="evalsetversion",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="eval_set_versions",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="export",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="exports", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="goldsample",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="gold_samples", to="projects.project"
                    ),
                ),
                migrations.AlterField(
                    model_name="qualitysnapshot",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="quality_snapshots",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="qualitythreshold",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="quality_thresholds",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="sampleembedding",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="samplesimilarity",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="similarityjob",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="similarity_jobs",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="similaritysearch",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="similarity_searches",
                        to="projects.project",
                    ),
                ),
                migrations.DeleteModel(
                    name="AuditLog",
                ),
            ],
            database_operations=[],
        ),
    ]
