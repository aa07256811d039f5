from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("reviews", "0009_audit_freshness_prompt_leaks"),
        ("generation", "0009_similarity_settings_and_skipped_rows"),
    ]

    operations = [
    ]
