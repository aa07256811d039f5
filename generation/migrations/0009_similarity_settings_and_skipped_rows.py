import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0008_project_trust_policy"),
    ]

    operations = [
        migrations.AddField(
            model_name="importbatch",
            name="duplicate_lines",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="importbatch",
            name="duplicates_by_source",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="project",
            name="refit_share",
            field=models.FloatField(
                default=0.2,
                help_text="Clusters are refitted once the samples added since the last fit pass this share of that fit.",
                validators=[
                    django.core.validators.MinValueValidator(0.01),
                    django.core.validators.MaxValueValidator(10.0),
                ],
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="variant_keep_max",
            field=models.PositiveSmallIntegerField(
                default=3,
                help_text="How many members of a variant family the keep action suggests keeping, the most diverse first.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="variant_rule",
            field=models.CharField(
                choices=[
                    ("slots", "Content decides: differing numbers, names, literals or answers make variants"),
                    ("off", "Embedding only: every pair over the threshold is a near-duplicate"),
                ],
                default="slots",
                help_text="How near-duplicates are told apart from templated variants.",
                max_length=8,
            ),
        ),
    ]
