"""PostgreSQL: append audit events in one round trip.

``kukkaro_audit_append(events jsonb)`` takes the chain's advisory lock, reads the head and inserts the events with
their sequence numbers and hashes. The caller sends each event's canonical form without its first element (``seq``)
and its last (``prev_hash``), which only the database knows under the lock; the function puts them around it
exactly as ``kukkaro.core.audit._canonical`` does, so ``audit_verify`` recomputes the same hashes in Python.
Before, an append was a savepoint, the lock, the head, the insert and the release: five round trips, and the
chain's lock was held across all of them until commit. SQLite keeps the Python append (its write lock is the
whole transaction anyway).
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION kukkaro_audit_append(events jsonb)
RETURNS TABLE (out_id bigint, out_seq bigint, out_prev_hash varchar, out_hash varchar)
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash varchar;
    event jsonb;
    next_hash varchar;
BEGIN
    PERFORM pg_advisory_xact_lock(1263881025);  -- audit._LOCK_KEY ("KUKA")
    SELECT seq, hash INTO head_seq, head_hash FROM core_auditevent ORDER BY seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := repeat('0', 64);
    END IF;
    FOR event IN SELECT value FROM jsonb_array_elements(events) LOOP
        head_seq := head_seq + 1;
        next_hash := encode(
            sha256(convert_to('[' || head_seq::text || ',' || (event->>'middle') || ',"' || head_hash || '"]', 'UTF8')),
            'hex'
        );
        INSERT INTO core_auditevent (
            seq, occurred_at, kind, action, actor_id, actor_label, actor_role, organiser_id, data_subject_id,
            target_type, target_id, before, after, purpose, request_id, prev_hash, hash
        ) VALUES (
            head_seq,
            (event->>'occurred_at')::timestamptz,
            event->>'kind',
            event->>'action',
            (event->>'actor_id')::bigint,
            event->>'actor_label',
            event->>'actor_role',
            (event->>'organiser_id')::bigint,
            (event->>'data_subject_id')::uuid,
            event->>'target_type',
            event->>'target_id',
            NULLIF(event->'before', 'null'::jsonb),
            NULLIF(event->'after', 'null'::jsonb),
            event->>'purpose',
            event->>'request_id',
            head_hash,
            next_hash
        ) RETURNING id INTO out_id;
        out_seq := head_seq;
        out_prev_hash := head_hash;
        out_hash := next_hash;
        RETURN NEXT;
        head_hash := next_hash;
    END LOOP;
END
$$;
"""
PG_BACKWARD = "DROP FUNCTION IF EXISTS kukkaro_audit_append(jsonb);"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0006_registry_addresses")]

    operations = [migrations.RunPython(forward, backward)]
