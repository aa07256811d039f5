"""Link the samples of the entries written before the link table existed: the bulk
actions and group decisions (resolutions, variant trims) whose details list `sample_ids`,
the entries a sample's history showed.

It works through the log in batches of entries, in id order, each in its own transaction, so a log of
millions of entries never holds one long lock or one huge list in memory; a rerun (or
an entry the new code linked already) skips what is there."""

from django.apps.registry import Apps
from django.db import migrations, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# Entries per batch: a bulk action may list tens of thousands of ids.
ENTRY_BATCH = 200
LINK_BATCH = 5000
# The entries whose listed samples a sample's history has always shown.
LINKED_OBJECT_TYPES = ["bulk", "reviews.duplicategroup"]

LINK_ON_POSTGRESQL = """
INSERT INTO projects_auditlogsample (entry_id, sample_id)
SELECT log.id, listed.sample_id::bigint
FROM reviews_auditlog AS log
CROSS JOIN LATERAL jsonb_array_elements_text(log.details -> 'sample_ids') AS listed(sample_id)
WHERE log.id = ANY(%s) AND jsonb_typeof(log.details -> 'sample_ids') = 'array'
ON CONFLICT DO NOTHING
"""


def links_backfill(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    AuditLog = apps.get_model("projects", "AuditLog")
    AuditLogSample = apps.get_model("projects", "AuditLogSample")
    alias = schema_editor.connection.alias
    listing = (
        AuditLog.objects.using(alias)
        .filter(object_type__in=LINKED_OBJECT_TYPES, details__has_key="sample_ids")
        .order_by("id")
    )
    after = 0
    while True:
        ids = list(listing.filter(id__gt=after).values_list("id", flat=True)[:ENTRY_BATCH])
        if not ids:
            return
        with transaction.atomic(using=alias):
            if schema_editor.connection.vendor == "postgresql":
                with schema_editor.connection.cursor() as cursor:
                    cursor.execute(LINK_ON_POSTGRESQL, [ids])
            else:
                for entry_id, details in listing.filter(id__in=ids).values_list("id", "details"):
                    listed = details.get("sample_ids") if isinstance(details, dict) else None
                    if not isinstance(listed, list):
                        continue
                    AuditLogSample.objects.using(alias).bulk_create(
                        (AuditLogSample(entry_id=entry_id, sample_id=int(sample_id)) for sample_id in listed),
                        batch_size=LINK_BATCH,
                        ignore_conflicts=True,
                    )
        after = ids[-1]


class Migration(migrations.Migration):
    # Each batch commits on its own (see the module's docstring).
    atomic = False

    dependencies = [
        ("projects", "0004_audit_log_samples"),
    ]

    operations = [migrations.RunPython(links_backfill, migrations.RunPython.noop, elidable=True)]
