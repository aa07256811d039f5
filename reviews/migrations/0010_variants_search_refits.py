import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("reviews", "0009_audit_freshness_prompt_leaks"),
        ("generation", "0009_similarity_settings_and_skipped_rows"),
    ]

    operations = [
        # search: semantic searches, answered by a worker.
        migrations.CreateModel(
            name="SimilaritySearch",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("query", models.TextField(blank=True)),
                ("k", models.PositiveIntegerField(default=20)),
                ("filters", models.JSONField(blank=True, default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("results", models.JSONField(blank=True, default=list)),
                ("searched", models.PositiveIntegerField(default=0)),
                ("timings", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "anchor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="generation.sample",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="similarity_searches",
                        to="generation.project",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["project", "user", "-created_at"], name="search_recent")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("query", ""), _negated=True), ("anchor__isnull", False), _connector="OR"
                        ),
                        name="search_query_or_anchor",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="cluster",
            name="membership",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="similarityjob",
            name="full",
            field=models.BooleanField(default=False),
        ),
        # variants: templated-variant families, their notes and diversity order.
        migrations.AddField(
            model_name="duplicategroup",
            name="note",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
        migrations.AddField(
            model_name="duplicategroupmember",
            name="diversity_rank",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="duplicategroupmember",
            name="note",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.AlterField(
            model_name="duplicategroup",
            name="kind",
            field=models.CharField(
                choices=[
                    ("exact", "Exact (same content)"),
                    ("near", "Near-duplicate"),
                    ("variant", "Templated variants"),
                ],
                max_length=8,
            ),
        ),
        migrations.AlterField(
            model_name="duplicategroup",
            name="status",
            field=models.CharField(
                choices=[
                    ("open", "Open"),
                    ("resolved", "Resolved: kept one"),
                    ("not_duplicates", "Not duplicates"),
                    ("trimmed", "Trimmed: kept the most diverse"),
                ],
                default="open",
                max_length=16,
            ),
        ),
    ]
