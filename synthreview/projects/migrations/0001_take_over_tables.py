"""Projects, memberships and the audit log move to the ground floor.

Their tables were made by `generation` (generation_project, generation_membership)
and `reviews` (reviews_auditlog) and keep those names, so this app only takes over
the models' state; no row moves and the audit log's append-only trigger stays on
its table. Content types are relabelled so that permissions and admin history
follow the models."""

import django.core.validators
import django.db.models.deletion
from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

import synthreview.projects.models.policy

MOVED = [("generation", "project"), ("generation", "membership"), ("reviews", "auditlog")]


def relabel_content_types(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for app_label, model in MOVED:
        if not content_type.objects.filter(app_label="projects", model=model).exists():
            content_type.objects.filter(app_label=app_label, model=model).update(app_label="projects")


def unlabel_content_types(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for app_label, model in MOVED:
        if not content_type.objects.filter(app_label=app_label, model=model).exists():
            content_type.objects.filter(app_label="projects", model=model).update(app_label=app_label)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("reviews", "0010_variants_search_refits"),
        ("generation", "0009_similarity_settings_and_skipped_rows"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # State only: the tables stay where they are.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Project",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("slug", models.SlugField(max_length=64, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("description", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "phase",
                            models.PositiveSmallIntegerField(
                                choices=[
                                    (0, "0 · prototype (synthetic only allowed)"),
                                    (1, "1 · at least 50% real"),
                                    (2, "2 · at least 80% real"),
                                    (3, "3 · at least 95% real"),
                                ],
                                default=0,
                            ),
                        ),
                        (
                            "min_real_share",
                            models.FloatField(
                                blank=True,
                                help_text="Replaces the phase's minimum real share when set.",
                                null=True,
                                validators=[
                                    django.core.validators.MinValueValidator(0.0),
                                    django.core.validators.MaxValueValidator(1.0),
                                ],
                            ),
                        ),
                        (
                            "noise_floor_limit",
                            models.FloatField(
                                default=0.1,
                                help_text="Largest allowed upper bound of the noise floor's 95% interval for export.",
                                validators=[
                                    django.core.validators.MinValueValidator(0.0),
                                    django.core.validators.MaxValueValidator(1.0),
                                ],
                            ),
                        ),
                        (
                            "near_duplicate_threshold",
                            models.FloatField(
                                default=0.9,
                                validators=[
                                    django.core.validators.MinValueValidator(0.0),
                                    django.core.validators.MaxValueValidator(1.0),
                                ],
                            ),
                        ),
                        (
                            "max_generation_depth",
                            models.PositiveSmallIntegerField(
                                default=1,
                                help_text="Deepest generation a training export takes by default (0: real seeds only).",
                            ),
                        ),
                        ("generator_caps", models.JSONField(blank=True, default=dict)),
                        (
                            "eval_leak_threshold",
                            models.FloatField(
                                default=0.9,
                                help_text="Cosine similarity to an eval sample from which a train-side sample counts as a leak.",
                                validators=[
                                    django.core.validators.MinValueValidator(0.0),
                                    django.core.validators.MaxValueValidator(1.0),
                                ],
                            ),
                        ),
                        (
                            "embedding_text",
                            models.CharField(
                                choices=[
                                    ("input_output", "Input and output"),
                                    ("output", "Output only"),
                                    ("input", "Input only"),
                                ],
                                default="input_output",
                                max_length=16,
                            ),
                        ),
                        (
                            "similarity_top_k",
                            models.PositiveSmallIntegerField(
                                default=10,
                                validators=[
                                    django.core.validators.MinValueValidator(1),
                                    django.core.validators.MaxValueValidator(100),
                                ],
                            ),
                        ),
                        (
                            "low_novelty_min_density",
                            models.FloatField(
                                default=0.85,
                                help_text="Mean similarity to the centroid from which a mostly synthetic cluster counts as repetitive.",
                                validators=[
                                    django.core.validators.MinValueValidator(0.0),
                                    django.core.validators.MaxValueValidator(1.0),
                                ],
                            ),
                        ),
                        (
                            "low_novelty_min_synthetic_share",
                            models.FloatField(
                                default=0.9,
                                validators=[
                                    django.core.validators.MinValueValidator(0.0),
                                    django.core.validators.MaxValueValidator(1.0),
                                ],
                            ),
                        ),
                        (
                            "low_novelty_far_distance",
                            models.FloatField(
                                default=0.6,
                                help_text="Distance (1 − cosine) from the nearest real sample beyond which a cluster is off the real data.",
                                validators=[
                                    django.core.validators.MinValueValidator(0.0),
                                    django.core.validators.MaxValueValidator(2.0),
                                ],
                            ),
                        ),
                        (
                            "variant_rule",
                            models.CharField(
                                choices=[
                                    (
                                        "slots",
                                        "Content decides: differing numbers, names, literals or answers make variants",
                                    ),
                                    ("off", "Embedding only: every pair over the threshold is a near-duplicate"),
                                ],
                                default="slots",
                                help_text="How near-duplicates are told apart from templated variants.",
                                max_length=8,
                            ),
                        ),
                        (
                            "variant_keep_max",
                            models.PositiveSmallIntegerField(
                                default=3,
                                help_text="How many members of a variant family the keep action suggests keeping, the most diverse first.",
                                validators=[
                                    django.core.validators.MinValueValidator(1),
                                    django.core.validators.MaxValueValidator(1000),
                                ],
                            ),
                        ),
                        (
                            "refit_share",
                            models.FloatField(
                                default=0.2,
                                help_text="Clusters are refitted once the samples added since the last fit pass this share of that fit.",
                                validators=[
                                    django.core.validators.MinValueValidator(0.01),
                                    django.core.validators.MaxValueValidator(10.0),
                                ],
                            ),
                        ),
                        (
                            "hidden_metadata_keys",
                            models.JSONField(
                                blank=True,
                                default=synthreview.projects.models.policy.default_hidden_metadata_keys,
                                help_text="Metadata keys shown to leads only (answer keys). Reviewers never see them.",
                            ),
                        ),
                        ("target_models", models.JSONField(blank=True, default=list)),
                        (
                            "quality_check_schedule",
                            models.CharField(
                                choices=[
                                    ("off", "Never (only when asked)"),
                                    ("minute", "Every minute (for trying it out)"),
                                    ("daily", "Daily"),
                                    ("weekly", "Weekly"),
                                    ("monthly", "Monthly"),
                                ],
                                default="monthly",
                                help_text="How often a worker recomputes quality figures and drift, and raises alerts, with nobody asking.",
                                max_length=8,
                            ),
                        ),
                        ("quality_check_last_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "generation_project",
                        "ordering": ["name"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("min_real_share__isnull", True),
                                    models.Q(("min_real_share__gte", 0.0), ("min_real_share__lte", 1.0)),
                                    _connector="OR",
                                ),
                                name="project_min_real_share_is_a_share",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Membership",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "role",
                            models.CharField(
                                choices=[("expert", "Expert"), ("lead", "Lead"), ("admin", "Admin")], max_length=8
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="memberships",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="memberships",
                                to="projects.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "generation_membership",
                        "constraints": [
                            models.UniqueConstraint(fields=("user", "project"), name="membership_one_per_user_project"),
                            models.CheckConstraint(
                                condition=models.Q(("role__in", ["expert", "lead", "admin"])),
                                name="membership_role_valid",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="AuditLog",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("action", models.CharField(max_length=64)),
                        ("object_type", models.CharField(max_length=64)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        ("details", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="audit_log",
                                to="projects.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "reviews_auditlog",
                        "ordering": ["-id"],
                        "indexes": [
                            models.Index(fields=["project", "-id"], name="auditlog_project_recent"),
                            models.Index(fields=["object_type", "object_id", "-id"], name="auditlog_object_recent"),
                            models.Index(fields=["project", "action", "-id"], name="auditlog_project_action"),
                            models.Index(fields=["project", "actor", "-id"], name="auditlog_project_actor"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, unlabel_content_types),
    ]
