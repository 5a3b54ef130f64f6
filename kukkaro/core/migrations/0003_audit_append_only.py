"""The audit table refuses UPDATE and DELETE at the database level.

PostgreSQL: a row trigger raises on UPDATE or DELETE (TRUNCATE needs table ownership, which the application
role does not have in production). SQLite: a trigger refuses UPDATE; DELETE stays possible there because the
test runner empties tables with DELETE, and the hash chain catches a deleted row anyway.
The function ``kukkaro_refuse_change`` is meant for every append-only table (the ledger will use it too).
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION kukkaro_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER core_auditevent_append_only
    BEFORE UPDATE OR DELETE ON core_auditevent
    FOR EACH ROW EXECUTE FUNCTION kukkaro_refuse_change();
"""
PG_BACKWARD = "DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;"

SQLITE_FORWARD = """
CREATE TRIGGER core_auditevent_no_update BEFORE UPDATE ON core_auditevent
BEGIN SELECT RAISE(ABORT, 'table core_auditevent is append-only: UPDATE refused'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS core_auditevent_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_initial")]

    operations = [migrations.RunPython(forward, backward)]
