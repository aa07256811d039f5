"""On PostgreSQL the database itself keeps the governance records honest:

- an eval-set member must be a real sample (checked against the sample row, not
  the copied origin), so no code path can put synthetic data in an eval set;
- eval-set versions and their members never change or disappear: a change is a
  new version;
- a finished export (completed, refused or failed) never changes, and no export
  row is deleted.

TRUNCATE (test flushes, an operator wiping a database on purpose) is not a row
change and stays possible, as for the audit log.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

CREATE = """
CREATE OR REPLACE FUNCTION reviews_evalsetmember_is_real() RETURNS trigger AS $$
DECLARE
    sample_origin text;
BEGIN
    SELECT origin INTO sample_origin FROM generation_sample WHERE id = NEW.sample_id;
    IF sample_origin IS DISTINCT FROM 'real' THEN
        RAISE EXCEPTION 'the eval set holds real samples only: sample %% is %%', NEW.sample_id, sample_origin
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS reviews_evalsetmember_is_real ON reviews_evalsetmember;
CREATE TRIGGER reviews_evalsetmember_is_real BEFORE INSERT ON reviews_evalsetmember
    FOR EACH ROW EXECUTE FUNCTION reviews_evalsetmember_is_real();

CREATE OR REPLACE FUNCTION reviews_frozen_row() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '%% is frozen: %% refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS reviews_evalsetmember_frozen ON reviews_evalsetmember;
CREATE TRIGGER reviews_evalsetmember_frozen BEFORE UPDATE OR DELETE ON reviews_evalsetmember
    FOR EACH ROW EXECUTE FUNCTION reviews_frozen_row();
DROP TRIGGER IF EXISTS reviews_evalsetversion_frozen ON reviews_evalsetversion;
CREATE TRIGGER reviews_evalsetversion_frozen BEFORE UPDATE OR DELETE ON reviews_evalsetversion
    FOR EACH ROW EXECUTE FUNCTION reviews_frozen_row();

CREATE OR REPLACE FUNCTION reviews_export_final() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'an export is a permanent record: DELETE refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status IN ('completed', 'refused', 'failed') THEN
        RAISE EXCEPTION 'export %% is finished (%%) and cannot change', OLD.id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS reviews_export_final ON reviews_export;
CREATE TRIGGER reviews_export_final BEFORE UPDATE OR DELETE ON reviews_export
    FOR EACH ROW EXECUTE FUNCTION reviews_export_final();
"""

DROP = """
DROP TRIGGER IF EXISTS reviews_export_final ON reviews_export;
DROP FUNCTION IF EXISTS reviews_export_final();
DROP TRIGGER IF EXISTS reviews_evalsetversion_frozen ON reviews_evalsetversion;
DROP TRIGGER IF EXISTS reviews_evalsetmember_frozen ON reviews_evalsetmember;
DROP FUNCTION IF EXISTS reviews_frozen_row();
DROP TRIGGER IF EXISTS reviews_evalsetmember_is_real ON reviews_evalsetmember;
DROP FUNCTION IF EXISTS reviews_evalsetmember_is_real();
"""


def create(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0006_governance")]

    operations = [migrations.RunPython(create, drop)]
