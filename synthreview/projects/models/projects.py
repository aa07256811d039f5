"""Projects and who belongs to them, with which role.

Every other model hangs off a project; a member's role decides what they may do
(see synthreview/projects/access.py).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from synthreview.projects.models.policy import QualityCheckSchedule, VariantRule, default_hidden_metadata_keys


class Role(models.TextChoices):
    EXPERT = "expert", "Expert"
    LEAD = "lead", "Lead"
    ADMIN = "admin", "Admin"


# Each role can do everything the roles below it can.
ROLE_RANK = {Role.EXPERT: 1, Role.LEAD: 2, Role.ADMIN: 3}


class Phase(models.IntegerChoices):
    """Mix-in phases: the minimum share of real data in a training export."""

    PROTOTYPE = 0, "0 · prototype (synthetic only allowed)"
    ONE = 1, "1 · at least 50% real"
    TWO = 2, "2 · at least 80% real"
    THREE = 3, "3 · at least 95% real"


class EmbeddingText(models.TextChoices):
    INPUT_OUTPUT = "input_output", "Input and output"
    OUTPUT = "output", "Output only"
    INPUT = "input", "Input only"


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Policy, set by admins. Read by similarity, dashboards and export gates.
    phase = models.PositiveSmallIntegerField(choices=Phase.choices, default=Phase.PROTOTYPE)
    min_real_share = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Replaces the phase's minimum real share when set.",
    )
    noise_floor_limit = models.FloatField(
        default=0.10,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Largest allowed upper bound of the noise floor's 95% interval for export.",
    )
    near_duplicate_threshold = models.FloatField(
        default=0.90, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    max_generation_depth = models.PositiveSmallIntegerField(
        default=1, help_text="Deepest generation a training export takes by default (0: real seeds only)."
    )
    # Generator name → the largest share of a training export its samples may take.
    generator_caps = models.JSONField(default=dict, blank=True)
    eval_leak_threshold = models.FloatField(
        default=0.90,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Cosine similarity to an eval sample from which a train-side sample counts as a leak.",
    )
    embedding_text = models.CharField(max_length=16, choices=EmbeddingText.choices, default=EmbeddingText.INPUT_OUTPUT)
    similarity_top_k = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    # A cluster is low-novelty when it is dense and mostly synthetic, or far from any real data.
    low_novelty_min_density = models.FloatField(
        default=0.85,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Mean similarity to the centroid from which a mostly synthetic cluster counts as repetitive.",
    )
    low_novelty_min_synthetic_share = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    low_novelty_far_distance = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="Distance (1 − cosine) from the nearest real sample beyond which a cluster is off the real data.",
    )
    # Two samples whose slot values (numbers, names, code literals) or final answers differ are
    # templated variants of one skeleton, never near-duplicates of each other.
    variant_rule = models.CharField(
        max_length=8,
        choices=VariantRule.choices,
        default=VariantRule.SLOTS,
        help_text="How near-duplicates are told apart from templated variants.",
    )
    variant_keep_max = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="How many members of a variant family the keep action suggests keeping, the most diverse first.",
    )
    refit_share = models.FloatField(
        default=0.20,
        validators=[MinValueValidator(0.01), MaxValueValidator(10.0)],
        help_text="Clusters are refitted once the samples added since the last fit pass this share of that fit.",
    )
    # Metadata keys a reviewer never sees while auditing: they hold the answer key.
    hidden_metadata_keys = models.JSONField(
        default=default_hidden_metadata_keys,
        blank=True,
        help_text="Metadata keys shown to leads only (answer keys). Reviewers never see them.",
    )
    # The model(s) this project trains, each with the models it is derived from
    # ([{"name": "acme-7b", "derived_from": ["llama-3-8b"]}]). Training exports
    # check their generators against these by default.
    target_models = models.JSONField(default=list, blank=True)
    quality_check_schedule = models.CharField(
        max_length=8,
        choices=QualityCheckSchedule.choices,
        default=QualityCheckSchedule.MONTHLY,
        help_text="How often a worker recomputes quality figures and drift, and raises alerts, with nobody asking.",
    )
    quality_check_last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table keeps the name it had when projects lived in `generation`.
        db_table = "generation_project"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_real_share__isnull=True) | Q(min_real_share__gte=0.0, min_real_share__lte=1.0),
                name="project_min_real_share_is_a_share",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "generation_membership"
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_one_per_user_project"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.project} · {self.role}"

    def allows(self, need: Role) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[need]
