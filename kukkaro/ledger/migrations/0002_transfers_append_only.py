"""Transfers never change: PostgreSQL refuses UPDATE and DELETE on the table (kukkaro_refuse_change from
core.0003). SQLite refuses UPDATE; DELETE stays possible there for the test runner's flush, and
``ledger_verify`` catches a removed transfer through the counters."""

from django.db import migrations

PG_FORWARD = """
CREATE TRIGGER ledger_transfer_append_only
    BEFORE UPDATE OR DELETE ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION kukkaro_refuse_change();
"""
PG_BACKWARD = "DROP TRIGGER IF EXISTS ledger_transfer_append_only ON ledger_transfer;"
SQLITE_FORWARD = """
CREATE TRIGGER ledger_transfer_no_update BEFORE UPDATE ON ledger_transfer
BEGIN SELECT RAISE(ABORT, 'table ledger_transfer is append-only: UPDATE refused'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS ledger_transfer_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial"), ("core", "0003_audit_append_only")]

    operations = [migrations.RunPython(forward, backward)]
