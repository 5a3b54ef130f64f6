"""Two effective decisions of one client never overlap on one budget line: an exclusion constraint on
PostgreSQL (btree_gist gives the equality operators). SQLite has no such constraint; the service makes the same
check on both databases (``decisions._assert_no_overlap``)."""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE cases_decisionline ADD CONSTRAINT cases_decisionline_no_overlap
    EXCLUDE USING gist (client_id WITH =, category_code WITH =, daterange(valid_from, valid_until, '[]') WITH &&)
    WHERE (effective);
"""
BACKWARD = "ALTER TABLE cases_decisionline DROP CONSTRAINT IF EXISTS cases_decisionline_no_overlap;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_decisions")]

    operations = [migrations.RunPython(forward, backward)]
