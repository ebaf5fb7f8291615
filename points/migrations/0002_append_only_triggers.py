"""Entries and lot uses are append-only at the database level too: a trigger refuses UPDATE and DELETE.

The function lives in the brand's schema (migrations run with the brand first on the search_path), and new brands
get it with the template clone.
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION points_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'points ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER points_entry_append_only BEFORE UPDATE OR DELETE ON points_pointsentry
    FOR EACH ROW EXECUTE FUNCTION points_refuse_change();
CREATE TRIGGER points_lotuse_append_only BEFORE UPDATE OR DELETE ON points_pointslotuse
    FOR EACH ROW EXECUTE FUNCTION points_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS points_lotuse_append_only ON points_pointslotuse;
DROP TRIGGER IF EXISTS points_entry_append_only ON points_pointsentry;
DROP FUNCTION IF EXISTS points_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("points", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
