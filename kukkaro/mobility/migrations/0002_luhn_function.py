"""A SQL function for the set-based trip import on PostgreSQL: is a card number's Luhn check digit right?
(The Python path uses python-stdnum's luhn; a test compares the two.)"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION kukkaro_luhn_valid(number text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT number ~ '^\d+$' AND sum(
        CASE WHEN (length(number) - position) % 2 = 1
             THEN (CASE WHEN digit * 2 > 9 THEN digit * 2 - 9 ELSE digit * 2 END)
             ELSE digit END
    ) % 10 = 0
    FROM (
        SELECT position, substr(number, position, 1)::int AS digit
        FROM generate_series(1, length(number)) AS position
        WHERE number ~ '^\d+$'
    ) AS digits
$$;
"""
BACKWARD = "DROP FUNCTION IF EXISTS kukkaro_luhn_valid(text);"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("mobility", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
