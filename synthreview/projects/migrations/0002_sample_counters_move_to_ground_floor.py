"""The per-project sample counters move to the ground floor.

The table was made by `generation` (generation_samplecount) and keeps its name,
so this takes over the model's state only; no row moves. Its content type is
relabelled so that permissions and admin history follow the model."""

import django.db.models.deletion
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def relabel_content_type(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="projects", model="samplecount").exists():
        content_type.objects.filter(app_label="generation", model="samplecount").update(app_label="projects")


def unlabel_content_type(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="generation", model="samplecount").exists():
        content_type.objects.filter(app_label="projects", model="samplecount").update(app_label="generation")


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_take_over_tables"),
        ("generation", "0010_projects_move_to_ground_floor"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # State only: the table stays where it is.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SampleCount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "origin",
                            models.CharField(choices=[("real", "Real"), ("synthetic", "Synthetic")], max_length=9),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("accepted", "Accepted"), ("rejected", "Rejected")],
                                max_length=8,
                            ),
                        ),
                        ("count", models.BigIntegerField(default=0)),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="sample_counts",
                                to="projects.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "generation_samplecount",
                        "constraints": [
                            models.UniqueConstraint(fields=("project", "origin", "status"), name="sample_count_unique")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, unlabel_content_type),
    ]
