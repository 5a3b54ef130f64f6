"""The audit chain is keyed (ADR 0020): each row's ``hash`` becomes an HMAC-SHA256 under a key from the
environment, named by the row's new ``key_id``, and ``AuditChainHead`` seals where the chain ends.

PostgreSQL's ``kukkaro_audit_append`` no longer hashes (it cannot know the key, which must never reach the
database): Python seals the rows on the head it expects, and the function, under the chain's lock, writes them
and the new head only if the chain still ends there, or answers with the real head and lets the lock go again
(see ``kukkaro.core.audit``).

Rows already in the table stay as they are, plain SHA-256 with an empty ``key_id``: rewriting them would need the
append-only trigger switched off and would re-seal whatever may already have been changed in them. Instead the
head record written here seals the current end with ``unkeyed_until_seq`` = its ``seq``: those rows are verified
the old way, their last hash is sealed under the key, and every later row must be keyed. This needs the key when
migrating (AUDIT_HMAC_KEYS; development and tests have a fixed one).
"""

import importlib

from django.db import migrations, models

PG_FORWARD = """
DROP FUNCTION IF EXISTS kukkaro_audit_append(jsonb);
CREATE OR REPLACE FUNCTION kukkaro_audit_append(
    expected_seq bigint, expected_hash text, expected_mac text, events jsonb, new_head jsonb
)
RETURNS TABLE (
    out_id bigint, out_seq bigint,
    head_seq bigint, head_hash varchar, head_key_id varchar, head_mac varchar, head_unkeyed_until_seq bigint
)
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM pg_advisory_xact_lock(1263881025);  -- audit._LOCK_KEY ("KUKA")
        -- The newest head record, from the top of the primary key: dead versions below it are never visited.
        SELECT h.seq, h.hash, h.key_id, h.mac, h.unkeyed_until_seq
          INTO head_seq, head_hash, head_key_id, head_mac, head_unkeyed_until_seq
          FROM core_auditchainhead h ORDER BY h.seq DESC LIMIT 1;
        IF NOT FOUND THEN
            -- No head record: an empty chain, or a removed record (Python records that as evidence).
            SELECT e.seq, e.hash INTO head_seq, head_hash FROM core_auditevent e ORDER BY e.seq DESC LIMIT 1;
            IF NOT FOUND THEN
                head_seq := 0;
                head_hash := repeat('0', 64);
            END IF;
            head_unkeyed_until_seq := 0;
        END IF;
        IF head_seq IS DISTINCT FROM expected_seq OR head_hash IS DISTINCT FROM expected_hash
                OR head_mac IS DISTINCT FROM expected_mac THEN
            -- Leaving the block by an error rolls it back, which releases the lock it took (not one this
            -- transaction held before): the caller seals its rows again without holding up other appends.
            RAISE EXCEPTION USING ERRCODE = 'P0KK1';
        END IF;
    EXCEPTION WHEN SQLSTATE 'P0KK1' THEN
        RETURN NEXT;  -- out_id NULL: nothing written; here is the head (variables keep their values)
        RETURN;
    END;
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO core_auditevent (
            seq, occurred_at, kind, action, actor_id, actor_label, actor_role, organiser_id, data_subject_id,
            target_type, target_id, before, after, purpose, request_id, prev_hash, hash, key_id
        )
        SELECT
            (e->>'seq')::bigint,
            (e->>'occurred_at')::timestamptz,
            e->>'kind',
            e->>'action',
            (e->>'actor_id')::bigint,
            e->>'actor_label',
            e->>'actor_role',
            (e->>'organiser_id')::bigint,
            (e->>'data_subject_id')::uuid,
            e->>'target_type',
            e->>'target_id',
            NULLIF(e->'before', 'null'::jsonb),
            NULLIF(e->'after', 'null'::jsonb),
            e->>'purpose',
            e->>'request_id',
            e->>'prev_hash',
            e->>'hash',
            e->>'key_id'
        FROM jsonb_array_elements(events) AS e
        RETURNING id, seq
    )
    SELECT inserted.id, inserted.seq, NULL::bigint, NULL::varchar, NULL::varchar, NULL::varchar, NULL::bigint
      FROM inserted;
    -- Replace the head: delete the one just read (by its key, never a range) and insert the new one.
    DELETE FROM core_auditchainhead WHERE seq = expected_seq;
    INSERT INTO core_auditchainhead (seq, hash, key_id, mac, unkeyed_until_seq)
    VALUES (
        (new_head->>'seq')::bigint, new_head->>'hash', new_head->>'key_id', new_head->>'mac',
        (new_head->>'unkeyed_until_seq')::bigint
    );
END
$$;
"""
PG_BACKWARD = "DROP FUNCTION IF EXISTS kukkaro_audit_append(bigint, text, text, jsonb, jsonb);"


def function_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def function_backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
        previous = importlib.import_module("kukkaro.core.migrations.0007_audit_append_function")
        schema_editor.execute(previous.PG_FORWARD, params=None)


def sqlite_trigger_again(apps, schema_editor):
    """SQLite adds the column by rebuilding the table, which drops migration 0003's trigger: put it back."""
    if schema_editor.connection.vendor == "sqlite":
        append_only = importlib.import_module("kukkaro.core.migrations.0003_audit_append_only")
        schema_editor.execute(append_only.SQLITE_BACKWARD)
        schema_editor.execute(append_only.SQLITE_FORWARD)


def seal_unkeyed_rows(apps, schema_editor):
    """Seal the end of the chain as it is, so its unkeyed rows are accepted up to here and no further."""
    from kukkaro.core.audit import head_seal

    db = schema_editor.connection.alias
    AuditEvent = apps.get_model("core", "AuditEvent")
    AuditChainHead = apps.get_model("core", "AuditChainHead")
    last = AuditEvent.objects.using(db).order_by("-seq").values_list("seq", "hash").first()
    if last is None:
        return
    head = head_seal(seq=last[0], hash_=last[1], unkeyed_until_seq=last[0])
    AuditChainHead.objects.using(db).create(
        seq=head.seq, hash=head.hash, key_id=head.key_id, mac=head.mac, unkeyed_until_seq=head.unkeyed_until_seq
    )


class Migration(migrations.Migration):
    dependencies = [("core", "0007_audit_append_function")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(sqlite_trigger_again, migrations.RunPython.noop),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("hash", models.CharField(max_length=64)),
                ("key_id", models.CharField(max_length=16)),
                ("mac", models.CharField(max_length=64)),
                ("unkeyed_until_seq", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "audit chain head",
                "verbose_name_plural": "audit chain heads",
            },
        ),
        migrations.RunPython(function_forward, function_backward),
        migrations.RunPython(seal_unkeyed_rows, migrations.RunPython.noop),
    ]
